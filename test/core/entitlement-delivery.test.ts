/**
 * `entitlement.granted` / `entitlement.revoked` reach every delivery path, on every store through real
 * HTTP: the bus, webhook endpoints (a real receiver), and notification settings: a subscription's own
 * `notification_settings` (from its order) and the global setting may name them in `include_events`, and
 * then a `manual.notification` follows each, carrying the granting subscription and the user.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DomainEvent, EntitlementChange, ManualNotification, Subscription, UserNotification } from '../../src/index.js';
import { appleHarness, PRODUCT, types } from '../helpers/apple-harness.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { xsollaHarness } from '../helpers/xsolla-harness.js';

const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] } };
const APP_ID = 'com.example.app.notifications';
const uid = () => `u_${Math.random().toString(36).slice(2)}`;

for (const [storeName, makeStore] of EVERY_STORE) {
  describe(`entitlement events on every delivery path (${storeName})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((o) => o.close()));
    });

    it('bus, webhook endpoint, per-subscription settings (manual.notification) and the global setting; the built-in notifier is not sent entitlement events', async () => {
      const made = await makeStore();
      open.push(made);
      const notified: UserNotification[] = [];
      const h = await appleHarness({
        store: made.store,
        config: { products: PRODUCTS, appId: APP_ID, notifier: async (n) => void notified.push(n), lifecycle: { intervalMs: null } },
      });
      const receiver = await webhookReceiver();
      open.push({ close: () => receiver.stop() });
      await h.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['entitlement.granted', 'entitlement.revoked', 'manual.notification'] });
      const onBus: DomainEvent[] = [];
      h.hooks.bus.subscribe('entitlement.granted', (e) => void onBus.push(e));
      h.hooks.bus.subscribe('entitlement.revoked', (e) => void onBus.push(e));

      // Per-subscription settings, given at order creation (snake_case, as stored).
      const user = uid();
      const order = await h.hooks.orders.create({
        userId: user,
        productId: PRODUCT,
        subscription_data: { notification_settings: { self_handle: true, include_events: ['entitlement.granted', 'entitlement.revoked'] } },
      });
      const c = h.contract({ appAccountToken: order.no });
      const bought = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
      expect(types(bought.events)).toEqual([
        'provider.notification.received',
        'customer.subscription.created',
        'customer.subscription.started',
        'order.paid',
        'entitlement.granted',
        'manual.notification',
      ]);
      const granted = bought.events[4]!;
      const manual = bought.events[5]!.data.object as ManualNotification;
      expect(manual).toMatchObject({
        type: 'entitlement.granted',
        data: {
          userDid: user,
          entity: { contract_id: c.originalTransactionId, user_id: user },
          context: { entitlement: 'pro', active: true, reason: 'active', title: 'Access granted' },
        },
      });
      const expired = await h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) });
      expect(types(expired.events)).toEqual(['provider.notification.received', 'customer.subscription.deleted', 'entitlement.revoked', 'manual.notification']);
      expect(expired.events[3]!.data.object).toMatchObject({
        type: 'entitlement.revoked',
        data: { userDid: user, context: { entitlement: 'pro', active: false, reason: 'expired' } },
      });

      // The global setting (mountLocation = appId) names them for a subscription without its own settings.
      await h.hooks.settings.create({ type: 'notification', mountLocation: APP_ID, settings: { self_handle: true, include_events: ['entitlement.granted'] } });
      const other = uid();
      const o2 = await h.hooks.orders.create({ userId: other, productId: PRODUCT });
      const c2 = h.contract({ appAccountToken: o2.no });
      const second = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c2.transaction(), renewalInfo: c2.renewal() });
      // started is not in the global include list now: the built-in notifier gets it; entitlement.granted is the app's.
      expect(types(second.events).slice(-2)).toEqual(['entitlement.granted', 'manual.notification']);
      expect((second.events.at(-1)!.data.object as ManualNotification).data).toMatchObject({
        userDid: other,
        entity: { contract_id: c2.originalTransactionId },
      });

      // Bus: every entitlement event, once.
      expect(onBus.map((e) => `${e.type}:${(e.data.object as EntitlementChange).user_id}`)).toEqual([
        `entitlement.granted:${user}`,
        `entitlement.revoked:${user}`,
        `entitlement.granted:${other}`,
      ]);
      expect(onBus[0]!.id).toBe(granted.id);
      // Webhook endpoint: each entitlement event and each manual.notification, over HTTP.
      while ((await h.hooks.delivery.runOnce()).attempted > 0);
      expect(receiver.received.map((r) => JSON.parse(r.body).type).sort()).toEqual([
        'entitlement.granted',
        'entitlement.granted',
        'entitlement.revoked',
        'manual.notification',
        'manual.notification',
        'manual.notification',
      ]);
      // The built-in notifier: the lifecycle messages the settings leave to it, never entitlement events.
      expect(notified.map((n) => `${n.eventType}:${n.userId}`)).toEqual([
        `customer.subscription.started:${user}`,
        `customer.subscription.deleted:${user}`,
        `customer.subscription.started:${other}`,
      ]);
      expect((second.events.find((e) => e.type === 'customer.subscription.started')!.data.object as Subscription).user_id).toBe(other);
    });

    it('Xsolla: the order named by external_id gives the subscription settings that take over entitlement.granted / revoked (manual.notification)', async () => {
      const made = await makeStore();
      open.push(made);
      const x = xsollaHarness({ store: made.store, config: { products: { plan_pro: { entitlements: ['pro'] } }, lifecycle: { intervalMs: null } } });
      const c = x.contract({ planId: 'plan_pro' });
      const pending = await x.hooks.orders.create({
        userId: c.userId,
        productId: 'plan_pro',
        provider: 'xsolla',
        subscription_data: { notification_settings: { self_handle: true, include_events: ['entitlement.granted', 'entitlement.revoked'] } },
      });
      expect((await x.post(c.payment(991, { externalId: pending.no }))).status).toBe(204);
      const created = await x.post(c.create());
      if (!(await x.store.transaction(async (tx) => typeof tx.getLatestOrderByOriginNo === 'function'))) return; // no settings from a later order without it
      expect(types(created.events).slice(-2)).toEqual(['entitlement.granted', 'manual.notification']);
      expect(created.events.at(-1)!.data.object).toMatchObject({
        type: 'entitlement.granted',
        data: { userDid: c.userId, entity: { provider: 'xsolla', contract_id: c.subscriptionId } },
      });
      const ended = await x.post(c.cancel(x.now - 86_400_000));
      expect(types(ended.events).slice(-2)).toEqual(['entitlement.revoked', 'manual.notification']);
    });
  });
}
