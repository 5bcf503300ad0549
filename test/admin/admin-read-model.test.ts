import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminReadModel, type AdminReadModel, type Page } from '../../src/admin/read-model.js';
import type { DomainEvent } from '../../src/events/types.js';
import { eventId } from '../../src/core/ids.js';
import type { Store } from '../../src/store/types.js';
import { sampleDelivery, sampleEndpoint, sampleEvent, sampleInbox, sampleOrder, sampleSubscription } from '../../src/testing/store-conformance.js';
import { codeOf } from '../helpers/code-of.js';
import { EVERY_STORE } from '../helpers/databases.js';

const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const at = (minutesAgo: number): string => new Date(NOW - minutesAgo * 60_000).toISOString();
const XSS = '<script>alert(1)</script>';

const subA = sampleSubscription('a', { id: 'sub_a', contract_id: 'cA', user_id: 'u1', status: 'active', product_id: 'pro', created: at(300) });
const subB = sampleSubscription('b', {
  id: 'sub_b',
  provider: 'xsolla',
  contract_id: 'cB',
  user_id: 'u2',
  status: 'trialing',
  product_id: 'basic',
  created: at(200),
});
const subC = sampleSubscription('c', { id: 'sub_c', contract_id: 'cC', user_id: 'u1', status: 'canceled', product_id: 'pro', created: at(100) });
const orders = [
  sampleOrder('a1', { no: 'noA1', trade_no: 'txA1', origin_no: 'cA', user_id: 'u1', created: at(290) }),
  sampleOrder('a2', { no: 'noA2', trade_no: 'txA2', origin_no: 'cA', user_id: 'u1', created: at(280), status: 'refunded' }),
  sampleOrder('b1', { provider: 'xsolla', no: 'noB1', trade_no: 'txB1', origin_no: 'cB', user_id: 'u2', created: at(190) }),
];
/** n0 newest; n3 and n4 share a received_at (ties are ordered by the row id); n6 is older than 48 hours. */
const inbox = [
  sampleInbox('n0', { notification_id: 'n0', received_at: at(10), notification_type: XSS, payload: { note: XSS } }),
  // A real Apple body: SQL stores keep it compact (one certificate chain), the read model shows it byte for byte.
  sampleInbox('n1', {
    notification_id: 'n1',
    received_at: at(70),
    raw_body: JSON.stringify({ signedPayload: readFileSync(new URL('../fixtures/apple-real/04-notification-DID_RENEW.jws', import.meta.url), 'utf8').trim() }),
  }),
  sampleInbox('n2', { notification_id: 'n2', received_at: at(130), provider: 'xsolla', notification_type: 'order_paid' }),
  sampleInbox('n3', { notification_id: 'n3', received_at: at(190) }),
  sampleInbox('n4', { notification_id: 'n4', received_at: at(190) }),
  sampleInbox('n5', { notification_id: 'n5', received_at: at(250), notification_type: 'REFUND' }),
  sampleInbox('n6', { notification_id: 'n6', received_at: at(49 * 60) }),
];
const source = (n: string) => ({ notification_id: n, notification_type: 'DID_RENEW' });
const events: DomainEvent[] = [
  sampleEvent('x', 0, { id: eventId('apple', 'n1', 0), data: { object: subA }, source: source('n1') } as Partial<DomainEvent>),
  sampleEvent('x', 1, { id: eventId('apple', 'n1', 1), type: 'order.paid', data: { object: orders[0] }, source: source('n1') } as Partial<DomainEvent>),
  sampleEvent('x', 2, { id: eventId('apple', 'n5', 0), type: 'order.refunded', data: { object: orders[1] }, source: source('n5') } as Partial<DomainEvent>),
  sampleEvent('x', 3, { id: eventId('xsolla', 'n2', 0), provider: 'xsolla', data: { object: subB }, source: source('n2') } as Partial<DomainEvent>),
  // Another notification's event whose JSON mentions cA in another field only: not part of sub_a's timeline.
  sampleEvent('x', 4, { id: eventId('apple', 'n3', 0), data: { object: { ...subC, metadata: { note: 'cA' } } }, source: source('n3') } as Partial<DomainEvent>),
];
const endpoint = sampleEndpoint('e1', { id: 'we_1' });
const deliveries = [
  sampleDelivery('we_1', events[0]!.id, NOW, {
    id: 'dlv_1',
    status: 'failed',
    attempts: 8,
    last_status: 500,
    last_error: XSS,
    created: at(69),
    next_attempt_at: null,
  }),
  sampleDelivery('we_1', events[1]!.id, NOW, { id: 'dlv_2', status: 'pending', created: at(68) }),
  sampleDelivery('notifier', events[0]!.id, NOW, { id: 'dlv_3', status: 'delivered', created: at(67), next_attempt_at: null }),
  sampleDelivery('we_1', events[2]!.id, NOW, { id: 'dlv_4', status: 'pending', created: at(249) }),
];

