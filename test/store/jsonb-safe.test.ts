/**
 * A validly signed body with `\u0000` or a lone surrogate in a user-controlled string (Xsolla's
 * `user.name`, `custom_parameters`) is recorded: the raw body byte for byte, the JSON copies made safe
 * for PostgreSQL's jsonb (which refuses both). It used to fail the insert on every retry, so the payment
 * and its later refund were never recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jsonbText } from '../../src/store/json-safe.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { xsollaHarness } from '../helpers/xsolla-harness.js';

describe('jsonbText', () => {
  it('leaves clean values as JSON.stringify writes them, and replaces NUL and lone surrogates (in keys too) with U+FFFD', () => {
    const clean = { a: 'x', b: [1, 'ü', '😀'], c: null, d: 'back\\u0000slash' };
    expect(jsonbText(clean)).toBe(JSON.stringify(clean));
    expect(JSON.parse(jsonbText({ 'k\u0000': 'a\u0000b', s: '\ud800x', t: 'y\udc00', ok: '😀' }))).toEqual({
      'k\uFFFD': 'a\uFFFDb',
      s: '\uFFFDx',
      t: 'y\uFFFD',
      ok: '😀',
    });
    expect(jsonbText(undefined)).toBe('null');
  });
});

for (const [name, make] of EVERY_STORE) {
  describe(`NUL and lone surrogates in a signed Xsolla body (${name})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });

    it('the payment and its later refund are recorded; the raw body is kept exactly', async () => {
      const db = await make();
      open.push(db);
      const h = xsollaHarness({ store: db.store });
      const c = h.contract();
      const id = 700_000 + Math.floor(Math.random() * 1e6);
      const payment = c.payment(id) as Record<string, unknown> & { user: Record<string, unknown> };
      payment.user = { ...payment.user, name: 'John\u0000Smith' };
      payment.custom_parameters = { lone: 'a\ud800b', ['key\u0000']: 'v' };
      const r = await h.post(payment);
      expect(r.status).toBe(204);
      const order = await h.store.transaction((tx) => tx.getOrderByTradeNo('xsolla', String(id)));
      expect(order?.status).toBe('paid');
      const events = await h.store.listEvents();
      const received = events.find((e) => e.type === 'provider.notification.received' && JSON.stringify(e).includes(String(id)));
      expect(received).toBeDefined();
      const refund = await h.post(c.refund(id));
      expect(refund.status).toBe(204);
      expect((await h.store.transaction((tx) => tx.getOrderByTradeNo('xsolla', String(id))))?.status).toBe('refunded');
      // The exact bytes received stay in the inbox.
      expect(await h.store.countNotifications('xsolla')).toBe(2);
      const sent = JSON.stringify(payment);
      const all = await Promise.all(
        (await h.store.listEvents({ type: 'provider.notification.received' })).map((e) => h.store.getNotification('xsolla', e.source.notification_id)),
      );
      expect(all.some((n) => n?.raw_body === sent)).toBe(true);
    });
  });
}
