/**
 * The time-driven lifecycle (`hooks.lifecycle.sweep`, run by the delivery worker) on every store, with an
 * injected clock: `trial_will_end` once per trial, `past_due` (`reason: 'no_renewal_received'`) for a
 * renewal that never arrived, Apple's own answer first when the App Store Server API is configured, and
 * no double event when two sweeps race for one subscription (one of them held at the worst point).
 * Subscriptions are made through real HTTP (signed notifications to the Express adapter); events reach a
 * real webhook receiver.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore, type DomainEvent, type EntitlementChange, type Store, type StoreTransaction, type Subscription } from '../../src/index.js';
import { appleHarness, PRODUCT, sharedSigner, types } from '../helpers/apple-harness.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { gate } from '../helpers/gate.js';
import { xsollaHarness } from '../helpers/xsolla-harness.js';
import { startFakeAppleApi, type FakeAppleApi } from '../helpers/fake-apple-api.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const DAY = 86_400_000;
const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] } };
const TRIAL = { offerType: 1, offerDiscountType: 'FREE_TRIAL', price: 0 };
const changes = (events: DomainEvent[]) =>
  events
    .filter((e) => e.type.startsWith('entitlement.'))
    .map(
      (e) =>
        `${e.type === 'entitlement.granted' ? '+' : '-'}${(e.data.object as EntitlementChange).entitlement}:${(e.data.object as EntitlementChange).reason}`,
    );
const uid = () => `u_${Math.random().toString(36).slice(2)}`;

/**
 * A store whose next unit of work stops until `release()`: `before` its transaction starts (the sweep has
 * claimed the row, nothing is locked yet), or `inside` it right after reading (and, where the database
 * does, locking) the subscription. Either is a worst point for a second sweep to arrive.
 */
function holdingStore(store: Store, where: 'before' | 'inside') {
  const g = gate();
  const held: Store = {
    ...store,
    async transaction(fn) {
      const holdHere = g.take();
      if (holdHere && where === 'before') await g.wait();
      return store.transaction((tx) => {
        if (!holdHere || where === 'before') return fn(tx);
        const wrapped: StoreTransaction = {
          ...tx,
          async getSubscription(provider, contractId) {
            const sub = await tx.getSubscription(provider, contractId);
            await g.wait();
            return sub;
          },
        };
        return fn(wrapped);
      });
    },
  };
  return { store: held, arm: g.arm, atGate: g.atGate, release: g.release };
}

let apple: FakeAppleApi;
beforeAll(async () => {
  apple = await startFakeAppleApi({ bundleId: 'com.example.app' });
});
afterAll(async () => {
  await apple.close();
});