async function seed(store: Store): Promise<void> {
  await store.transaction(async (tx) => {
    for (const n of inbox) await tx.insertNotification(n);
    for (const o of orders) await tx.insertOrder(o);
    for (const s of [subA, subB, subC]) await tx.saveSubscription(s);
    await tx.insertEvents(events);
    await tx.saveWebhookEndpoint(endpoint);
    await tx.insertDeliveries(deliveries);
    if (tx.replaceEntitlementGrants) {
      await tx.replaceEntitlementGrants('sub_a', [
        {
          subscription_id: 'sub_a',
          entitlement: 'pro',
          user_id: 'u1',
          provider: 'apple',
          product_id: 'pro',
          status: 'active',
          expires_at: at(-600),
          updated: at(5),
        },
      ]);
      await tx.replaceEntitlementGrants('sub_c', [
        {
          subscription_id: 'sub_c',
          entitlement: 'pro',
          user_id: 'u1',
          provider: 'apple',
          product_id: 'pro',
          status: 'canceled',
          expires_at: at(5),
          updated: at(5),
        },
      ]);
    }
  });
}

async function all<T>(fetch: (after: string | null) => Promise<Page<T>>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let after: string | null = null;
  let pages = 0;
  do {
    const page: Page<T> = await fetch(after);
    items.push(...page.items);
    after = page.next;
    pages++;
  } while (after && pages < 50);
  return { items, pages };
}

