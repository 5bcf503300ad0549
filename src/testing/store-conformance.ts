import { randomUUID } from 'node:crypto';
import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { paidOrder, type Payment, type RecordedOrder } from '../providers/paid-order.js';
import type {
  DeliveryRecord,
  EntitlementGrantRecord,
  InboxRecord,
  NotificationSettingRecord,
  PruneCounts,
  PruneOptions,
  Store,
  WebhookEndpointRecord,
} from '../store/types.js';

/** The subset of an `expect(...)` assertion the conformance suite uses (vitest / jest compatible). */
export interface ConformanceAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toStrictEqual(expected: unknown): void;
  toBeNull(): void;
  toHaveLength(length: number): void;
  toBeLessThanOrEqual(expected: number): void;
  rejects: { toThrow(expected?: string | RegExp): Promise<void> };
  not: { toBeNull(): void };
}

type Hook = (fn: () => Promise<void> | void) => void;

/** Test functions injected into {@link storeConformanceSuite}, so the module does not import a runner. */
export interface ConformanceTestApi {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => Promise<void>) => void;
  expect: (actual: unknown) => ConformanceAssertion;
  beforeAll?: Hook;
  afterAll?: Hook;
  beforeEach?: Hook;
  afterEach?: Hook;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function suffix(): string {
  return randomUUID().slice(0, 8);
}

/** Builds a fully populated order; every nullable field has a value unless overridden. */
export function sampleOrder(s: string, over: Partial<Order> = {}): Order {
  const payment: Payment = {
    provider: 'apple',
    tradeNo: `trade_${s}`,
    at: iso(1_700_000_000_456),
    originNo: `origin_${s}`,
    userId: `user_${s}`,
    productId: 'com.example.pro.monthly',
    amount: 9990,
    currency: 'USD',
    paidAt: iso(1_700_000_000_123),
  };
  const recorded: RecordedOrder = {
    id: `ord_${s}`,
    no: `no_${s}`,
    amount_refunded: 4995,
    refund_reason: 'app_issue',
    metadata: { setting_id: 'set_1', nested: { a: [1, 'two', null, true] }, unicode: 'héllo ✓' },
    subscription_data: { notification_settings: { self_handle: true, include_events: ['order.paid'], exclude_events: [] } },
    created: iso(1_700_000_000_000),
  };
  return { ...paidOrder(payment, recorded), ...over };
}

/** Builds a fully populated subscription; every nullable field has a value unless overridden. */
export function sampleSubscription(s: string, over: Partial<Subscription> = {}): Subscription {
  return {
    id: `sub_${s}`,
    provider: 'apple',
    contract_id: `contract_${s}`,
    user_id: `user_${s}`,
    product_id: 'com.example.pro.monthly',
    status: 'active',
    auto_renew: true,
    current_period_start: iso(1_700_000_000_000),
    current_period_end: iso(1_702_592_000_000),
    pending_product_id: 'com.example.basic.monthly',
    environment: 'Sandbox',
    latest_transaction_id: `tx_${s}`,
    notification_settings: { self_handle: false, include_events: ['customer.subscription.renewed'] },
    setting_id: `set_${s}`,
    metadata: { plan: 'pro', seats: 3, flags: { beta: false } },
    last_event_at: iso(1_700_000_001_000),
    created: iso(1_700_000_000_000),
    updated: iso(1_700_000_002_000),
    ...over,
  };
}

/** Builds an inbox row. */
export function sampleInbox(s: string, over: Partial<InboxRecord> = {}): InboxRecord {
  const payload = { notificationType: 'DID_RENEW', data: { bundleId: 'com.example', n: 1.5, list: [1, 2, 3] }, id: s };
  return {
    provider: 'apple',
    notification_id: `ntf_${s}`,
    notification_type: 'DID_RENEW',
    subtype: 'BILLING_RECOVERY',
    environment: 'Sandbox',
    signed_at: iso(1_700_000_000_789),
    received_at: iso(1_700_000_001_000),
    raw_body: `{"signedPayload":"eyJhbGciOiJFUzI1NiJ9.${s}.sig"}\n  `,
    raw_sha256: `9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`,
    payload,
    ...over,
  };
}

/** Builds a domain event carrying a subscription. */
export function sampleEvent(s: string, n: number, over: Partial<DomainEvent> = {}): DomainEvent {
  return {
    id: `evt_${s}_${n}`,
    type: 'customer.subscription.renewed',
    created: iso(1_700_000_000_000 - n * 1000),
    provider: 'apple',
    livemode: false,
    data: { object: sampleSubscription(s), previous_attributes: { current_period_end: iso(1_699_000_000_000) } },
    source: { notification_id: `ntf_${s}`, notification_type: 'DID_RENEW', subtype: 'BILLING_RECOVERY' },
    ...over,
  } as DomainEvent;
}

/** Builds a notification setting. */
export function sampleSetting(s: string, over: Partial<NotificationSettingRecord> = {}): NotificationSettingRecord {
  return {
    id: `set_${s}`,
    type: 'notification',
    mountLocation: `mount.${s}`,
    description: '自定义通知配置',
    componentDid: `did:abt:${s}`,
    settings: { self_handle: true, include_events: ['customer.subscription.started'], exclude_events: ['order.paid'] },
    created: iso(1_700_000_000_000),
    updated: iso(1_700_000_000_001),
    ...over,
  };
}

/** Builds a webhook endpoint with every nullable field set. */
export function sampleEndpoint(s: string, over: Partial<WebhookEndpointRecord> = {}): WebhookEndpointRecord {
  return {
    id: `we_${s}`,
    url: `https://example.com/hooks/${s}`,
    enabled_events: ['customer.subscription.started', 'manual.notification'],
    status: 'enabled',
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    previous_secret: 'whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xk',
    previous_secret_expires_at: iso(1_700_000_900_000),
    description: 'callback',
    metadata: { team: 'billing' },
    created: iso(1_700_000_000_000),
    updated: iso(1_700_000_000_002),
    secret_key_id: '0123456789abcdef',
    failing_since: iso(1_700_000_000_001),
    ...over,
  };
}

/** Builds a due delivery row. */
export function sampleDelivery(endpointId: string, eventId: string, due: number, over: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    id: `dlv_${endpointId}_${eventId}`,
    endpoint_id: endpointId,
    event_id: eventId,
    status: 'pending',
    attempts: 0,
    next_attempt_at: iso(due),
    last_status: null,
    last_error: null,
    last_attempt_at: null,
    delivered_at: null,
    created: iso(due),
    updated: iso(due),
    ...over,
  };
}

/**
 * The behaviour every {@link Store} must have, as a reusable test suite. Run it on your own store
 * implementation to check it against the same cases as `memoryStore` and `prismaStore`.
 * One store instance serves the whole suite: every case uses ids unique to itself, so the store
 * may sit on a shared database.
 *
 * @param name - suite title
 * @param makeStore - creates the store (called once, lazily or in `beforeAll`); closed in `afterAll` when given
 * @param t - the test runner's functions (`describe`, `it`, `expect`, optional hooks)
 * @example
 * ```ts
 * import { describe, it, expect, beforeAll, afterAll } from 'vitest';
 * import { memoryStore } from 'subscription-webhooks';
 * import { storeConformanceSuite } from 'subscription-webhooks/testing';
 * storeConformanceSuite('memory', () => memoryStore(), { describe, it, expect, beforeAll, afterAll });
 * ```
 */
