/**
 * hooks.settings and hooks.webhookEndpoints as APIs (validation with stable codes, nothing partial
 * left behind), the resolution order of EVENTS.md § manual.notification, and the two languages.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkEndpointUrl, isPrivateAddress } from '../../src/delivery/endpoints.js';
import { renderUserNotification } from '../../src/notifications/render.js';
import type { DomainEvent, UserNotification } from '../../src/index.js';
import { USER_EVENT_TYPES } from '../../src/notifications/event-names.js';
import { sampleEvent, sampleOrder, sampleSubscription } from '../../src/testing/store-conformance.js';
import { PRODUCT } from '../helpers/apple-harness.js';
import { notificationHarness } from '../helpers/notification-harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
async function harness(config: Parameters<typeof notificationHarness>[1] = {}) {
  const t = await notificationHarness('memory', config);
  cleanups.push(t.close);
  return t;
}

describe('hooks.settings', () => {
  it('create / get (by id and by mountLocation) / list / update / del', async () => {
    const { hooks } = await harness();
    const s = await hooks.settings.create({
      type: 'notification',
      mountLocation: 'app.one',
      description: 'd',
      componentDid: '',
      settings: { self_handle: true, include_events: ['customer.subscription.started'] },
    });
    expect(s).toMatchObject({ id: expect.stringMatching(/^set_/), type: 'notification', mountLocation: 'app.one', description: 'd', componentDid: null });
    expect(await hooks.settings.get(s.id)).toEqual(s);
    expect(await hooks.settings.get('app.one')).toEqual(s);
    const u = await hooks.settings.update(s.id, { settings: { self_handle: false }, description: 'changed' });
    expect(u).toMatchObject({ id: s.id, mountLocation: 'app.one', description: 'changed', settings: { self_handle: false } });
    expect((await hooks.settings.list()).map((x) => x.id)).toEqual([s.id]);
    expect(await hooks.settings.del(s.id)).toEqual({ id: s.id, deleted: true });
    expect(await hooks.settings.get(s.id)).toBeNull();
  });

  it('unknown event names are INVALID_ARGUMENT (400) listing the valid names; other bad input INVALID_ARGUMENT, CONFLICT, NOT_FOUND; nothing stored', async () => {
    const { hooks } = await harness();
    const bad = hooks.settings.create({
      type: 'notification',
      mountLocation: 'x',
      settings: { self_handle: true, include_events: ['customer.subscription.begun'] },
    });
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"customer.subscription.begun"') });
    await expect(bad).rejects.toMatchObject({ message: expect.stringContaining(USER_EVENT_TYPES.join(', ')) });
    await expect(
      hooks.settings.create({ type: 'notification', mountLocation: 'x', settings: { self_handle: true, exclude_events: ['nope'] } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.settings.create({ type: 'other' as 'notification', mountLocation: 'x', settings: { self_handle: true } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(hooks.settings.create({ type: 'notification', mountLocation: '', settings: { self_handle: true } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(hooks.settings.create({ type: 'notification', mountLocation: 'x', settings: { self_handle: 'yes' } as never })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await hooks.settings.list()).toEqual([]);
    await hooks.settings.create({ type: 'notification', mountLocation: 'taken', settings: { self_handle: false } });
    await expect(hooks.settings.create({ type: 'notification', mountLocation: 'taken', settings: { self_handle: true } })).rejects.toMatchObject({
      code: 'CONFLICT',
      status: 409,
    });
    await expect(hooks.settings.update('set_missing', { description: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(hooks.settings.del('set_missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await hooks.settings.list()).toHaveLength(1);
  });

  it('orders.create checks subscriptionData.notificationSettings event names too', async () => {
    const { hooks } = await harness();
    await expect(
      hooks.orders.create({ userId: 'u', productId: PRODUCT, subscriptionData: { notificationSettings: { self_handle: true, include_events: ['bogus'] } } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('resolution (EVENTS.md § manual.notification): first match wins', () => {
  async function purchase(
    config: Parameters<typeof notificationHarness>[1],
    order?: { metadata?: Record<string, unknown>; own?: boolean },
    setup?: (t: Awaited<ReturnType<typeof harness>>) => Promise<void>,
  ) {
    const notified: UserNotification[] = [];
    const t = await harness({ ...config, notifier: async (n) => void notified.push(n) });
    await setup?.(t);
    const o = await t.hooks.orders.create({
      userId: 'u1',
      productId: PRODUCT,
      metadata: order?.metadata,
      subscriptionData: order?.own ? { notificationSettings: { self_handle: false } } : undefined,
    });
    const c = t.h.contract({ appAccountToken: o.no });
    const r = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    await t.drain();
    return { manual: r.events.filter((e) => e.type === 'manual.notification'), notified };
  }
  const selfHandleAll = async (t: Awaited<ReturnType<typeof harness>>) => {
    await t.hooks.settings.create({ type: 'notification', mountLocation: 'my.app', settings: { self_handle: true } });
    await t.hooks.settings.create({ type: 'notification', mountLocation: 'other', settings: { self_handle: false } });
  };

  it('the global setting (mountLocation = appId) applies when nothing more specific exists; no include list = the default notified events', async () => {
    const r = await purchase({ appId: 'my.app' }, undefined, selfHandleAll);
    expect(r.manual.map((e) => (e as DomainEvent<'manual.notification'>).data.object.type)).toEqual(['customer.subscription.started']);
    expect(r.notified).toEqual([]);
  });
  it('metadata.setting_id beats the global setting', async () => {
    const r = await purchase({ appId: 'my.app' }, { metadata: { setting_id: 'other' } }, selfHandleAll);
    expect(r.manual).toEqual([]);
    expect(r.notified.map((n) => n.eventType)).toEqual(['customer.subscription.started']);
  });
  it("the subscription's own settings beat both", async () => {
    const r = await purchase({ appId: 'my.app' }, { own: true, metadata: { setting_id: 'my.app' } }, selfHandleAll);
    expect(r.manual).toEqual([]);
    expect(r.notified).toHaveLength(1);
  });
  it('a setting_id naming nothing falls through to the global setting; with none at all the notifier path is used', async () => {
    expect((await purchase({ appId: 'my.app' }, { metadata: { setting_id: 'gone' } }, selfHandleAll)).manual).toHaveLength(1);
    expect((await purchase({}, undefined, selfHandleAll)).notified).toHaveLength(1);
  });
  it('exclude_events wins over include_events; self-handled order events carry the Order as entity', async () => {
    const t = await harness();
    const o = await t.hooks.orders.create({
      userId: 'u2',
      productId: PRODUCT,
      subscriptionData: {
        notificationSettings: {
          self_handle: true,
          include_events: ['order.paid', 'customer.subscription.started'],
          exclude_events: ['customer.subscription.started'],
        },
      },
    });
    const c = t.h.contract({ appAccountToken: o.no });
    const r = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    const manual = r.events.filter((e): e is DomainEvent<'manual.notification'> => e.type === 'manual.notification');
    expect(manual.map((e) => e.data.object.type)).toEqual(['order.paid']);
    expect(manual[0]!.data.object.data.entity).toMatchObject({ no: o.no, status: 'paid', user_id: 'u2' });
    // right after the event it stands for, with an id derived from it
    const i = r.events.findIndex((e) => e.type === 'order.paid');
    expect(r.events[i + 1]!.type).toBe('manual.notification');
    expect(await t.store.listEvents({ type: 'manual.notification' })).toEqual(manual);
  });
  it("orders.create accepts subscription_data.notification_settings (the order's own spelling) like subscriptionData.notificationSettings; both at once, or bad settings, are refused", async () => {
    const t = await harness();
    const o = await t.hooks.orders.create({
      userId: 'u3',
      productId: PRODUCT,
      subscription_data: { notification_settings: { self_handle: true, include_events: ['order.paid'] } },
    });
    expect(o.subscription_data).toEqual({ notification_settings: { self_handle: true, include_events: ['order.paid'] } });
    const c = t.h.contract({ appAccountToken: o.no });
    const r = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    expect(r.events.filter((e) => e.type === 'manual.notification').map((e) => (e.data.object as { type: string }).type)).toEqual(['order.paid']);
    expect((await t.hooks.subscriptions.get(c.originalTransactionId))?.notification_settings).toEqual({ self_handle: true, include_events: ['order.paid'] });
    await expect(t.hooks.orders.create({ userId: 'u3', productId: PRODUCT, subscriptionData: {}, subscription_data: {} })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      t.hooks.orders.create({
        userId: 'u3',
        productId: PRODUCT,
        subscription_data: { notification_settings: { self_handle: true, include_events: ['bogus'] } },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('without a notifier the rendered notification is logged at debug level, and nothing is enqueued for it', async () => {
    const debug: unknown[] = [];
    const t = await harness({ logger: { debug: (o: unknown) => void debug.push(o), info() {}, warn() {}, error() {} } });
    const c = t.h.contract();
    await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    expect(debug).toEqual([{ notification: expect.objectContaining({ eventType: 'customer.subscription.started', title: 'Subscription started' }) }]);
    expect(await t.hooks.delivery.list()).toEqual([]);
  });
});

describe('rendering', () => {
  it('English and Simplified Chinese; the entity metadata.locale overrides the configured locale', () => {
    const e = sampleEvent('r', 1, { type: 'customer.subscription.started' } as Partial<DomainEvent>);
    const en = renderUserNotification(e, 'en');
    expect(en).toMatchObject({ userId: 'user_r', eventType: 'customer.subscription.started', title: 'Subscription started', locale: 'en' });
    expect(en.body).toBe('Your subscription to com.example.pro.monthly is active until 2023-12-14.');
    const zh = renderUserNotification(e, 'zh-Hans');
    expect(zh).toMatchObject({ title: '订阅已开通', locale: 'zh-CN', body: '您的 com.example.pro.monthly 订阅已开通，有效期至 2023-12-14。' });
    expect(zh.context).toMatchObject({ product_id: 'com.example.pro.monthly', current_period_end: sampleSubscription('r').current_period_end, event_id: e.id });
    const order = { ...sampleEvent('o', 1), type: 'order.refunded', data: { object: sampleOrder('o') } } as DomainEvent;
    expect(renderUserNotification(order, 'zh').title).toBe('已退款');
    for (const type of USER_EVENT_TYPES) {
      for (const lang of ['en', 'zh-CN']) {
        const n = renderUserNotification({ ...e, type } as DomainEvent, lang);
        expect(n.title).not.toBe(type);
        expect(n.body.length).toBeGreaterThan(5);
      }
    }
  });
});

describe('hooks.webhookEndpoints', () => {
  it('create returns { id: we_…, url, enabled_events, status, secret: whsec_…, created }; list / update / del / rotateSecret', async () => {
    const { hooks } = await harness();
    const w = await hooks.webhookEndpoints.create({ url: 'https://example.com/cb', enabled_events: ['*'], description: 'd', metadata: { team: 'x' } });
    expect(w).toMatchObject({
      id: expect.stringMatching(/^we_/),
      url: 'https://example.com/cb',
      enabled_events: ['*'],
      status: 'enabled',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      created: expect.any(String),
    });
    expect((await hooks.webhookEndpoints.update(w.id, { enabled_events: ['manual.notification'], status: 'disabled' })).enabled_events).toEqual([
      'manual.notification',
    ]);
    const r = await hooks.webhookEndpoints.rotateSecret(w.id);
    expect(r.secret).not.toBe(w.secret);
    // Plaintext only from create and rotateSecret; everything else shows the secrets masked.
    expect(r.previous_secret).toBe(`whsec_…${w.secret.slice(-4)}`);
    expect(await hooks.webhookEndpoints.list()).toEqual([{ ...r, secret: `whsec_…${r.secret.slice(-4)}` }]);
    expect(await hooks.webhookEndpoints.del(w.id)).toEqual({ id: w.id, deleted: true });
    await expect(hooks.webhookEndpoints.del(w.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(hooks.webhookEndpoints.rotateSecret(w.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('bad input has stable codes and stores nothing', async () => {
    const { hooks } = await harness();
    await expect(hooks.webhookEndpoints.create({ url: 'https://e.com', enabled_events: ['customer.subscription.begun'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('valid names: *, customer.subscription.created'),
    });
    await expect(hooks.webhookEndpoints.create({ url: 'ftp://e.com', enabled_events: ['*'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.webhookEndpoints.create({ url: 'not a url', enabled_events: ['*'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.webhookEndpoints.create({ url: 'https://u:p@e.com', enabled_events: ['*'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.webhookEndpoints.create({ url: 'https://e.com', enabled_events: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.webhookEndpoints.create({ url: 'https://e.com', enabled_events: ['*'], extra: 1 } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await hooks.webhookEndpoints.list()).toEqual([]);
  });

  it('in production, http: and private or loopback hosts are refused (SSRF) unless allowPrivateUrls', async () => {
    for (const url of [
      'http://example.com/cb',
      'https://127.0.0.1/cb',
      'https://10.1.2.3/',
      'https://169.254.169.254/latest',
      'https://[::1]/',
      'https://[::ffff:192.168.0.1]/',
      'https://localhost/',
      'https://db.internal/',
    ]) {
      await expect(checkEndpointUrl(url, false, true)).rejects.toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED' });
      await expect(checkEndpointUrl(url, true, true)).resolves.toBeTypeOf('string');
      await expect(checkEndpointUrl(url, false, false)).resolves.toBeTypeOf('string');
    }
    await expect(checkEndpointUrl('https://93.184.215.14/cb', false, true)).resolves.toBe('https://93.184.215.14/cb');
    expect(['8.8.8.8', '2606:4700::1111'].map(isPrivateAddress)).toEqual([false, false]);
    expect(['100.64.0.1', 'fd00::1', 'fe80::1', '0.0.0.0'].map(isPrivateAddress)).toEqual([true, true, true, true]);
    vi.stubEnv('NODE_ENV', 'production');
    try {
      const { hooks } = await harness();
      await expect(hooks.webhookEndpoints.create({ url: 'http://127.0.0.1:9/cb', enabled_events: ['*'] })).rejects.toMatchObject({
        code: 'WEBHOOK_URL_NOT_ALLOWED',
        status: 400,
      });
      const allowed = await harness({ allowPrivateUrls: true });
      await expect(allowed.hooks.webhookEndpoints.create({ url: 'http://127.0.0.1:9/cb', enabled_events: ['*'] })).resolves.toMatchObject({
        status: 'enabled',
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
