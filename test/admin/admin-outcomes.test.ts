/**
 * What the notification list's status filter and the overview's rejections read: the handler records every
 * duplicate, stale notification and 4xx rejection (sw_notification_outcomes), on every store.
 */
import { describe, expect, it } from 'vitest';
import { adminReadModel } from '../../src/admin/read-model.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { EVERY_STORE } from '../helpers/databases.js';

const DAY = 86_400_000;

describe.each(EVERY_STORE)('request outcomes on %s', (_name, make) => {
  it('a duplicate, a stale notification and rejections are recorded and listed by status; rejections are counted by code', async () => {
    const { store, close } = await make();
    try {
      const clock = { now: Date.now() };
      const h = await appleHarness({ store, config: { retention: { notificationDays: 60, rawBodyDays: 7 }, delivery: { now: () => clock.now } } });
      const rm = adminReadModel(store);
      const c = h.contract();
      const signedPayload = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }, { uuid: 'dup-uuid' });
      expect((await h.post(h.hooks.routes.apple, { signedPayload })).status).toBe(200);
      expect((await h.post(h.hooks.routes.apple, { signedPayload })).body.data).toMatchObject({ duplicate: true });
      const stale = await h.sign(
        'DID_RENEW',
        undefined,
        { transaction: c.transaction(), renewalInfo: c.renewal() },
        { uuid: 'old-uuid', signedDate: Date.now() },
      );
      clock.now += 61 * DAY;
      expect((await h.post(h.hooks.routes.apple, { signedPayload: stale })).body.data).toMatchObject({ stale: true });
      clock.now -= 61 * DAY;
      const bad = await h.post(h.hooks.routes.apple, { signedPayload: 'not.a.jws<script>' });
      expect(bad.status).toBeGreaterThanOrEqual(400);
      expect(bad.status).toBeLessThan(500);
      expect((await h.post(h.hooks.routes.apple, '{')).status).toBe(400);

      const list = async (outcome: 'duplicate' | 'stale' | 'rejected') => (await rm.listOutcomes({ outcome })).items;
      expect((await list('duplicate')).map((x) => [x.provider, x.code, x.status, x.notification_id, x.notification_type])).toEqual([
        ['apple', 'DUPLICATE', 200, 'dup-uuid', 'SUBSCRIBED'],
      ]);
      expect((await list('stale')).map((x) => [x.code, x.notification_id])).toEqual([['STALE', 'old-uuid']]);
      const rejected = await list('rejected');
      expect(rejected).toHaveLength(2);
      expect(rejected.every((x) => x.provider === 'apple' && x.status === 400 && x.notification_id === null && typeof x.reason === 'string')).toBe(true);
      // The processed notification is the inbox's, not an outcome.
      expect((await rm.listNotifications()).items.map((n) => n.notification_id)).toEqual(['dup-uuid']);
      const overview = await rm.overview(new Date(clock.now + 1000).toISOString());
      expect(overview.rejections.reduce((n, r) => n + r.count, 0)).toBe(2);
      expect(new Set(overview.rejections.map((r) => r.code))).toEqual(new Set(rejected.map((x) => x.code)));
    } finally {
      await close();
    }
  });
});