export function storeConformanceSuite(name: string, makeStore: () => Promise<Store> | Store, t: ConformanceTestApi): void {
  const { describe, it, expect } = t;
  let storePromise: Promise<Store> | undefined;
  const store = (): Promise<Store> => (storePromise ??= Promise.resolve().then(makeStore));

  /** The counts of the kinds every prune has (outcomes and attempts are checked on their own). */
  const fiveKinds = ({ deliveries, events, rawBodies, notifications, receipts }: PruneCounts) => ({ deliveries, events, rawBodies, notifications, receipts });
  describe(`Store conformance: ${name}`, () => {
    t.beforeAll?.(async () => {
      await store();
    });
    t.afterAll?.(async () => {
      if (storePromise) await (await storePromise).close?.();
    });

    it('a duplicate inbox insert returns false and a later throw leaves none of its writes', async () => {
      const st = await store();
      const s = suffix();
      expect(await st.transaction((tx) => tx.insertNotification(sampleInbox(s)))).toBe(true);
      const failing = st.transaction(async (tx) => {
        const inserted = await tx.insertNotification(sampleInbox(s, { raw_body: 'second' }));
        expect(inserted).toBe(false);
        await tx.saveOrder(sampleOrder(s));
        await tx.saveSubscription(sampleSubscription(s));
        await tx.insertEvents([sampleEvent(s, 1)]);
        throw new Error('boom after duplicate');
      });
      await expect(failing).rejects.toThrow('boom after duplicate');
      expect((await st.getNotification('apple', `ntf_${s}`))?.raw_body).toBe(sampleInbox(s).raw_body);
      expect(await st.getOrderByNo(`no_${s}`)).toBeNull();
      expect(await st.getSubscription('apple', `contract_${s}`)).toBeNull();
      expect((await st.listEvents()).filter((e) => e.id.startsWith(`evt_${s}`))).toHaveLength(0);
    });

    it('a duplicate inbox insert inside one transaction returns false and keeps the transaction usable', async () => {
      const st = await store();
      const s = suffix();
      await st.transaction(async (tx) => {
        expect(await tx.insertNotification(sampleInbox(s))).toBe(true);
        expect(await tx.insertNotification(sampleInbox(s))).toBe(false);
        await tx.saveOrder(sampleOrder(s));
      });
      expect(await st.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
    });

    it('a throwing unit of work rolls back every write', async () => {
      const st = await store();
      const s = suffix();
      const before = await st.countNotifications();
      await expect(
        st.transaction(async (tx) => {
          await tx.insertNotification(sampleInbox(s));
          await tx.saveOrder(sampleOrder(s));
          await tx.saveSubscription(sampleSubscription(s));
          await tx.insertEvents([sampleEvent(s, 1), sampleEvent(s, 2)]);
          expect(await tx.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
          throw new Error('rollback please');
        }),
      ).rejects.toThrow('rollback please');
      expect(await st.getNotification('apple', `ntf_${s}`)).toBeNull();
      expect(await st.countNotifications()).toBe(before);
      expect(await st.getOrderByNo(`no_${s}`)).toBeNull();
      expect(await st.getSubscription('apple', `contract_${s}`)).toBeNull();
      expect((await st.listEvents()).filter((e) => e.id.startsWith(`evt_${s}`))).toHaveLength(0);
      // the store still works afterwards
      expect(await st.transaction((tx) => tx.insertNotification(sampleInbox(s)))).toBe(true);
    });

    it('orders are unique by no', async () => {
      const st = await store();
      const s = suffix();
      await st.transaction((tx) => tx.saveOrder(sampleOrder(s)));
      await expect(st.transaction((tx) => tx.saveOrder(sampleOrder(`${s}b`, { no: `no_${s}` })))).rejects.toThrow();
      expect(await st.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
    });

    it('orders are unique by (provider, trade_no), and trade_no may repeat across providers or be null', async () => {
      const st = await store();
      const s = suffix();
      await st.transaction((tx) => tx.saveOrder(sampleOrder(s)));
      await expect(st.transaction((tx) => tx.saveOrder(sampleOrder(`${s}b`, { trade_no: `trade_${s}` })))).rejects.toThrow();
      await st.transaction(async (tx) => {
        await tx.saveOrder(sampleOrder(`${s}c`, { trade_no: `trade_${s}`, provider: 'xsolla' }));
        await tx.saveOrder(sampleOrder(`${s}d`, { trade_no: null }));
        await tx.saveOrder(sampleOrder(`${s}e`, { trade_no: null }));
      });
      await st.transaction(async (tx) => {
        expect((await tx.getOrderByTradeNo('apple', `trade_${s}`))?.id).toBe(`ord_${s}`);
        expect((await tx.getOrderByTradeNo('xsolla', `trade_${s}`))?.id).toBe(`ord_${s}c`);
        expect(await tx.getOrderByTradeNo('apple', `trade_missing_${s}`)).toBeNull();
      });
      expect(await st.getOrderByNo(`no_${s}e`)).toStrictEqual(sampleOrder(`${s}e`, { trade_no: null }));
    });

    it('insertOrder inserts a new order and refuses one whose id, no or (provider, trade_no) exists, writing nothing', async () => {
      const st = await store();
      const s = suffix();
      await st.transaction((tx) => tx.insertOrder(sampleOrder(s)));
      expect(await st.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
      for (const clash of [
        sampleOrder(s, { no: `other_${s}`, trade_no: `other_${s}` }),
        sampleOrder(`${s}b`, { no: `other_${s}`, trade_no: `trade_${s}` }),
        sampleOrder(`${s}c`, { no: `no_${s}`, trade_no: `other_${s}` }),
      ]) {
        await expect(st.transaction((tx) => tx.insertOrder(clash))).rejects.toThrow();
      }
      expect(await st.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
      expect(await st.getOrderByNo(`other_${s}`)).toBeNull();
    });

    it('insertOrder race: of two units of work that both read no order and then insert it, exactly one inserts; the other runs again and reads it', async () => {
      const st = await store();
      const s = suffix();
      let runs = 0;
      const outcomes = await Promise.all(
        [0, 1].map(() =>
          st.transaction(async (tx) => {
            runs += 1;
            if (await tx.getOrderByTradeNo('apple', `trade_${s}`)) return 'found';
            // Both read before either writes, where the store lets them run side by side.
            await new Promise((r) => setTimeout(r, 50));
            await tx.insertOrder(sampleOrder(s));
            return 'inserted';
          }),
        ),
      );
      expect([...outcomes].sort()).toEqual(['found', 'inserted']);
      expect(runs).toBeLessThanOrEqual(3);
      expect(await st.getOrderByNo(`no_${s}`)).toStrictEqual(sampleOrder(s));
    });

    it('saveOrder inserts, then replaces by id, round-tripping every field', async () => {
      const st = await store();
      const s = suffix();
      const first = sampleOrder(s);
      await st.transaction((tx) => tx.saveOrder(first));
      expect(await st.getOrderByNo(first.no)).toStrictEqual(first);
      const second: Order = {
        ...first,
        trade_no: null,
        origin_no: null,
        status: 'refunded',
        user_id: null,
        product_id: null,
        amount: null,
        currency: null,
        amount_refunded: null,
        refund_reason: null,
        paid_at: null,
        metadata: {},
        subscription_data: null,
        updated: iso(1_800_000_000_001),
      };
      await st.transaction((tx) => tx.saveOrder(second));
      expect(await st.getOrderByNo(first.no)).toStrictEqual(second);
      const third: Order = {
        ...second,
        amount: 0,
        amount_refunded: 0,
        status: 'partially_refunded',
        subscription_data: {},
        metadata: { empty: '', zero: 0, no: false },
      };
      await st.transaction((tx) => tx.saveOrder(third));
      expect(await st.getOrderByNo(first.no)).toStrictEqual(third);
      await st.transaction(async (tx) => {
        expect(await tx.getOrderByNo(first.no)).toStrictEqual(third);
        expect(await tx.getOrderByNo(`missing_${s}`)).toBeNull();
      });
    });

    it('saveSubscription inserts, then replaces by (provider, contract_id), round-tripping every field', async () => {
      const st = await store();
      const s = suffix();
      const first = sampleSubscription(s);
      await st.transaction((tx) => tx.saveSubscription(first));
      expect(await st.getSubscription('apple', first.contract_id)).toStrictEqual(first);
      const second: Subscription = {
        ...first,
        user_id: null,
        status: 'canceled',
        auto_renew: false,
        current_period_start: null,
        current_period_end: null,
        pending_product_id: null,
        latest_transaction_id: null,
        notification_settings: null,
        setting_id: null,
        metadata: {},
        last_event_at: null,
        updated: iso(1_800_000_000_999),
      };
      await st.transaction((tx) => tx.saveSubscription(second));
      expect(await st.getSubscription('apple', first.contract_id)).toStrictEqual(second);
      const third: Subscription = { ...second, notification_settings: { self_handle: true }, auto_renew: true };
      await st.transaction(async (tx) => {
        await tx.saveSubscription(third);
        expect(await tx.getSubscription('apple', first.contract_id)).toStrictEqual(third);
      });
      expect(await st.getSubscription('apple', first.contract_id)).toStrictEqual(third);
      expect(await st.getSubscription('xsolla', first.contract_id)).toBeNull();
      expect(await st.listSubscriptions({ userId: `user_${s}` })).toHaveLength(0);
    });

    it('stored values cannot be mutated through returned or saved objects', async () => {
      const st = await store();
      const s = suffix();
      const sub = sampleSubscription(s);
      await st.transaction((tx) => tx.saveSubscription(sub));
      sub.metadata.plan = 'mutated';
      const read = await st.getSubscription('apple', sub.contract_id);
      expect(read?.metadata.plan).toBe('pro');
      if (read) read.metadata.plan = 'mutated again';
      expect((await st.getSubscription('apple', sub.contract_id))?.metadata.plan).toBe('pro');
    });

    it('listSubscriptions filters by userId, provider and status', async () => {
      const st = await store();
      const s = suffix();
      const user = `user_${s}`;
      const subs = [
        sampleSubscription(`${s}1`, { user_id: user, provider: 'apple', status: 'active' }),
        sampleSubscription(`${s}2`, { user_id: user, provider: 'xsolla', status: 'active' }),
        sampleSubscription(`${s}3`, { user_id: user, provider: 'apple', status: 'expired' }),
        sampleSubscription(`${s}4`, { user_id: `other_${s}`, provider: 'apple', status: 'active' }),
      ];
      await st.transaction(async (tx) => {
        for (const sub of subs) await tx.saveSubscription(sub);
      });
      const ids = async (f: Parameters<Store['listSubscriptions']>[0]): Promise<string[]> =>
        (await st.listSubscriptions(f))
          .map((x) => x.id)
          .filter((id) => id.includes(s))
          .sort();
      expect(await ids({ userId: user })).toEqual([`sub_${s}1`, `sub_${s}2`, `sub_${s}3`]);
      expect(await ids({ userId: user, provider: 'apple' })).toEqual([`sub_${s}1`, `sub_${s}3`]);
      expect(await ids({ userId: user, status: 'active' })).toEqual([`sub_${s}1`, `sub_${s}2`]);
      expect(await ids({ userId: user, provider: 'xsolla', status: 'expired' })).toEqual([]);
      expect(await ids({ provider: 'apple', status: 'active' })).toEqual([`sub_${s}1`, `sub_${s}4`]);
      expect(await ids(undefined)).toEqual([`sub_${s}1`, `sub_${s}2`, `sub_${s}3`, `sub_${s}4`]);
      const full = (await st.listSubscriptions({ userId: user, provider: 'xsolla' })).find((x) => x.id === `sub_${s}2`);
      expect(full).toStrictEqual(subs[1]);
    });

    it('listSubscriptions filters by appTransactionId (metadata.app_transaction_id) in the store, not after reading every row', async () => {
      const st = await store();
      const s = suffix();
      const app = `app_${s}`;
      await st.transaction(async (tx) => {
        await tx.saveSubscription(sampleSubscription(`${s}a`, { provider: 'apple', metadata: { app_transaction_id: app } }));
        await tx.saveSubscription(sampleSubscription(`${s}b`, { provider: 'apple', metadata: { app_transaction_id: `${app}x` } }));
        await tx.saveSubscription(sampleSubscription(`${s}c`, { provider: 'apple', metadata: {} }));
        await tx.saveSubscription(sampleSubscription(`${s}d`, { provider: 'apple', status: 'expired', metadata: { app_transaction_id: app } }));
      });
      const ids = async (f: Parameters<Store['listSubscriptions']>[0]): Promise<string[]> => (await st.listSubscriptions(f)).map((x) => x.id).sort();
      expect(await ids({ provider: 'apple', appTransactionId: app })).toEqual([`sub_${s}a`, `sub_${s}d`]);
      expect(await ids({ appTransactionId: app, status: 'active' })).toEqual([`sub_${s}a`]);
      expect(await ids({ appTransactionId: `none_${s}` })).toEqual([]);
    });

    it('listEvents returns events in insertion order, round-trips them exactly, and filters by type and limit', async () => {
      const st = await store();
      const s = suffix();
      const order = sampleOrder(s);
      const batch1: DomainEvent[] = [
        sampleEvent(s, 1),
        {
          id: `evt_${s}_2`,
          type: 'order.paid',
          created: iso(1_600_000_000_000),
          provider: 'xsolla',
          livemode: true,
          data: { object: order },
          source: { notification_id: `n_${s}`, notification_type: 'payment' },
        },
        sampleEvent(s, 3, { type: 'customer.subscription.canceled' } as Partial<DomainEvent>),
      ];
      const batch2: DomainEvent[] = [
        {
          id: `evt_${s}_4`,
          type: 'provider.notification.received',
          created: iso(1_500_000_000_000),
          provider: 'apple',
          livemode: false,
          data: { object: { anything: [1, { deep: null }], s: 'x' } },
          source: { notification_id: `n_${s}`, notification_type: 'METADATA_UPDATE' },
        },
        sampleEvent(s, 5),
      ];
      await st.transaction((tx) => tx.insertEvents(batch1));
      await st.transaction((tx) => tx.insertEvents(batch2));
      const all = [...batch1, ...batch2];
      const listed = (await st.listEvents()).filter((e) => e.id.startsWith(`evt_${s}_`));
      expect(listed).toStrictEqual(all);
      const renewed = (await st.listEvents({ type: 'customer.subscription.renewed' })).filter((e) => e.id.startsWith(`evt_${s}_`));
      expect(renewed.map((e) => e.id)).toEqual([`evt_${s}_1`, `evt_${s}_5`]);
      const everything = await st.listEvents();
      const limited = await st.listEvents({ limit: 2 });
      expect(limited).toStrictEqual(everything.slice(0, 2));
      const limitedType = await st.listEvents({ type: 'order.paid', limit: 1 });
      expect(limitedType).toHaveLength(1);
      expect(limitedType[0]?.type).toBe('order.paid');
      // event ids are unique
      await expect(st.transaction((tx) => tx.insertEvents([sampleEvent(s, 1)]))).rejects.toThrow();
      await expect(
        st.transaction(async (tx) => {
          await tx.insertEvents([sampleEvent(s, 6)]);
          await tx.insertEvents([sampleEvent(s, 6)]);
        }),
      ).rejects.toThrow();
      expect((await st.listEvents()).filter((e) => e.id === `evt_${s}_6`)).toHaveLength(0);
    });

    it('countNotifications counts inbox rows, optionally by provider', async () => {
      const st = await store();
      const s = suffix();
      const [all0, apple0, xsolla0] = [await st.countNotifications(), await st.countNotifications('apple'), await st.countNotifications('xsolla')];
      await st.transaction(async (tx) => {
        await tx.insertNotification(sampleInbox(`${s}1`));
        await tx.insertNotification(sampleInbox(`${s}2`));
        await tx.insertNotification(sampleInbox(`${s}1`, { provider: 'xsolla' }));
        await tx.insertNotification(sampleInbox(`${s}1`));
      });
      expect(await st.countNotifications()).toBe(all0 + 3);
      expect(await st.countNotifications('apple')).toBe(apple0 + 2);
      expect(await st.countNotifications('xsolla')).toBe(xsolla0 + 1);
    });

    it('getNotification round-trips raw_body, payload and nullable fields', async () => {
      const st = await store();
      const s = suffix();
      const full = sampleInbox(s);
      const bare = sampleInbox(`${s}x`, {
        provider: 'xsolla',
        subtype: null,
        environment: null,
        signed_at: null,
        payload: [1, 'a', { b: null }],
        raw_body: '',
        raw_sha256: null,
      });
      await st.transaction(async (tx) => {
        await tx.insertNotification(full);
        await tx.insertNotification(bare);
      });
      expect(await st.getNotification('apple', full.notification_id)).toStrictEqual(full);
      expect(await st.getNotification('xsolla', bare.notification_id)).toStrictEqual(bare);
      expect(await st.getNotification('xsolla', full.notification_id)).toBeNull();
    });

    it('getNotification returns an Apple-shaped raw body (nested JWS repeating the outer header) byte for byte', async () => {
      const st = await store();
      const s = suffix();
      const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
      const header = b64(JSON.stringify({ alg: 'ES256', x5c: [`MII${'Q'.repeat(1500)}${s}`, `MII${'R'.repeat(1500)}`, `MII${'S'.repeat(1500)}`] }));
      const payload = b64(
        JSON.stringify({
          notificationUUID: s,
          data: {
            signedTransactionInfo: `${header}.${b64('{"transactionId":"1"}')}.c2ln`,
            signedRenewalInfo: `${header}.${b64('{"autoRenewStatus":1,"note":"\u00e9"}')}.c2ln`,
          },
        }),
      );
      const row = sampleInbox(s, { raw_body: `{"signedPayload":"${header}.${payload}.c2lnbmF0dXJl"}` });
      const odd = sampleInbox(`${s}o`, { raw_body: ` {"signedPayload" : "${header}.${payload}.c2ln"}\n` });
      await st.transaction(async (tx) => {
        await tx.insertNotification(row);
        await tx.insertNotification(odd);
      });
      expect(await st.getNotification('apple', row.notification_id)).toStrictEqual(row);
      expect(await st.getNotification('apple', odd.notification_id)).toStrictEqual(odd);
    });

    it('concurrent transactions inserting the same notification: exactly one wins', async () => {
      const st = await store();
      const s = suffix();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          st.transaction(async (tx) => {
            const inserted = await tx.insertNotification(sampleInbox(s, { raw_body: `attempt ${i}` }));
            if (inserted) await tx.insertEvents([sampleEvent(s, i)]);
            return inserted;
          }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await st.listEvents()).filter((e) => e.id.startsWith(`evt_${s}_`))).toHaveLength(1);
    });

    it('notification settings: found by id or mountLocation, mountLocation unique, deletable, rolled back with the transaction', async () => {
      const st = await store();
      const s = suffix();
      const setting = sampleSetting(s);
      await st.transaction((tx) => tx.saveNotificationSetting(setting));
      expect(await st.getNotificationSetting(setting.id)).toStrictEqual(setting);
      expect(await st.getNotificationSetting(setting.mountLocation)).toStrictEqual(setting);
      await st.transaction(async (tx) => {
        expect(await tx.getNotificationSetting(setting.mountLocation)).toStrictEqual(setting);
        expect(await tx.getNotificationSetting(`missing_${s}`)).toBeNull();
      });
      const bare = sampleSetting(s, { description: null, componentDid: null, settings: { self_handle: false }, updated: iso(1_800_000_000_000) });
      await st.transaction((tx) => tx.saveNotificationSetting(bare));
      expect(await st.getNotificationSetting(setting.id)).toStrictEqual(bare);
      await expect(st.transaction((tx) => tx.saveNotificationSetting(sampleSetting(`${s}b`, { mountLocation: setting.mountLocation })))).rejects.toThrow();
      expect(await st.getNotificationSetting(`set_${s}b`)).toBeNull();
      await expect(
        st.transaction(async (tx) => {
          await tx.saveNotificationSetting(sampleSetting(`${s}c`));
          throw new Error('rollback setting');
        }),
      ).rejects.toThrow('rollback setting');
      expect(await st.getNotificationSetting(`set_${s}c`)).toBeNull();
      expect((await st.listNotificationSettings()).filter((x) => x.id.includes(s))).toStrictEqual([bare]);
      expect(await st.transaction((tx) => tx.deleteNotificationSetting(setting.id))).toBe(true);
      expect(await st.transaction((tx) => tx.deleteNotificationSetting(setting.id))).toBe(false);
      expect(await st.getNotificationSetting(setting.mountLocation)).toBeNull();
    });

    it('webhook endpoints round-trip every field; deleting one deletes its deliveries', async () => {
      const st = await store();
      const s = suffix();
      const full = sampleEndpoint(s);
      const bare = sampleEndpoint(`${s}b`, {
        enabled_events: ['*'],
        status: 'disabled',
        previous_secret: null,
        previous_secret_expires_at: null,
        description: null,
        metadata: {},
        secret_key_id: null,
        failing_since: null,
      });
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(full);
        await tx.saveWebhookEndpoint(bare);
        await tx.insertEvents([sampleEvent(s, 1)]);
        await tx.insertDeliveries([sampleDelivery(full.id, `evt_${s}_1`, 1_000_000_000_000)]);
      });
      expect(await st.getWebhookEndpoint(full.id)).toStrictEqual(full);
      expect(await st.getWebhookEndpoint(bare.id)).toStrictEqual(bare);
      expect((await st.listWebhookEndpoints()).filter((e) => e.id.includes(s))).toStrictEqual([full, bare]);
      const changed = { ...full, url: 'https://example.org/x', status: 'disabled' as const, updated: iso(1_800_000_000_000) };
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(changed);
        expect(await tx.getWebhookEndpoint(full.id)).toStrictEqual(changed);
        expect((await tx.listWebhookEndpoints()).filter((e) => e.id === full.id)).toStrictEqual([changed]);
      });
      expect(await st.getDelivery(`dlv_${full.id}_evt_${s}_1`)).toStrictEqual(sampleDelivery(full.id, `evt_${s}_1`, 1_000_000_000_000));
      expect(await st.transaction((tx) => tx.deleteWebhookEndpoint(full.id))).toBe(true);
      expect(await st.transaction((tx) => tx.deleteWebhookEndpoint(full.id))).toBe(false);
      expect(await st.getWebhookEndpoint(full.id)).toBeNull();
      expect(await st.getDelivery(`dlv_${full.id}_evt_${s}_1`)).toBeNull();
      await st.transaction((tx) => tx.deleteWebhookEndpoint(bare.id));
    });

    it('deliveries: a claim leaves the rows of excludeEndpointIds alone', async () => {
      const st = await store();
      const s = suffix();
      const t0 = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const busy = sampleEndpoint(`${s}busy`);
      const idle = sampleEndpoint(`${s}idle`);
      const events = [1, 2].map((n) => sampleEvent(`${s}x`, n));
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(busy);
        await tx.saveWebhookEndpoint(idle);
        await tx.insertEvents(events);
        await tx.insertDeliveries([sampleDelivery(busy.id, events[0]!.id, t0), sampleDelivery(idle.id, events[1]!.id, t0 + 1)]);
      });
      const now = iso(t0 + 10);
      const mine = (c: { delivery: { endpoint_id: string } }[]) => c.map((x) => x.delivery.endpoint_id).filter((id) => id.includes(s));
      const a = await st.claimDeliveries({ now, limit: 10, lockMs: 60_000, excludeEndpointIds: [busy.id] });
      expect(mine(a)).toStrictEqual([idle.id]);
      const b = await st.claimDeliveries({ now, limit: 10, lockMs: 60_000, excludeEndpointIds: [] });
      expect(mine(b)).toStrictEqual([busy.id]);
      // Leave nothing due for the other cases.
      const done = {
        status: 'delivered' as const,
        attempts: 1,
        next_attempt_at: null,
        last_status: 204,
        last_error: null,
        last_attempt_at: now,
        delivered_at: now,
      };
      for (const c of [...a, ...b]) await st.finishDelivery(c.delivery.id, c.claim, done);
    });

    it('deliveries: claims take due rows once, skip disabled endpoints, and only the claim holder records the outcome', async () => {
      const st = await store();
      const s = suffix();
      const t0 = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const ep = sampleEndpoint(s);
      const off = sampleEndpoint(`${s}off`, { status: 'disabled' });
      const events = [1, 2, 3, 4].map((n) => sampleEvent(s, n));
      const rows = [
        sampleDelivery(ep.id, events[0]!.id, t0),
        sampleDelivery(ep.id, events[1]!.id, t0 + 1),
        sampleDelivery(ep.id, events[2]!.id, t0 + 60_000),
        sampleDelivery(off.id, events[3]!.id, t0),
      ];
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(ep);
        await tx.saveWebhookEndpoint(off);
        await tx.insertEvents(events);
        await tx.insertDeliveries(rows);
      });
      await expect(st.transaction((tx) => tx.insertDeliveries([{ ...rows[0]!, id: `dlv_dup_${s}` }]))).rejects.toThrow();
      expect((await st.listDeliveries({ endpointId: ep.id })).map((d) => d.id)).toStrictEqual(rows.slice(0, 3).map((d) => d.id));
      expect((await st.listDeliveries({ eventId: events[1]!.id })).map((d) => d.id)).toStrictEqual([rows[1]!.id]);

      const now = iso(t0 + 10);
      const [a, b] = await Promise.all([st.claimDeliveries({ now, limit: 1, lockMs: 60_000 }), st.claimDeliveries({ now, limit: 5, lockMs: 60_000 })]);
      const claimed = [...a!, ...b!];
      expect(claimed.map((c) => c.delivery.id).sort()).toStrictEqual([rows[0]!.id, rows[1]!.id].sort());
      expect(a!.length).toBeLessThanOrEqual(1);
      const first = claimed.find((c) => c.delivery.id === rows[0]!.id)!;
      expect(first.delivery).toStrictEqual(rows[0]);
      expect(first.endpoint).toStrictEqual(ep);
      expect(JSON.parse(first.body)).toStrictEqual(events[0]);
      expect(await st.claimDeliveries({ now, limit: 10, lockMs: 60_000 })).toHaveLength(0);
      expect(await st.resetDelivery(first.delivery.id, now)).toBe('claimed');
      expect(await st.resetDelivery(`dlv_missing_${s}`, now)).toBeNull();

      const delivered = {
        status: 'delivered' as const,
        attempts: 1,
        next_attempt_at: null,
        last_status: 204,
        last_error: null,
        last_attempt_at: iso(t0 + 20),
        delivered_at: iso(t0 + 20),
      };
      expect(await st.finishDelivery(first.delivery.id, 'not-the-claim', delivered)).toBe(false);
      expect(await st.finishDelivery(first.delivery.id, first.claim, delivered)).toBe(true);
      expect(await st.finishDelivery(first.delivery.id, first.claim, delivered)).toBe(false);
      expect(await st.getDelivery(first.delivery.id)).toStrictEqual({ ...rows[0]!, ...delivered, updated: iso(t0 + 20) });

      // An expired claim can be taken over; the old holder can no longer record.
      const second = claimed.find((c) => c.delivery.id === rows[1]!.id)!;
      const later = iso(t0 + 120_000);
      const retaken = await st.claimDeliveries({ now: later, limit: 10, lockMs: 60_000 });
      expect(retaken.map((c) => c.delivery.id).sort()).toStrictEqual([rows[1]!.id, rows[2]!.id].sort());
      const gone = {
        status: 'disabled' as const,
        attempts: 1,
        next_attempt_at: null,
        last_status: 410,
        last_error: 'HTTP 410',
        last_attempt_at: later,
        delivered_at: null,
        disable_endpoint: true,
      };
      expect(await st.finishDelivery(second.delivery.id, second.claim, gone)).toBe(false);
      const r1 = retaken.find((c) => c.delivery.id === rows[1]!.id)!;
      expect(await st.finishDelivery(r1.delivery.id, r1.claim, gone)).toBe(true);
      expect((await st.getWebhookEndpoint(ep.id))?.status).toBe('disabled');
      // Released without an attempt: the row is unchanged and claimable again once its endpoint is enabled.
      const r2 = retaken.find((c) => c.delivery.id === rows[2]!.id)!;
      const { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at } = r2.delivery;
      expect(
        await st.finishDelivery(r2.delivery.id, r2.claim, { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at }),
      ).toBe(true);
      expect(await st.claimDeliveries({ now: later, limit: 10, lockMs: 60_000 })).toHaveLength(0);
      await st.transaction((tx) => tx.saveWebhookEndpoint({ ...ep, status: 'enabled' }));
      const again = await st.claimDeliveries({ now: later, limit: 10, lockMs: 60_000 });
      expect(again.map((c) => c.delivery.id)).toStrictEqual([rows[2]!.id]);
      expect(await st.finishDelivery(again[0]!.delivery.id, again[0]!.claim, { ...delivered, last_attempt_at: later, delivered_at: later })).toBe(true);

      const replayed = await st.resetDelivery(rows[1]!.id, later);
      expect(replayed).toStrictEqual({
        ...rows[1]!,
        status: 'pending',
        attempts: 0,
        next_attempt_at: later,
        last_status: 410,
        last_error: 'HTTP 410',
        last_attempt_at: later,
        updated: later,
      });
      expect(await st.listDeliveries({ status: 'disabled', endpointId: ep.id })).toHaveLength(0);
      expect((await st.listDeliveries({ status: 'delivered', endpointId: ep.id })).map((d) => d.id).sort()).toStrictEqual([rows[0]!.id, rows[2]!.id].sort());
      await st.transaction(async (tx) => {
        await tx.deleteWebhookEndpoint(ep.id);
        await tx.deleteWebhookEndpoint(off.id);
      });
    });

    it('entitlement grants (listEntitlementGrants, replaceEntitlementGrants): one set per subscription, read by user, sorted; replace deletes, moves between users, rolls back', async () => {
      const st = await store();
      // Optional for a custom store, but required for the `products` config: a store without them fails here, by name.
      if (typeof st.listEntitlementGrants !== 'function')
        throw new Error(`${st.name}: Store.listEntitlementGrants is missing (needed for the \`products\` config)`);
      const s = suffix();
      const [u1, u2, subA, subB] = [`user_${s}_1`, `user_${s}_2`, `sub_${s}_a`, `sub_${s}_b`];
      const grant = (sub: string, entitlement: string, user: string, over: Partial<EntitlementGrantRecord> = {}): EntitlementGrantRecord => ({
        subscription_id: sub,
        entitlement,
        user_id: user,
        provider: 'apple',
        product_id: 'com.example.pro.monthly',
        status: 'active',
        expires_at: iso(1_800_000_000_123),
        updated: iso(1_700_000_000_456),
        ...over,
      });
      const list = (u: string) => st.listEntitlementGrants!(u);
      await st.transaction(async (tx) => {
        if (typeof tx.replaceEntitlementGrants !== 'function' || typeof tx.listEntitlementGrants !== 'function') {
          throw new Error(`${st.name}: StoreTransaction.listEntitlementGrants / replaceEntitlementGrants are missing (needed for the \`products\` config)`);
        }
        await tx.replaceEntitlementGrants!(subA, [
          grant(subA, 'pro', u1),
          grant(subA, 'extra', u1, { status: 'in_grace_period', expires_at: null, provider: 'xsolla', product_id: 'plan_9' }),
        ]);
        await tx.replaceEntitlementGrants!(subB, [grant(subB, 'pro', u1, { status: 'canceled' })]);
        // Inside the transaction its own writes are read back.
        expect((await tx.listEntitlementGrants!(u1)).map((g) => `${g.entitlement}/${g.subscription_id}`)).toStrictEqual([
          `extra/${subA}`,
          `pro/${subA}`,
          `pro/${subB}`,
        ]);
      });
      expect(await list(u1)).toStrictEqual([
        grant(subA, 'extra', u1, { status: 'in_grace_period', expires_at: null, provider: 'xsolla', product_id: 'plan_9' }),
        grant(subA, 'pro', u1),
        grant(subB, 'pro', u1, { status: 'canceled' }),
      ]);
      // Replace: a grant no longer given is deleted, a kept one replaced.
      await st.transaction((tx) => tx.replaceEntitlementGrants!(subA, [grant(subA, 'pro', u1, { status: 'expired', expires_at: iso(1_800_000_999_000) })]));
      expect(await list(u1)).toStrictEqual([
        grant(subA, 'pro', u1, { status: 'expired', expires_at: iso(1_800_000_999_000) }),
        grant(subB, 'pro', u1, { status: 'canceled' }),
      ]);
      // The subscription moves to another user: its grants leave the first.
      await st.transaction((tx) => tx.replaceEntitlementGrants!(subA, [grant(subA, 'pro', u2)]));
      expect((await list(u1)).map((g) => g.subscription_id)).toStrictEqual([subB]);
      expect(await list(u2)).toStrictEqual([grant(subA, 'pro', u2)]);
      // A throwing unit of work leaves none of its grant writes.
      await expect(
        st.transaction(async (tx) => {
          await tx.replaceEntitlementGrants!(subB, []);
          throw new Error('boom in grants');
        }),
      ).rejects.toThrow('boom in grants');
      expect((await list(u1)).map((g) => g.subscription_id)).toStrictEqual([subB]);
      await st.transaction((tx) => tx.replaceEntitlementGrants!(subB, []));
      expect(await list(u1)).toStrictEqual([]);
      expect(await list(`nobody_${s}`)).toStrictEqual([]);
    });

    it('lifecycle sweep (claimSweepDue, releaseSweepClaim): due trials and overdue renewals only, each claimed once, kept across saves, released only by its holder', async () => {
      const st = await store();
      if (typeof st.claimSweepDue !== 'function' || typeof st.releaseSweepClaim !== 'function') {
        throw new Error(`${st.name}: Store.claimSweepDue / releaseSweepClaim are missing (needed for hooks.lifecycle.sweep and the worker's sweep)`);
      }
      const s = suffix();
      const DAY = 86_400_000;
      // Far before every other case's periods, so only this case's rows are due.
      const t0 = 1_500_000_000_000 + Math.floor(Math.random() * 1e9);
      const at = (id: string, status: Subscription['status'], end: number) => sampleSubscription(`${s}${id}`, { status, current_period_end: iso(end) });
      const subs = {
        trialSoon: at('a', 'trialing', t0 + 2 * DAY),
        trialLater: at('b', 'trialing', t0 + 10 * DAY),
        overdue: at('c', 'active', t0 - 2 * DAY),
        inGrace: at('d', 'active', t0 - 3_600_000),
        pastDue: at('e', 'past_due', t0 - 5 * DAY),
        canceled: at('f', 'canceled', t0 - 5 * DAY),
        trialOverdue: at('g', 'trialing', t0 - 3 * DAY),
        noEnd: sampleSubscription(`${s}h`, { status: 'active', current_period_end: null }),
      };
      await st.transaction(async (tx) => {
        for (const sub of Object.values(subs)) await tx.saveSubscription(sub);
      });
      const q = (now: number, over: { limit?: number; lockMs?: number } = {}) =>
        st.claimSweepDue!({
          now: iso(now),
          trialEndsBefore: iso(now + 3 * DAY),
          periodEndedBefore: iso(now - DAY),
          limit: over.limit ?? 10,
          lockMs: over.lockMs ?? 60_000,
        });
      const [a, b] = await Promise.all([q(t0, { limit: 2 }), q(t0)]);
      const claimed = [...a!, ...b!];
      expect(a!.length).toBeLessThanOrEqual(2);
      expect(claimed.map((c) => c.subscription.id).sort()).toStrictEqual([subs.trialSoon.id, subs.overdue.id, subs.trialOverdue.id].sort());
      // Oldest period end first within a claim; the subscription round-trips unchanged; claimed rows are not claimed again.
      expect(await q(t0 + 1)).toStrictEqual([]);
      const byId = new Map(claimed.map((c) => [c.subscription.id, c]));
      expect(byId.get(subs.overdue.id)!.subscription).toStrictEqual(subs.overdue);
      const single = a!.length === 2 ? a! : b!;
      expect(single.map((c) => Date.parse(c.subscription.current_period_end!))).toStrictEqual(
        [...single.map((c) => Date.parse(c.subscription.current_period_end!))].sort((x, y) => x - y),
      );
      // Saving a claimed subscription keeps the claim (the sweep's columns are the store's own).
      await st.transaction(async (tx) => tx.saveSubscription({ ...subs.trialOverdue, metadata: { saved: true } }));
      expect(await q(t0 + 2)).toStrictEqual([]);
      // Only the holder releases; released with a time, not due again before it; with null, due again at once.
      const trial = byId.get(subs.trialSoon.id)!;
      const overdue = byId.get(subs.overdue.id)!;
      expect(await st.releaseSweepClaim!(trial.subscription.id, 'not-the-claim', null)).toBe(false);
      expect(await st.releaseSweepClaim!(trial.subscription.id, trial.claim, iso(t0 + 2 * DAY))).toBe(true);
      expect(await st.releaseSweepClaim!(trial.subscription.id, trial.claim, null)).toBe(false);
      expect(await st.releaseSweepClaim!(overdue.subscription.id, overdue.claim, null)).toBe(true);
      expect((await q(t0 + 3)).map((c) => c.subscription.id)).toStrictEqual([subs.overdue.id]);
      // A claim that lapsed is taken again; the old holder can no longer release it.
      const g = byId.get(subs.trialOverdue.id)!;
      const retaken = await q(t0 + 120_000);
      expect(retaken.map((c) => c.subscription.id).sort()).toStrictEqual([subs.overdue.id, subs.trialOverdue.id].sort());
      expect(retaken.find((c) => c.subscription.id === subs.trialOverdue.id)!.subscription.metadata).toStrictEqual({ saved: true });
      expect(await st.releaseSweepClaim!(g.subscription.id, g.claim, null)).toBe(false);
      for (const c of retaken) expect(await st.releaseSweepClaim!(c.subscription.id, c.claim, iso(t0 + 10 * DAY))).toBe(true);
      // The trial released until its end is not due again before then (and no longer a trial about to end after);
      // the renewal that was still in its grace period is overdue by now.
      expect((await q(t0 + 2 * DAY - 1000)).map((c) => c.subscription.id)).toStrictEqual([subs.inGrace.id]);
    });

    it("getLatestOrderByOriginNo: the newest order of (provider, origin_no), including this transaction's own writes; null when none", async () => {
      const st = await store();
      const s = suffix();
      const origin = `origin_latest_${s}`;
      await st.transaction(async (tx) => {
        if (typeof tx.getLatestOrderByOriginNo !== 'function') {
          throw new Error(
            `${st.name}: StoreTransaction.getLatestOrderByOriginNo is missing (optional; Xsolla per-subscription settings need it when the payment comes first)`,
          );
        }
        await tx.insertOrder(sampleOrder(`${s}_old`, { origin_no: origin, provider: 'xsolla', created: iso(1_700_000_000_000) }));
        await tx.insertOrder(sampleOrder(`${s}_other`, { origin_no: origin, provider: 'apple', created: iso(1_900_000_000_000) }));
      });
      await st.transaction(async (tx) => {
        expect((await tx.getLatestOrderByOriginNo!('xsolla', origin))?.id).toBe(`ord_${s}_old`);
        await tx.insertOrder(sampleOrder(`${s}_new`, { origin_no: origin, provider: 'xsolla', created: iso(1_800_000_000_000) }));
        expect(await tx.getLatestOrderByOriginNo!('xsolla', origin)).toStrictEqual(
          sampleOrder(`${s}_new`, { origin_no: origin, provider: 'xsolla', created: iso(1_800_000_000_000) }),
        );
        expect(await tx.getLatestOrderByOriginNo!('xsolla', `none_${s}`)).toBeNull();
      });
    });

    // Retention pruning (optional method): rows dated 1995, cutoffs in 1998, so no other case's rows qualify.
    const OLD = 800_000_000_000;
    const CUTOFF = iso(900_000_000_000);
    const cutoffs = (limit: number, over: Partial<PruneOptions> = {}): PruneOptions => ({
      rawBodiesBefore: CUTOFF,
      notificationsBefore: CUTOFF,
      eventsBefore: CUTOFF,
      deliveredBefore: CUTOFF,
      failedBefore: CUTOFF,
      receiptsBefore: CUTOFF,
      limit,
      ...over,
    });

    it('prune: drops raw bodies (payload and raw_sha256 stay), deletes dedup keys by provider date (null kept), finished deliveries, events without deliveries, old receipts; orders and subscriptions stay', async () => {
      const st = await store();
      if (!st.prune) return;
      const s = suffix();
      const old = (k: string, signed: string | null) => sampleInbox(`${s}${k}`, { received_at: iso(OLD), signed_at: signed, raw_sha256: `sha_${k}` });
      const gone = old('gone', iso(OLD));
      const future = old('future', iso(2_000_000_000_000));
      const undated = old('undated', null);
      const fresh = sampleInbox(`${s}fresh`, { raw_sha256: 'sha_fresh' });
      const ev = (n: number) => sampleEvent(s, n, { created: iso(OLD) });
      await st.transaction(async (tx) => {
        for (const r of [gone, future, undated, fresh]) await tx.insertNotification(r);
        await tx.insertEvents([ev(1), ev(2), ev(3), ev(4), sampleEvent(s, 5)]);
        await tx.insertDeliveries([
          sampleDelivery(`we_${s}`, `evt_${s}_2`, OLD), // pending: kept, and so is its event
          sampleDelivery(`we_${s}`, `evt_${s}_3`, OLD, { status: 'delivered', delivered_at: iso(OLD), next_attempt_at: null }),
          sampleDelivery(`we_${s}`, `evt_${s}_4`, OLD, { status: 'failed', next_attempt_at: null }),
        ]);
        await tx.saveOrder(sampleOrder(s, { created: iso(OLD), updated: iso(OLD) }));
        await tx.saveSubscription(sampleSubscription(s, { created: iso(OLD), updated: iso(OLD) }));
      });
      if (st.recordWebhookReceipt && st.hasWebhookReceipt) await st.recordWebhookReceipt(`msg_${s}`, iso(OLD), iso(0));
      // failed rows have their own cutoff: an earlier one keeps them (and their event).
      const counts = await st.prune(cutoffs(1000, { failedBefore: iso(700_000_000_000) }));
      expect(fiveKinds(counts)).toStrictEqual({ deliveries: 1, events: 2, rawBodies: 3, notifications: 1, receipts: st.recordWebhookReceipt ? 1 : 0 });
      expect(await st.getNotification('apple', gone.notification_id)).toBeNull();
      expect(await st.getNotification('apple', future.notification_id)).toStrictEqual({ ...future, raw_body: null });
      expect(await st.getNotification('apple', undated.notification_id)).toStrictEqual({ ...undated, raw_body: null });
      expect(await st.getNotification('apple', fresh.notification_id)).toStrictEqual(fresh);
      const events = (await st.listEvents()).map((e) => e.id).filter((id) => id.startsWith(`evt_${s}_`));
      expect(events).toStrictEqual([`evt_${s}_2`, `evt_${s}_4`, `evt_${s}_5`]);
      expect((await st.getDelivery(`dlv_we_${s}_evt_${s}_2`))?.status).toBe('pending');
      expect(await st.getDelivery(`dlv_we_${s}_evt_${s}_3`)).toBeNull();
      expect((await st.getDelivery(`dlv_we_${s}_evt_${s}_4`))?.status).toBe('failed');
      if (st.hasWebhookReceipt) expect(await st.hasWebhookReceipt(`msg_${s}`, iso(0))).toBe(false);
      expect(await st.getOrderByNo(sampleOrder(s).no)).not.toBeNull();
      expect(await st.getSubscription('apple', sampleSubscription(s).contract_id)).not.toBeNull();
      // The failed row goes at its own cutoff, then its event; a second pass finds nothing more.
      expect(fiveKinds(await st.prune(cutoffs(1000)))).toStrictEqual({ deliveries: 1, events: 1, rawBodies: 0, notifications: 0, receipts: 0 });
      expect(fiveKinds(await st.prune(cutoffs(1000)))).toStrictEqual({ deliveries: 0, events: 0, rawBodies: 0, notifications: 0, receipts: 0 });
      // Inserting a pruned key again is a new notification (the freshness rule keeps providers from doing so).
      expect(await st.transaction((tx) => tx.insertNotification(gone))).toBe(true);
      await st.prune(cutoffs(1000));
    });

    it('prune: at most `limit` rows per kind per batch; concurrent batches remove each row once', async () => {
      const st = await store();
      if (!st.prune) return;
      const s = suffix();
      const rows = Array.from({ length: 7 }, (_, i) => sampleInbox(`${s}_${i}`, { received_at: iso(OLD + i), signed_at: iso(OLD + i) }));
      await st.transaction(async (tx) => {
        for (const r of rows) await tx.insertNotification(r);
      });
      const first = await st.prune(cutoffs(3, { notificationsBefore: iso(0) }));
      expect([first.rawBodies, first.notifications]).toStrictEqual([3, 0]);
      expect((await st.getNotification('apple', rows[0]!.notification_id))?.raw_body).toBeNull();
      expect((await st.getNotification('apple', rows[6]!.notification_id))?.raw_body).toBe(rows[6]!.raw_body);
      const together = await Promise.all([st.prune(cutoffs(2)), st.prune(cutoffs(2)), st.prune(cutoffs(2))]);
      const again = await st.prune(cutoffs(100));
      const sum = (k: keyof PruneCounts) => together.reduce((a, c) => a + (c[k] ?? 0), 0) + (again[k] ?? 0);
      // A concurrent batch may delete a key before another drops its body: at most 4 bodies, exactly 7 keys.
      expect(sum('rawBodies')).toBeLessThanOrEqual(4);
      expect(sum('notifications')).toBe(7);
      for (const r of rows) expect(await st.getNotification('apple', r.notification_id)).toBeNull();
    });

    it('delivery attempt history (listDeliveryAttempts): finishDelivery and finishDelivered append one row per attempt made, oldest first, reasons cut to 200 characters; a release without an attempt or a stale claim appends nothing', async () => {
      const st = await store();
      if (!st.listDeliveryAttempts) return;
      const s = suffix();
      const t0 = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const ep = sampleEndpoint(`${s}hist`);
      const events = [1, 2].map((n) => sampleEvent(`${s}h`, n));
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(ep);
        await tx.insertEvents(events);
        await tx.insertDeliveries(events.map((e) => sampleDelivery(ep.id, e.id, t0)));
      });
      const [a, b] = events.map((e) => `dlv_${ep.id}_${e.id}`) as [string, string];
      const claimMine = async (at: number) =>
        (await st.claimDeliveries({ now: iso(at), limit: 50, lockMs: 60_000 })).filter((c) => c.delivery.endpoint_id === ep.id);
      let mine = await claimMine(t0 + 10);
      expect(mine.map((c) => c.delivery.id).sort()).toStrictEqual([a, b].sort());
      const claimOf = (id: string) => mine.find((c) => c.delivery.id === id)!.claim;
      const failed = {
        status: 'pending' as const,
        attempts: 1,
        next_attempt_at: iso(t0 + 100),
        last_status: 503,
        last_error: 'x'.repeat(500),
        last_attempt_at: iso(t0 + 20),
        delivered_at: null,
        duration_ms: 31.6,
      };
      expect(await st.finishDelivery(a, claimOf(a), failed)).toBe(true);
      expect(await st.finishDelivery(a, 'not-the-claim', failed)).toBe(false);
      // Released without an attempt (shutdown): no history row.
      expect(
        await st.finishDelivery(b, claimOf(b), {
          ...failed,
          attempts: 0,
          last_status: null,
          last_error: null,
          last_attempt_at: null,
          next_attempt_at: iso(t0 + 100),
        }),
      ).toBe(true);
      mine = await claimMine(t0 + 200);
      if (st.finishDelivered) {
        expect(await st.finishDelivered([{ id: a, last_status: 200, duration_ms: 7 }], mine.find((c) => c.delivery.id === a)!.claim, iso(t0 + 210))).toBe(1);
        expect(await st.finishDelivered([{ id: b, last_status: 200 }], 'not-the-claim', iso(t0 + 210))).toBe(0);
      } else {
        const ok = {
          status: 'delivered' as const,
          attempts: 2,
          next_attempt_at: null,
          last_status: 200,
          last_error: null,
          last_attempt_at: iso(t0 + 210),
          delivered_at: iso(t0 + 210),
          duration_ms: 7,
        };
        expect(await st.finishDelivery(a, mine.find((c) => c.delivery.id === a)!.claim, ok)).toBe(true);
      }
      await st.finishDelivery(b, mine.find((c) => c.delivery.id === b)!.claim, {
        ...failed,
        status: 'failed',
        attempts: 1,
        last_error: 'refused',
        last_attempt_at: iso(t0 + 220),
        next_attempt_at: null,
        duration_ms: null,
      });
      const history = await st.listDeliveryAttempts(a);
      expect(history.map(({ id: _id, ...rest }) => rest)).toStrictEqual([
        { delivery_id: a, endpoint_id: ep.id, attempt: 1, status_code: 503, error: `${'x'.repeat(199)}…`, duration_ms: 32, at: iso(t0 + 20) },
        { delivery_id: a, endpoint_id: ep.id, attempt: 2, status_code: 200, error: null, duration_ms: 7, at: iso(t0 + 210) },
      ]);
      expect(new Set(history.map((x) => x.id)).size).toBe(2);
      expect((await st.listDeliveryAttempts(b)).map((x) => [x.attempt, x.status_code, x.error, x.duration_ms])).toStrictEqual([[1, 503, 'refused', null]]);
      expect(await st.listDeliveryAttempts(`dlv_${s}_none`)).toStrictEqual([]);
      // The delivery row itself keeps the whole last error.
      expect((await st.getDelivery(b))?.last_error).toBe('refused');
    });

    it('recordNotificationOutcome and the attempt history are pruned: outcomes with raw bodies (rawBodiesBefore), attempts once older than both delivery cutoffs', async () => {
      const st = await store();
      if (!st.prune || !st.recordNotificationOutcome) return;
      const s = suffix();
      const OLD_OUTCOME = 850_000_000_000;
      const row = (k: string, at: number) => ({
        id: `nout_${s}${k}`,
        provider: 'apple' as Provider,
        outcome: 'rejected' as const,
        code: 'SIGNATURE_INVALID',
        status: 400,
        notification_id: null,
        notification_type: null,
        reason: 'r'.repeat(300),
        received_at: iso(at),
      });
      await st.recordNotificationOutcome(row('a', OLD_OUTCOME));
      await st.recordNotificationOutcome(row('b', OLD_OUTCOME + 1));
      await st.recordNotificationOutcome(row('fresh', 1_900_000_000_000));
      const CUT = iso(860_000_000_000);
      const base = { notificationsBefore: iso(0), eventsBefore: iso(0), receiptsBefore: iso(0), limit: 1000 };
      // Only outcomes older than rawBodiesBefore go.
      const first = await st.prune({ ...base, rawBodiesBefore: CUT, deliveredBefore: iso(0), failedBefore: iso(0) });
      expect(first.outcomes).toBe(2);
      expect((await st.prune({ ...base, rawBodiesBefore: CUT, deliveredBefore: iso(0), failedBefore: iso(0) })).outcomes).toBe(0);
      if (!st.listDeliveryAttempts) return;
      const ep = sampleEndpoint(`${s}pr`);
      const ev = sampleEvent(`${s}pr`, 1);
      await st.transaction(async (tx) => {
        await tx.saveWebhookEndpoint(ep);
        await tx.insertEvents([ev]);
        await tx.insertDeliveries([sampleDelivery(ep.id, ev.id, OLD_OUTCOME)]);
      });
      const id = `dlv_${ep.id}_${ev.id}`;
      const [c] = (await st.claimDeliveries({ now: iso(OLD_OUTCOME + 10), limit: 100, lockMs: 60_000 })).filter((x) => x.delivery.id === id);
      const pending = {
        status: 'pending' as const,
        attempts: 1,
        next_attempt_at: iso(1_900_000_000_000),
        last_status: 500,
        last_error: 'boom',
        delivered_at: null,
      };
      expect(await st.finishDelivery(id, c!.claim, { ...pending, last_attempt_at: iso(OLD_OUTCOME + 20) })).toBe(true);
      // Older than the delivered cutoff but not the failed one: kept.
      await st.prune({ ...base, rawBodiesBefore: iso(0), deliveredBefore: CUT, failedBefore: iso(0) });
      expect(await st.listDeliveryAttempts(id)).toHaveLength(1);
      await st.prune({ ...base, rawBodiesBefore: iso(0), deliveredBefore: CUT, failedBefore: CUT });
      expect(await st.listDeliveryAttempts(id)).toStrictEqual([]);
      // The pending row itself is never pruned.
      expect((await st.getDelivery(id))?.status).toBe('pending');
    });

    it('transaction returns the value of fn', async () => {
      const st = await store();
      expect(await st.transaction(async () => ({ ok: 42 }))).toStrictEqual({ ok: 42 });
    });
  });
}
