import { describe, expect, it } from 'vitest';
import type { DomainEvent, EntitlementChange, Order, Store } from '../../src/index.js';
import { appleHarness, PRODUCT, PRODUCT_BASIC, PRODUCT_YEARLY, types } from '../helpers/apple-harness.js';
import { xsollaHarness } from '../helpers/xsolla-harness.js';

const DAY = 86_400_000;
const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] }, [PRODUCT_YEARLY]: { entitlements: ['pro', 'archive'] } };
const G = 'entitlement.granted';
const V = 'entitlement.revoked';
const changes = (events: DomainEvent[]) =>
  events
    .filter((e) => e.type === G || e.type === V)
    .map((e) => `${e.type === G ? '+' : '-'}${(e.data.object as EntitlementChange).entitlement}:${(e.data.object as EntitlementChange).reason}`);

/**
 * Entitlements through real HTTP on one store: `hooks.entitlements.list/has` across the lifecycle, and
 * `entitlement.granted` / `entitlement.revoked` committed with the state change that causes them.
 */
export function entitlementsSuite(storeName: string, makeStore: () => Promise<Store>) {
  describe(`Entitlements (${storeName})`, () => {
    /** An Apple app whose entitlement clock the test moves. */
    async function apple(config: { pastDueActive?: boolean } = {}) {
      const clock = { now: Date.now() };
      const h = await appleHarness({
        store: await makeStore(),
        config: { products: PRODUCTS, entitlements: { pastDueActive: config.pastDueActive ?? false }, delivery: { now: () => clock.now } },
      });
      return { h, clock };
    }

    async function subscribe(h: Awaited<ReturnType<typeof apple>>['h'], userId: string, over: Record<string, unknown> = {}, productId = PRODUCT) {
      const order = await h.hooks.orders.create({ userId, productId });
      const c = h.contract({ appAccountToken: order.no, productId });
      const tx = c.transaction(over);
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      expect(r.status).toBe(200);
      return { c, tx, r };
    }

    it('has(user, "pro") before and after: a free trial grants it (reason trial), a renewal keeps it without a new event, EXPIRED revokes it; the events commit with the change', async () => {
      const { h } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      expect(await h.hooks.entitlements.list(user)).toEqual([]);
      const { c, tx, r } = await subscribe(h, user, { offerType: 1, offerDiscountType: 'FREE_TRIAL', price: 0 });
      expect(types(r.events)).toEqual(['provider.notification.received', 'customer.subscription.created', 'customer.subscription.started', 'order.paid', G]);
      const granted = r.events[4]!;
      expect(granted.data.object).toEqual({
        entitlement: 'pro',
        active: true,
        expires_at: new Date(tx.expiresDate).toISOString(),
        subscription_id: (r.events[1]!.data.object as { id: string }).id,
        provider: 'apple',
        product_id: PRODUCT,
        reason: 'trial',
        user_id: user,
      });
      expect(granted.source).toEqual(r.events[0]!.source);
      expect((await h.store.listEvents({ type: G })).map((e) => e.id)).toEqual([granted.id]); // in the outbox, same commit
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
      expect(await h.hooks.entitlements.has(user, 'archive')).toBe(false);
      const renew = await h.notify('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() });
      expect(changes(renew.events)).toEqual([]);
      expect((await h.hooks.entitlements.list(user))[0]).toMatchObject({ entitlement: 'pro', active: true, reason: 'active' });
      const expired = await h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) });
      expect(changes(expired.events)).toEqual(['-pro:expired']);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      expect(await h.hooks.entitlements.list(user)).toEqual([expect.objectContaining({ entitlement: 'pro', active: false, reason: 'expired' })]);
    });

    it('canceled: active until the period ends (no revoked event at cancel), inactive after; reactivated: active again', async () => {
      const { h, clock } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { c, tx } = await subscribe(h, user);
      const off = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', { transaction: tx, renewalInfo: c.renewal({ autoRenewStatus: 0 }) });
      expect(changes(off.events)).toEqual([]);
      expect(await h.hooks.entitlements.list(user)).toEqual([
        expect.objectContaining({ entitlement: 'pro', active: true, reason: 'canceled', expires_at: new Date(tx.expiresDate).toISOString() }),
      ]);
      clock.now = tx.expiresDate + 1;
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      clock.now = tx.expiresDate - DAY;
      const on = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_ENABLED', { transaction: tx, renewalInfo: c.renewal() });
      expect(changes(on.events)).toEqual([]); // it never stopped counting
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
    });

    it('billing retry (past_due) is inactive by default: revoked, then granted again on recovery', async () => {
      const { h } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { c } = await subscribe(h, user);
      const failed = await h.notify('DID_FAIL_TO_RENEW', undefined, { transaction: c.transaction({}, true) });
      expect(changes(failed.events)).toEqual(['-pro:billing_retry']);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      const recovered = await h.notify('DID_RENEW', 'BILLING_RECOVERY', { transaction: c.transaction() });
      expect(changes(recovered.events)).toEqual(['+pro:active']);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
    });

    it('billing retry with entitlements.pastDueActive: still active, no event', async () => {
      const { h } = await apple({ pastDueActive: true });
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { c } = await subscribe(h, user);
      const failed = await h.notify('DID_FAIL_TO_RENEW', undefined, { transaction: c.transaction({}, true) });
      expect(changes(failed.events)).toEqual([]);
      expect(await h.hooks.entitlements.list(user)).toEqual([expect.objectContaining({ active: true, reason: 'billing_retry' })]);
    });

    it('grace period: active until gracePeriodExpiresDate, then inactive; GRACE_PERIOD_EXPIRED revokes nothing already lapsed', async () => {
      const { h, clock } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { c, tx } = await subscribe(h, user);
      const graceEnd = tx.expiresDate + 6 * DAY;
      const failed = await h.notify('DID_FAIL_TO_RENEW', 'GRACE_PERIOD', {
        transaction: c.transaction({}, true),
        renewalInfo: c.renewal({ gracePeriodExpiresDate: graceEnd }),
      });
      expect(changes(failed.events)).toEqual([]);
      clock.now = tx.expiresDate + DAY; // past the period, inside the grace period
      expect(await h.hooks.entitlements.list(user)).toEqual([
        expect.objectContaining({ active: true, reason: 'grace_period', expires_at: new Date(graceEnd).toISOString() }),
      ]);
      clock.now = graceEnd + 1;
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(false);
      const over = await h.notify('GRACE_PERIOD_EXPIRED', undefined, { transaction: c.transaction({}, true) });
      expect(changes(over.events)).toEqual([]);
      expect((await h.hooks.entitlements.list(user))[0]).toMatchObject({ active: false, reason: 'expired' });
    });

    it('REFUND and REVOKE revoke with their reason; a prorated refund revokes nothing', async () => {
      const { h } = await apple();
      const [u1, u2] = [`u_${Math.random().toString(36).slice(2)}`, `u_${Math.random().toString(36).slice(2)}`];
      const a = await subscribe(h, u1);
      const prorated = await h.notify('REFUND', undefined, {
        transaction: { ...a.tx, revocationDate: h.now(), revocationType: 'REFUND_PRORATED', revocationPercentage: 50000 },
      });
      expect(changes(prorated.events)).toEqual([]);
      expect(await h.hooks.entitlements.has(u1, 'pro')).toBe(true);
      const refund = await h.notify('REFUND', undefined, { transaction: { ...a.tx, revocationDate: h.now(), revocationType: 'REFUND_FULL' } });
      expect(changes(refund.events)).toEqual(['-pro:refunded']);
      const b = await subscribe(h, u2);
      const revoke = await h.notify('REVOKE', undefined, { transaction: { ...b.tx, revocationDate: h.now() } });
      expect(changes(revoke.events)).toEqual(['-pro:revoked']);
      expect(await h.hooks.entitlements.has(u2, 'pro')).toBe(false);
    });

    it('two subscriptions granting one entitlement: the latest expiry wins; losing one keeps it (no revoked event); the other entitlement goes', async () => {
      const { h } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const monthly = await subscribe(h, user);
      const yearly = await subscribe(h, user, { expiresDate: Date.now() + 365 * DAY }, PRODUCT_YEARLY);
      expect(changes(yearly.r.events)).toEqual(['+archive:active']); // pro was already granted
      const list = await h.hooks.entitlements.list(user);
      expect(list.map((e) => e.entitlement)).toEqual(['archive', 'pro']);
      expect(list[1]).toMatchObject({ active: true, product_id: PRODUCT_YEARLY, expires_at: new Date(yearly.tx.expiresDate).toISOString() });
      const gone = await h.notify('EXPIRED', 'VOLUNTARY', { transaction: yearly.c.transaction({}, true) });
      expect(changes(gone.events)).toEqual(['-archive:expired']);
      expect(await h.hooks.entitlements.list(user)).toEqual([
        expect.objectContaining({ entitlement: 'archive', active: false }),
        expect.objectContaining({ entitlement: 'pro', active: true, product_id: PRODUCT, expires_at: new Date(monthly.tx.expiresDate).toISOString() }),
      ]);
    });

    it("transferred away: the first user's entitlement is revoked (reason transferred), the new owner's granted, in one commit", async () => {
      const { h } = await apple();
      const [u1, u2] = [`u_${Math.random().toString(36).slice(2)}`, `u_${Math.random().toString(36).slice(2)}`];
      const { c } = await subscribe(h, u1);
      const order2 = await h.hooks.orders.create({ userId: u2, productId: PRODUCT });
      const r = await h.notify('SUBSCRIBED', 'RESUBSCRIBE', {
        transaction: c.transaction({ appAccountToken: order2.no, transactionReason: 'PURCHASE' }),
        renewalInfo: c.renewal(),
      });
      expect(types(r.events)).toContain('customer.subscription.transferred');
      expect(changes(r.events).sort()).toEqual(['+pro:active', '-pro:transferred']);
      expect(await h.hooks.entitlements.has(u1, 'pro')).toBe(false);
      expect(await h.hooks.entitlements.list(u1)).toEqual([]);
      expect(await h.hooks.entitlements.has(u2, 'pro')).toBe(true);
    });

    it('a product missing from the products config: the order is recorded (unknown_product: true, a warning), no entitlement', async () => {
      const { h } = await apple();
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { r } = await subscribe(h, user, {}, PRODUCT_BASIC);
      expect(r.status).toBe(200);
      expect(changes(r.events)).toEqual([]);
      const paid = r.events.find((e) => e.type === 'order.paid')!.data.object as Order;
      expect(paid.metadata).toMatchObject({ unknown_product: true });
      expect(await h.hooks.orders.get(paid.no)).toMatchObject({ status: 'paid', product_id: PRODUCT_BASIC, metadata: { unknown_product: true } });
      expect(h.logger.warnings.some((w) => w.includes('missing from the products config'))).toBe(true);
      expect(await h.hooks.entitlements.list(user)).toEqual([]);
    });

    it('entitlement events reach webhook endpoints (delivery rows in the same commit) and the bus', async () => {
      const { h } = await apple();
      const ep = await h.hooks.webhookEndpoints.create({ url: 'http://127.0.0.1:9/hook', enabled_events: [G, V] });
      const user = `u_${Math.random().toString(36).slice(2)}`;
      const { r } = await subscribe(h, user);
      const granted = r.events.find((e) => e.type === G)!;
      expect(h.seen.some((e) => e.id === granted.id)).toBe(true);
      const rows = await h.store.listDeliveries({ endpointId: ep.id });
      expect(rows.map((d) => d.event_id)).toEqual([granted.id]);
    });

    it('Xsolla plans: create_subscription grants, cancel with a past date_end revokes', async () => {
      const store = await makeStore();
      const h = xsollaHarness({ store, config: { products: { plan_pro: { entitlements: ['pro'] } } } });
      const c = h.contract({ planId: 'plan_pro' } as never);
      const created = await h.post(c.create());
      expect(created.status).toBe(204);
      expect(changes(created.events)).toEqual(['+pro:active']);
      expect(await h.hooks.entitlements.has(c.userId, 'pro')).toBe(true);
      const ended = await h.post(c.cancel(h.now - DAY));
      expect(changes(ended.events)).toEqual(['-pro:expired']);
      expect(await h.hooks.entitlements.has(c.userId, 'pro')).toBe(false);
    });

    it('bad arguments: INVALID_ARGUMENT (400); products with a store that keeps no entitlements: CONFIG_INVALID', async () => {
      const { h } = await apple();
      await expect(h.hooks.entitlements.has('', 'pro')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', status: 400 });
      await expect(h.hooks.entitlements.has('u', '')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', status: 400 });
      await expect(h.hooks.entitlements.list(42 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const store = await makeStore();
      const { listEntitlementGrants: _omit, ...without } = store;
      await expect(appleHarness({ store: { ...without, name: 'custom' } as Store, config: { products: PRODUCTS } })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
      });
    });
  });
}