describe.each(EVERY_STORE)('admin read model on %s', (_name, make) => {
  let store: Store;
  let close: () => Promise<void>;
  let rm: AdminReadModel;
  beforeAll(async () => {
    ({ store, close } = await make());
    await seed(store);
    rm = adminReadModel(store);
  });
  afterAll(() => close());

  it('lists notifications newest first, page by page (keyset), without body or payload', async () => {
    const { items, pages } = await all((after) => rm.listNotifications({}, { after, limit: 2 }));
    expect(pages).toBe(4);
    const ids = items.map((n) => n.notification_id);
    expect(ids).toHaveLength(7);
    expect(new Set(ids).size).toBe(7);
    expect(ids.slice(0, 3)).toEqual(['n0', 'n1', 'n2']);
    expect(ids.slice(3, 5).sort()).toEqual(['n3', 'n4']);
    expect(ids.slice(5)).toEqual(['n5', 'n6']);
    expect(items[0]).toEqual({
      provider: 'apple',
      notification_id: 'n0',
      notification_type: XSS,
      subtype: 'BILLING_RECOVERY',
      environment: 'Sandbox',
      signed_at: inbox[0]!.signed_at,
      received_at: at(10),
    });
    // A page boundary between the two rows of one received_at loses neither.
    const three = await all((after) => rm.listNotifications({}, { after, limit: 4 }));
    expect(new Set(three.items.map((n) => n.notification_id)).size).toBe(7);
  });

  it('filters notifications by provider, type and time range', async () => {
    const ids = async (f: Parameters<AdminReadModel['listNotifications']>[0]) => (await rm.listNotifications(f)).items.map((n) => n.notification_id);
    expect(await ids({ provider: 'xsolla' })).toEqual(['n2']);
    expect(await ids({ type: 'REFUND' })).toEqual(['n5']);
    expect(await ids({ since: at(130), until: at(10) })).toEqual(['n1', 'n2']);
    expect((await ids({ provider: 'apple', since: at(190) })).sort()).toEqual(['n0', 'n1', 'n3', 'n4']);
  });

  it('refuses a cursor it did not issue, a bad date and a bad limit (INVALID_ARGUMENT)', async () => {
    expect(await codeOf(rm.listNotifications({}, { after: 'nope' }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(rm.listOrders({}, { after: Buffer.from('["x","y"]').toString('base64url') }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(rm.listNotifications({ since: 'yesterday' }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(rm.listDeliveries({}, { limit: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(rm.listDeliveries({}, { limit: 201 }))).toBe('INVALID_ARGUMENT');
  });

  it('opens a notification with its payload, the events it emitted in order and their deliveries', async () => {
    const d = await rm.getNotification('apple', 'n1');
    expect(d!.notification.raw_body).toBe(inbox[1]!.raw_body);
    expect(d!.notification.payload).toEqual(inbox[1]!.payload);
    expect(d!.events.map((e) => e.id)).toEqual([events[0]!.id, events[1]!.id]);
    expect(d!.events[1]!.data.object).toEqual(orders[0]);
    expect(d!.deliveries.map((x) => x.id)).toEqual(['dlv_3', 'dlv_1', 'dlv_2']);
    expect(d!.deliveries[1]).toEqual(deliveries[0]);
    expect((await rm.getNotification('apple', 'n0'))!.notification.payload).toEqual({ note: XSS });
    expect(await rm.getNotification('xsolla', 'n1')).toBeNull();
    expect((await rm.getNotification('apple', 'n4'))!.events).toEqual([]);
  });

  it('finds subscriptions by user id, contract id, subscription id, order no and transaction id', async () => {
    const ids = async (q: string) => (await rm.searchSubscriptions(q)).subscriptions.map((s) => s.id);
    expect(await ids('u1')).toEqual(['sub_c', 'sub_a']);
    expect(await ids('cB')).toEqual(['sub_b']);
    expect(await ids('sub_b')).toEqual(['sub_b']);
    expect(await ids('noA1')).toEqual(['sub_a']);
    expect(await ids('txA2')).toEqual(['sub_a']);
    expect((await rm.searchSubscriptions('txA2')).orders.map((o) => o.id)).toEqual([orders[1]!.id]);
    expect(await rm.searchSubscriptions("nobody' OR 1=1 --")).toEqual({ subscriptions: [], orders: [] });
    expect((await rm.searchSubscriptions('u1')).subscriptions[1]).toEqual(subA);
  });

  it('opens a subscription with its orders, grants and timeline (its events and their notifications, newest first)', async () => {
    const d = (await rm.getSubscription('sub_a'))!;
    expect(d.subscription).toEqual(subA);
    expect(d.orders.map((o) => o.no)).toEqual(['noA2', 'noA1']);
    expect(d.events.map((e) => e.id)).toEqual([events[2]!.id, events[1]!.id, events[0]!.id]);
    expect(d.notifications.map((n) => n.notification_id)).toEqual(['n1', 'n5']);
    if (store.listEntitlementGrants) expect(d.grants.map((g) => [g.subscription_id, g.entitlement, g.status])).toEqual([['sub_a', 'pro', 'active']]);
    expect(await rm.getSubscription('sub_nope')).toBeNull();
  });

  it('lists orders newest first with filters, page by page', async () => {
    const { items, pages } = await all((after) => rm.listOrders({}, { after, limit: 1 }));
    expect(pages).toBe(3);
    expect(items.map((o) => o.no)).toEqual(['noB1', 'noA2', 'noA1']);
    expect(items[2]).toEqual(orders[0]);
    expect((await rm.listOrders({ status: 'refunded' })).items.map((o) => o.no)).toEqual(['noA2']);
    expect((await rm.listOrders({ provider: 'apple', userId: 'u1' }, { limit: 1 })).next).not.toBeNull();
    expect((await rm.listOrders({ userId: 'u2' })).items.map((o) => o.no)).toEqual(['noB1']);
  });

  it('lists deliveries by status and endpoint with their event type, and counts the backlog by endpoint', async () => {
    const failed = await rm.listDeliveries({ status: 'failed' });
    expect(failed).toEqual({ items: [{ ...deliveries[0], event_type: events[0]!.type }], next: null });
    const pending = await all((after) => rm.listDeliveries({ status: 'pending', endpointId: 'we_1' }, { after, limit: 1 }));
    expect(pending.items.map((x) => [x.id, x.event_type])).toEqual([
      ['dlv_2', 'order.paid'],
      ['dlv_4', 'order.refunded'],
    ]);
    expect(await rm.deliveryBacklog()).toEqual([
      { endpoint_id: 'we_1', status: 'failed', count: 1, oldest: at(69) },
      { endpoint_id: 'we_1', status: 'pending', count: 2, oldest: at(249) },
    ]);
  });

  it('counts the overview: subscriptions by status, provider and product; notifications per hour for 48 hours; the backlog; entitlements', async () => {
    const o = await rm.overview(new Date(NOW).toISOString());
    expect(o.subscriptions).toEqual([
      { status: 'active', provider: 'apple', product_id: 'pro', count: 1 },
      { status: 'canceled', provider: 'apple', product_id: 'pro', count: 1 },
      { status: 'trialing', provider: 'xsolla', product_id: 'basic', count: 1 },
    ]);
    const hour = (m: number) => at(m).slice(0, 13);
    expect(o.notificationsPerHour).toEqual([
      { hour: hour(250), provider: 'apple', count: 1 },
      { hour: hour(190), provider: 'apple', count: 2 },
      { hour: hour(130), provider: 'xsolla', count: 1 },
      { hour: hour(70), provider: 'apple', count: 1 },
      { hour: hour(10), provider: 'apple', count: 1 },
    ]);
    expect(o.deliveries).toEqual({ pending: 2, failed: 1, oldestPending: at(249) });
    if (store.listEntitlementGrants)
      expect(o.entitlements).toEqual([
        { entitlement: 'pro', status: 'active', count: 1 },
        { entitlement: 'pro', status: 'canceled', count: 1 },
      ]);
  });

  it('records the audit log and lists it newest first, page by page', async () => {
    await rm.recordAudit({ at: at(3), actor: `ops ${XSS}`, action: 'delivery.replay', target: 'dlv_1', result: 'ok' });
    await rm.recordAudit({ at: at(2), actor: 'ops', action: 'endpoint.rotate_secret', target: 'we_1', result: 'ok' });
    await rm.recordAudit({ at: at(1), actor: 'ops', action: 'endpoint.disable', target: 'we_2', result: 'NOT_FOUND' });
    const { items, pages } = await all((after) => rm.listAudit({ after, limit: 2 }));
    expect(pages).toBe(2);
    expect(items.map((x) => [x.at, x.actor, x.action, x.target, x.result])).toEqual([
      [at(1), 'ops', 'endpoint.disable', 'we_2', 'NOT_FOUND'],
      [at(2), 'ops', 'endpoint.rotate_secret', 'we_1', 'ok'],
      [at(3), `ops ${XSS}`, 'delivery.replay', 'dlv_1', 'ok'],
    ]);
    expect(new Set(items.map((x) => x.id)).size).toBe(3);
  });

  it('lists duplicates, stale and rejected requests by outcome, newest first and paged; the overview counts rejections by code over 48 hours', async () => {
    const outcome = (id: string, outcome: 'duplicate' | 'stale' | 'rejected', minutesAgo: number, over: Record<string, unknown> = {}) =>
      store.recordNotificationOutcome!({
        id,
        provider: 'apple',
        outcome,
        code: outcome === 'rejected' ? 'SIGNATURE_INVALID' : outcome.toUpperCase(),
        status: outcome === 'rejected' ? 400 : 200,
        notification_id: outcome === 'rejected' ? null : 'n1',
        notification_type: outcome === 'rejected' ? null : 'DID_RENEW',
        reason: outcome === 'rejected' ? XSS : null,
        received_at: at(minutesAgo),
        ...over,
      });
    await outcome('o1', 'rejected', 5);
    await outcome('o2', 'rejected', 6, { code: 'INVALID_PAYLOAD', provider: 'xsolla' });
    await outcome('o3', 'rejected', 7);
    await outcome('o4', 'rejected', 49 * 60); // older than 48 hours: listed, not counted
    await outcome('o5', 'duplicate', 8);
    await outcome('o6', 'stale', 9);
    const rejected = await all((after) => rm.listOutcomes({ outcome: 'rejected' }, { after, limit: 2 }));
    expect(rejected.pages).toBe(2);
    expect(rejected.items.map((x) => x.id)).toEqual(['o1', 'o2', 'o3', 'o4']);
    expect(rejected.items[0]).toEqual({
      id: 'o1',
      provider: 'apple',
      outcome: 'rejected',
      code: 'SIGNATURE_INVALID',
      status: 400,
      notification_id: null,
      notification_type: null,
      reason: XSS,
      received_at: at(5),
    });
    expect((await rm.listOutcomes({ outcome: 'duplicate' })).items.map((x) => [x.id, x.notification_id])).toEqual([['o5', 'n1']]);
    expect((await rm.listOutcomes({ outcome: 'stale' })).items.map((x) => x.id)).toEqual(['o6']);
    expect((await rm.listOutcomes({ provider: 'xsolla' })).items.map((x) => x.id)).toEqual(['o2']);
    expect((await rm.listOutcomes({ since: at(8), until: at(5) })).items.map((x) => x.id)).toEqual(['o2', 'o3', 'o5']);
    expect((await rm.overview(new Date(NOW).toISOString())).rejections).toEqual([
      { code: 'SIGNATURE_INVALID', provider: 'apple', count: 2 },
      { code: 'INVALID_PAYLOAD', provider: 'xsolla', count: 1 },
    ]);
  });

  it('opens a delivery with every attempt (status code, reason, duration, time), oldest first', async () => {
    const claimed = (await store.claimDeliveries({ now: at(-1), limit: 10, lockMs: 60_000 })).find((c) => c.delivery.id === 'dlv_2')!;
    const failure = {
      status: 'pending' as const,
      attempts: 1,
      next_attempt_at: at(-2),
      last_status: 502,
      last_error: XSS,
      last_attempt_at: at(-1),
      delivered_at: null,
      duration_ms: 120,
    };
    expect(await store.finishDelivery('dlv_2', claimed.claim, failure)).toBe(true);
    for (const c of await store.claimDeliveries({ now: at(-1), limit: 10, lockMs: 60_000 }))
      await store.finishDelivery(c.delivery.id, c.claim, { ...failure, last_attempt_at: null });
    const again = (await store.claimDeliveries({ now: at(-3), limit: 10, lockMs: 60_000 })).find((c) => c.delivery.id === 'dlv_2')!;
    expect(
      await store.finishDelivery('dlv_2', again.claim, {
        ...failure,
        attempts: 2,
        last_status: 504,
        last_error: 'timeout',
        last_attempt_at: at(-3),
        duration_ms: 5000,
      }),
    ).toBe(true);
    const d = (await rm.getDelivery('dlv_2'))!;
    expect(d.delivery).toMatchObject({ id: 'dlv_2', attempts: 2, last_status: 504, event_type: 'order.paid' });
    expect(d.attempts.map(({ id: _id, ...x }) => x)).toEqual([
      { delivery_id: 'dlv_2', endpoint_id: 'we_1', attempt: 1, status_code: 502, error: XSS, duration_ms: 120, at: at(-1) },
      { delivery_id: 'dlv_2', endpoint_id: 'we_1', attempt: 2, status_code: 504, error: 'timeout', duration_ms: 5000, at: at(-3) },
    ]);
    expect((await rm.getDelivery('dlv_1'))!.attempts).toEqual([]);
    expect(await rm.getDelivery('dlv_nope')).toBeNull();
  });
});

describe('admin read model on a custom store', () => {
  it('is CONFIG_INVALID (a store the package does not ship has no admin source)', async () => {
    expect(await codeOf(Promise.resolve().then(() => adminReadModel({ name: 'custom' } as Store)))).toBe('CONFIG_INVALID');
  });
});
