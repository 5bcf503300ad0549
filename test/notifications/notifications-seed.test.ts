/**
 * Seed 000 (Payment Kit, "自定义通知处理指南"), its two configuration scenarios, verbatim in spirit:
 * the app takes over chosen user notifications and hears about them both ways, in process on the bus
 * and across services on a signed callback route; the built-in notifier still sends the rest.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { createCallbackRoute, type CallbackRoute } from '../../adapters/callback.js';
import type { DomainEvent, ManualNotification, UserNotification } from '../../src/index.js';
import { PRODUCT } from '../helpers/apple-harness.js';
import { notificationHarness, STORE_KINDS, type StoreKind } from '../helpers/notification-harness.js';

/** The receiving app: `api/routes/payment/callback.js` mounted in Express on 127.0.0.1. */
async function callbackApp() {
  const got: DomainEvent[] = [];
  const emails: ManualNotification['data'][] = [];
  let route: CallbackRoute | null = null;
  const app = express();
  app.post('/api/payment/callback', (req, res, next) => route!.express()(req, res, next));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/payment/callback`,
    got,
    emails,
    useSecret(secret: string) {
      route = createCallbackRoute({
        secret,
        on: {
          'manual.notification': async (event) => {
            // seed: sendCustomEmail(event.data)
            emails.push(event.data.object.data);
          },
          '*': async (event) => {
            got.push(event);
          },
        },
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const enabledEvents = ['customer.subscription.started', 'customer.subscription.renewed', 'manual.notification'];
const manual = (events: DomainEvent[]) => events.filter((e): e is DomainEvent<'manual.notification'> => e.type === 'manual.notification');

describe.each(STORE_KINDS)('seed 000 on %s', (kind: StoreKind) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function setup(config: { appId?: string } = {}) {
    const notified: UserNotification[] = [];
    const t = await notificationHarness(kind, { ...config, notifier: async (n) => void notified.push(n) });
    const receiver = await callbackApp();
    cleanups.push(t.close, receiver.close);
    const webhook = await t.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: enabledEvents });
    expect(webhook).toMatchObject({ id: expect.stringMatching(/^we_/), status: 'enabled', secret: expect.stringMatching(/^whsec_/) });
    receiver.useSecret(webhook.secret);
    return { ...t, notified, receiver };
  }

  it('scenario 1, subscription level: self_handle + include_events [started] → manual.notification on the bus and the callback; the notifier gets the rest', async () => {
    const t = await setup();
    const order = await t.hooks.orders.create({
      userId: 'did:abt:alice',
      productId: PRODUCT,
      subscriptionData: { notificationSettings: { self_handle: true, include_events: ['customer.subscription.started'] } },
    });
    const c = t.h.contract({ appAccountToken: order.no });

    const bought = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    expect(bought.response.status).toBe(200);
    const onBus = manual(bought.published);
    expect(onBus).toHaveLength(1);
    const m = onBus[0]!.data.object;
    expect(m.type).toBe('customer.subscription.started');
    expect(m.data.userDid).toBe('did:abt:alice');
    expect(m.data.entity).toMatchObject({ contract_id: c.originalTransactionId, product_id: PRODUCT, status: 'active', user_id: 'did:abt:alice' });
    expect(m.data.context).toMatchObject({ title: 'Subscription started', locale: 'en', product_id: PRODUCT });
    expect(bought.events.map((e) => e.type)).toContain('manual.notification');
    const sub = await t.hooks.subscriptions.get(c.originalTransactionId);
    expect(sub?.notification_settings).toEqual({ self_handle: true, include_events: ['customer.subscription.started'] });

    await t.drain();
    expect(t.receiver.got.map((e) => e.type).sort()).toEqual(['customer.subscription.started', 'manual.notification']);
    expect(t.receiver.emails).toEqual([m.data]);
    expect(t.notified).toEqual([]); // started was self-handled; created and order.paid are not notified by default

    const renewed = await t.notify('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() });
    expect(manual(renewed.published)).toHaveLength(0);
    await t.drain();
    expect(t.notified.map((n) => [n.eventType, n.userId, n.title])).toEqual([['customer.subscription.renewed', 'did:abt:alice', 'Subscription renewed']]);
    expect(t.receiver.got.map((e) => e.type).sort()).toEqual(['customer.subscription.renewed', 'customer.subscription.started', 'manual.notification']);
    expect(await t.hooks.delivery.list({ status: 'pending' })).toEqual([]);
  });

  it.each([
    ['the setting id', (id: string) => id],
    ['the mountLocation value', () => 'your.app.id'],
  ])('scenario 2, global setting by mountLocation, referenced through metadata.setting_id = %s', async (_label, ref) => {
    const t = await setup();
    const setting = await t.hooks.settings.create({
      type: 'notification',
      mountLocation: 'your.app.id',
      description: '自定义通知配置',
      componentDid: '',
      settings: { self_handle: true, include_events: ['customer.subscription.started', 'customer.subscription.renewed'] },
    });
    expect(setting.id).toMatch(/^set_/);
    const order = await t.hooks.orders.create({ userId: 'did:abt:bob', productId: PRODUCT, metadata: { setting_id: ref(setting.id) } });
    const c = t.h.contract({ appAccountToken: order.no });

    const bought = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    const renewed = await t.notify('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() });
    const canceled = await t.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', {
      transaction: c.transaction({}, true),
      renewalInfo: c.renewal({ autoRenewStatus: 0 }),
    });
    expect([bought, renewed, canceled].map((r) => r.response.status)).toEqual([200, 200, 200]);
    expect((await t.hooks.subscriptions.get(c.originalTransactionId))?.setting_id).toBe(ref(setting.id));

    expect(manual(bought.published).map((e) => e.data.object.type)).toEqual(['customer.subscription.started']);
    expect(manual(renewed.published).map((e) => e.data.object.type)).toEqual(['customer.subscription.renewed']);
    expect(manual(canceled.published)).toEqual([]);
    expect(manual(renewed.published)[0]!.data.object.data).toMatchObject({ userDid: 'did:abt:bob', entity: { contract_id: c.originalTransactionId } });

    await t.drain();
    expect(t.notified.map((n) => n.eventType)).toEqual(['customer.subscription.canceled']);
    expect(t.receiver.emails.map((d) => d.entity.product_id)).toEqual([PRODUCT, PRODUCT]);
    expect(
      t.receiver.got
        .filter((e) => e.type === 'manual.notification')
        .map((e) => (e as DomainEvent<'manual.notification'>).data.object.type)
        .sort(),
    ).toEqual(['customer.subscription.renewed', 'customer.subscription.started']);
  });
});