for (const [storeName, makeStore] of EVERY_STORE) {
  describe(`lifecycle sweep (${storeName})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((o) => o.close()));
    });

    async function app(options: { lifecycle?: Record<string, unknown>; appleApi?: boolean; store?: (s: Store) => Store } = {}) {
      const made = await makeStore();
      open.push(made);
      const clock = { now: Date.now() };
      const h = await appleHarness({
        store: options.store ? options.store(made.store) : made.store,
        config: { products: PRODUCTS, delivery: { now: () => clock.now }, lifecycle: { intervalMs: null, ...options.lifecycle } },
        ...(options.appleApi
          ? {
              appleApi: {
                keyId: apple.keyId,
                issuerId: apple.issuerId,
                privateKey: apple.privateKeyPem,
                baseUrl: apple.baseUrl,
                environment: 'Production' as const,
              },
            }
          : {}),
      });
      return { h, clock, raw: made.store };
    }

    async function subscribe(h: Awaited<ReturnType<typeof app>>['h'], userId: string, over: Record<string, unknown> = {}) {
      const order = await h.hooks.orders.create({ userId, productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction(over);
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      expect(r.status).toBe(200);
      return { c, tx, sub: r.events.find((e) => e.type === 'customer.subscription.created')!.data.object as Subscription };
    }

    it('trial_will_end: 3 days before the trial ends, once per trial, delivered to a webhook endpoint over HTTP; the entitlement stays', async () => {
      const { h, clock } = await app();
      const receiver = await webhookReceiver();
      open.push({ close: () => receiver.stop() });
      await h.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['customer.subscription.trial_will_end'] });
      const user = uid();
      const { tx, sub } = await subscribe(h, user, TRIAL);
      clock.now = tx.expiresDate - 3 * DAY - 60_000;
      expect(await h.hooks.lifecycle.sweep()).toMatchObject({ trialWillEnd: 0, pastDue: 0 });
      const before = h.seen.length;
      clock.now = tx.expiresDate - 3 * DAY + 60_000;
      expect(await h.hooks.lifecycle.sweep()).toMatchObject({ claimed: 1, trialWillEnd: 1, pastDue: 0 });
      const emitted = h.seen.slice(before);
      expect(types(emitted)).toEqual(['customer.subscription.trial_will_end']);
      expect(emitted[0]!.data.object).toMatchObject({
        id: sub.id,
        status: 'trialing',
        user_id: user,
        current_period_end: new Date(tx.expiresDate).toISOString(),
      });
      expect(emitted[0]!.source).toMatchObject({ notification_type: 'lifecycle.trial_will_end' });
      expect((await h.store.listEvents({ type: 'customer.subscription.trial_will_end' })).map((e) => e.id)).toEqual([emitted[0]!.id]);
      // Once per trial: again now, later the same day, and a day later.
      for (const at of [clock.now, clock.now + 3_600_000, clock.now + DAY]) {
        expect(await h.hooks.lifecycle.sweep({ now: at })).toMatchObject({ trialWillEnd: 0 });
      }
      expect(await h.store.listEvents({ type: 'customer.subscription.trial_will_end' })).toHaveLength(1);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
      await h.hooks.delivery.runOnce();
      expect(receiver.received.map((r) => JSON.parse(r.body).type)).toEqual(['customer.subscription.trial_will_end']);
      expect(receiver.received[0]!.id).toBe(emitted[0]!.id);
    });

    it('past_due when no renewal arrived within the grace (default 1 day): reason no_renewal_received, entitlement revoked; a late renewal restores it', async () => {
      const { h, clock } = await app();
      const user = uid();
      const { c, tx, sub } = await subscribe(h, user);
      clock.now = tx.expiresDate + DAY - 60_000;
      expect(await h.hooks.lifecycle.sweep()).toMatchObject({ claimed: 0, pastDue: 0 });
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
      const before = h.seen.length;
      clock.now = tx.expiresDate + DAY + 60_000;
      expect(await h.hooks.lifecycle.sweep()).toMatchObject({ claimed: 1, pastDue: 1, appleChecked: 0 });
      const emitted = h.seen.slice(before);
      expect(types(emitted)).toEqual(['customer.subscription.past_due', 'entitlement.revoked']);
      expect(emitted[0]!.data).toMatchObject({
        object: { id: sub.id, status: 'past_due' },
        previous_attributes: { status: 'active' },
        reason: 'no_renewal_received',
      });
      expect(changes(emitted)).toEqual(['-pro:billing_retry']);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))!.status).toBe('past_due');
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      expect(await h.hooks.lifecycle.sweep({ now: clock.now + DAY })).toMatchObject({ claimed: 0, pastDue: 0 });
      expect(await h.store.listEvents({ type: 'customer.subscription.past_due' })).toHaveLength(1);
      // Apple's renewal, signed at the period end but delivered late, still applies (last_event_at was not moved).
      const renewed = await h.notify('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() }, { signedDate: tx.expiresDate });
      expect(types(renewed.events)).toContain('customer.subscription.renewed');
      expect(changes(renewed.events)).toEqual(['+pro:active']);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
    });

    it('configurable: lifecycle.trialWillEndDays and renewalGraceMs; a trial never renewed past its end is past_due too', async () => {
      const { h, clock } = await app({ lifecycle: { trialWillEndDays: 7, renewalGraceMs: 2 * 3_600_000 } });
      const { tx } = await subscribe(h, uid(), TRIAL);
      expect(await h.hooks.lifecycle.sweep({ now: tx.expiresDate - 7 * DAY - 1000 })).toMatchObject({ trialWillEnd: 0 });
      expect(await h.hooks.lifecycle.sweep({ now: tx.expiresDate - 7 * DAY + 1000 })).toMatchObject({ trialWillEnd: 1 });
      expect(await h.hooks.lifecycle.sweep({ now: tx.expiresDate + 2 * 3_600_000 - 1000 })).toMatchObject({ pastDue: 0 });
      clock.now = tx.expiresDate + 2 * 3_600_000 + 1000;
      const r = await h.hooks.lifecycle.sweep();
      expect(r).toMatchObject({ pastDue: 1 });
      const [pastDue] = await h.store.listEvents({ type: 'customer.subscription.past_due' });
      expect(pastDue!.data).toMatchObject({ previous_attributes: { status: 'trialing' }, reason: 'no_renewal_received' });
    });

    it('Xsolla: a subscription whose next charge never came becomes past_due (no API to ask); a trial gets trial_will_end', async () => {
      const made = await makeStore();
      open.push(made);
      const clock = { now: Date.now() };
      const x = xsollaHarness({
        store: made.store,
        config: { products: { plan_pro: { entitlements: ['pro'] } }, delivery: { now: () => clock.now }, lifecycle: { intervalMs: null } },
      });
      const paid = x.contract({ planId: 'plan_pro' });
      expect((await x.post(paid.create())).status).toBe(204);
      const trial = x.contract({ planId: 'plan_pro' });
      expect((await x.post(trial.create({ trial: { value: 7, type: 'day' } }))).status).toBe(204);
      expect((await x.hooks.subscriptions.get(trial.subscriptionId, 'xsolla'))!.status).toBe('trialing');
      clock.now = paid.nextCharge() - 2 * DAY;
      expect(await x.hooks.lifecycle.sweep()).toMatchObject({ trialWillEnd: 1, pastDue: 0 });
      clock.now = paid.nextCharge() + 2 * DAY;
      expect(await x.hooks.lifecycle.sweep()).toMatchObject({ pastDue: 2, appleChecked: 0 });
      const [event] = await x.store.listEvents({ type: 'customer.subscription.past_due' });
      expect(event!.provider).toBe('xsolla');
      expect(event!.data).toMatchObject({ reason: 'no_renewal_received', object: { provider: 'xsolla' } });
      expect(await x.hooks.entitlements.has(paid.userId, 'pro')).toBe(false);
      expect(await x.hooks.lifecycle.sweep({ now: clock.now + DAY })).toMatchObject({ claimed: 0 });
    });

    it('run by the started delivery worker every lifecycle.intervalMs', async () => {
      const { h, clock } = await app({ lifecycle: { intervalMs: 20 } });
      const { tx } = await subscribe(h, uid());
      clock.now = tx.expiresDate + 2 * DAY;
      const seen = new Promise<DomainEvent>((resolve) => h.hooks.bus.subscribe('customer.subscription.past_due', (e) => resolve(e)));
      h.hooks.delivery.start();
      try {
        expect((await seen).data).toMatchObject({ reason: 'no_renewal_received' });
      } finally {
        await h.hooks.delivery.stop();
      }
      expect(await h.store.listEvents({ type: 'customer.subscription.past_due' })).toHaveLength(1);
    });

    it('with the App Store Server API: Apple is asked first and its answer applied through the notification path (renewal, expiry); unknown to Apple: past_due; unreachable: retried later', async () => {
      const signer = await sharedSigner();
      const { h, clock } = await app({ appleApi: true });
      const status = async (c: { originalTransactionId: string }, code: number, transaction: Record<string, unknown>, renewal: Record<string, unknown>) =>
        apple.statuses.set(c.originalTransactionId, {
          environment: 'Production',
          bundleId: 'com.example.app',
          appAppleId: 1234567890,
          data: [
            {
              subscriptionGroupIdentifier: 'group1',
              lastTransactions: [
                {
                  status: code,
                  originalTransactionId: c.originalTransactionId,
                  signedTransactionInfo: await signer.signTransaction(transaction as never),
                  signedRenewalInfo: await signer.signRenewalInfo(renewal as never),
                },
              ],
            },
          ],
        });
      const [renewUser, expireUser, unknownUser] = [uid(), uid(), uid()];
      const renews = await subscribe(h, renewUser);
      const expires = await subscribe(h, expireUser);
      const unknown = await subscribe(h, unknownUser);
      const next = renews.c.transaction({ signedDate: renews.tx.expiresDate + 10 });
      await status(renews.c, 1, next, renews.c.renewal({ signedDate: renews.tx.expiresDate + 10 }));
      await status(
        expires.c,
        2,
        { ...expires.c.transaction({}, true), signedDate: expires.tx.expiresDate + 10 },
        expires.c.renewal({ autoRenewStatus: 0, expirationIntent: 1, signedDate: expires.tx.expiresDate + 10 }),
      );
      clock.now = Math.max(renews.tx.expiresDate, expires.tx.expiresDate, unknown.tx.expiresDate) + 2 * DAY;
      apple.failNext(`/inApps/v1/subscriptions/${renews.c.originalTransactionId}`, { status: 503, body: { errorCode: 5000000, errorMessage: 'down' } });
      const first = await h.hooks.lifecycle.sweep();
      // Apple unreachable for one: nothing decided for it (no past_due), the others settled.
      expect(first).toMatchObject({ claimed: 3, appleChecked: 1, pastDue: 1, failed: 1 });
      expect((await h.hooks.subscriptions.get(renews.c.originalTransactionId))!.status).toBe('active');
      expect((await h.hooks.subscriptions.get(expires.c.originalTransactionId))!.status).toBe('expired');
      expect((await h.hooks.subscriptions.get(unknown.c.originalTransactionId))!.status).toBe('past_due');
      expect(await h.hooks.lifecycle.sweep()).toMatchObject({ claimed: 0 }); // the failed claim holds until it lapses
      const before = h.seen.length;
      const later = await h.hooks.lifecycle.sweep({ now: clock.now + 6 * 60_000 });
      expect(later).toMatchObject({ claimed: 1, appleChecked: 1, pastDue: 0, failed: 0 });
      const applied = h.seen.slice(before);
      expect(types(applied)).toEqual(['provider.notification.received', 'customer.subscription.renewed', 'order.paid']);
      expect(applied[0]!.source.notification_id).toBe(`status:${renews.c.originalTransactionId}:${next.transactionId}:1`);
      const renewed = (await h.hooks.subscriptions.get(renews.c.originalTransactionId))!;
      expect(renewed).toMatchObject({
        status: 'active',
        latest_transaction_id: next.transactionId,
        current_period_end: new Date(next.expiresDate).toISOString(),
      });
      expect(await h.hooks.entitlements.has(renewUser, 'pro')).toBe(true);
      expect(await h.hooks.entitlements.has(expireUser, 'pro')).toBe(false);
      expect(await h.hooks.entitlements.has(unknownUser, 'pro')).toBe(false);
      // Idempotent: Apple asked again gives the same inbox id, nothing new.
      expect(await h.hooks.lifecycle.sweep({ now: clock.now + 12 * 60_000 })).toMatchObject({ claimed: 0 });
      expect(await h.store.listEvents({ type: 'customer.subscription.renewed' })).toHaveLength(1);
    });

    for (const where of ['before', 'inside'] as const) {
      it(`two sweeps racing for one subscription, the first held ${where === 'before' ? 'after its claim, before its unit of work' : 'inside its unit of work after reading (locking) the row'}, the second claiming it once the first claim lapsed: one past_due, one revoked`, async () => {
        let hold!: ReturnType<typeof holdingStore>;
        const { h, clock } = await app({ store: (s) => (hold = holdingStore(s, where)).store });
        const user = uid();
        const { tx } = await subscribe(h, user);
        clock.now = tx.expiresDate + 2 * DAY;
        hold.arm();
        const first = h.hooks.lifecycle.sweep();
        await hold.atGate;
        // The first claim has lapsed for this one (its clock is 6 minutes later): it may claim the same row.
        const second = h.hooks.lifecycle.sweep({ now: clock.now + 6 * 60_000 });
        if (where === 'before') expect(await second).toMatchObject({ claimed: 1, pastDue: 1 });
        else await new Promise((r) => setTimeout(r, 300));
        hold.release();
        const results = await Promise.all([first, second]);
        expect(results.map((r) => r.failed)).toEqual([0, 0]);
        expect(results[0].pastDue + results[1].pastDue).toBe(1);
        expect(await h.store.listEvents({ type: 'customer.subscription.past_due' })).toHaveLength(1);
        expect(await h.store.listEvents({ type: 'entitlement.revoked' })).toHaveLength(1);
        expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      });
    }
  });
}

describe('lifecycle sweep: bad input and stores that cannot sweep', () => {
  it('a bad `now` is INVALID_ARGUMENT; a store without claimSweepDue is CONFIG_INVALID for the sweep and the worker does not sweep with it', async () => {
    const h = await appleHarness({ config: { lifecycle: { intervalMs: null } } });
    await expect(h.hooks.lifecycle.sweep({ now: 'not a date' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', status: 400 });
    const { claimSweepDue: _c, releaseSweepClaim: _r, ...rest } = memoryStore();
    const custom = await appleHarness({ store: { ...rest, name: 'custom' } as Store, config: { lifecycle: { intervalMs: 10 } } });
    await expect(custom.hooks.lifecycle.sweep()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('claimSweepDue') });
    custom.hooks.delivery.start();
    await new Promise((r) => setTimeout(r, 50));
    await custom.hooks.delivery.stop();
    expect(custom.logger.errors).toEqual([]);
  });
});
