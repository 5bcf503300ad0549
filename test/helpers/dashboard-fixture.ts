import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../../examples/express/app.js';
import type { DomainEvent } from '../../src/events/types.js';
import { eventId } from '../../src/core/ids.js';
import { createSubscriptionWebhooks, type Logger, type Store, type SubscriptionWebhooks } from '../../src/index.js';
import { sampleDelivery, sampleEvent, sampleInbox, sampleOrder, sampleSubscription } from '../../src/testing/store-conformance.js';

/** Attacker-influenced text planted in a notification, a user id and a delivery error. */
export const XSS = '<script>alert(1)</script>';
export const DASHBOARD_PATH = '/admin/subscriptions';
/** The example's passwords in the fixture (ADMIN_PASSWORD and ADMIN_READ_PASSWORD in examples/express/server.ts). */
export const ADMIN_PASSWORD = 'correct horse battery staple';
export const VIEWER_PASSWORD = 'viewer only password';
/** The Authorization header of `user` (admin or viewer) with `password`. */
export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
/** The header each role signs in with (denied: none). */
export const ROLE_HEADERS: Record<'read' | 'read-write', string> = { 'read-write': basic('admin', ADMIN_PASSWORD), read: basic('viewer', VIEWER_PASSWORD) };
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The Express example app with the admin dashboard mounted, on `store`, seeded with a subscription of
 * user `user_42`, its notification (with `<script>` in its type and payload) and events, an endpoint
 * delivering to `receiverUrl` and one failed delivery to it. Signed in as the example does: HTTP Basic ({@link ROLE_HEADERS}).
 */
export async function dashboardFixture(
  store: Store,
  receiverUrl: string,
): Promise<{ hooks: SubscriptionWebhooks; url: string; endpointId: string; close(): Promise<void> }> {
  // The receiver is on 127.0.0.1: allowed explicitly (the screenshot script runs outside NODE_ENV=test).
  const hooks = createSubscriptionWebhooks({
    store,
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    allowPrivateUrls: true,
    delivery: { timeoutMs: 2000, pollIntervalMs: 100 },
    logger: quiet,
  });
  const endpoint = await hooks.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'], description: 'billing service' });
  const now = Date.now();
  const iso = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
  const sub = sampleSubscription('demo', {
    id: 'sub_demo',
    user_id: 'user_42',
    contract_id: '2000000123456789',
    product_id: 'com.example.pro.monthly',
    status: 'active',
    created: iso(90),
  });
  const order = sampleOrder('demo', { no: 'ord-no-1', trade_no: '2000000999', origin_no: sub.contract_id, user_id: 'user_42', created: iso(89) });
  const other = sampleSubscription('xss', { id: 'sub_xss', user_id: `mallory ${XSS}`, contract_id: 'c-xss', status: 'past_due', created: iso(30) });
  const events: DomainEvent[] = [
    sampleEvent('a', 0, {
      id: eventId('apple', 'ntf-subscribed', 0),
      type: 'customer.subscription.started',
      data: { object: sub },
      source: { notification_id: 'ntf-subscribed', notification_type: 'SUBSCRIBED' },
    } as Partial<DomainEvent>),
    sampleEvent('a', 1, {
      id: eventId('apple', 'ntf-subscribed', 1),
      type: 'order.paid',
      data: { object: order },
      source: { notification_id: 'ntf-subscribed', notification_type: 'SUBSCRIBED' },
    } as Partial<DomainEvent>),
    sampleEvent('b', 0, {
      id: eventId('apple', 'ntf-xss', 0),
      type: 'customer.subscription.past_due',
      data: { object: other },
      source: { notification_id: 'ntf-xss', notification_type: XSS },
    } as Partial<DomainEvent>),
  ];
  await store.transaction(async (tx) => {
    await tx.insertNotification(
      sampleInbox('s', { notification_id: 'ntf-subscribed', notification_type: 'SUBSCRIBED', subtype: 'INITIAL_BUY', received_at: iso(90) }),
    );
    await tx.insertNotification(
      sampleInbox('x', {
        notification_id: 'ntf-xss',
        notification_type: XSS,
        subtype: null,
        received_at: iso(30),
        payload: { note: XSS, signedTransactionInfo: 'eyJhbGciOiJFUzI1NiJ9.eyJ0cmFuc2FjdGlvbklkIjoiMjAwMDAwMDk5OSJ9.c2ln' },
      }),
    );
    await tx.insertOrder(order);
    await tx.saveSubscription(sub);
    await tx.saveSubscription(other);
    await tx.insertEvents(events);
    await tx.insertDeliveries([
      // Made to fail three times below (its attempt history).
      sampleDelivery(endpoint.id, events[0]!.id, now, { id: 'dlv_failed', next_attempt_at: iso(89), created: iso(89) }),
      sampleDelivery(endpoint.id, events[1]!.id, now, {
        id: 'dlv_ok',
        status: 'delivered',
        attempts: 1,
        next_attempt_at: null,
        last_status: 200,
        delivered_at: iso(88),
        created: iso(89),
      }),
    ]);
  });
  // dlv_failed: three attempts, each answered 503 (the last one final).
  for (const [n, atMinutes, next] of [
    [1, 60, 30],
    [2, 30, 5],
    [3, 5, null],
  ] as const) {
    const claim = (await store.claimDeliveries({ now: iso(atMinutes), limit: 10, lockMs: 60_000 })).find((c) => c.delivery.id === 'dlv_failed')!;
    await store.finishDelivery('dlv_failed', claim.claim, {
      status: next === null ? 'failed' : 'pending',
      attempts: n,
      next_attempt_at: next === null ? null : iso(next),
      last_status: 503,
      last_error: `HTTP 503 ${XSS}`,
      last_attempt_at: iso(atMinutes),
      delivered_at: null,
      duration_ms: 180 * n,
    });
  }
  // Requests that added no inbox row (the overview's rejections by code, the notification list's status filter).
  const outcome = (id: string, minutesAgo: number, code: string, reason: string | null) =>
    store.recordNotificationOutcome?.({
      id,
      provider: 'apple',
      outcome: code === 'DUPLICATE' ? 'duplicate' : 'rejected',
      code,
      status: code === 'DUPLICATE' ? 200 : 400,
      notification_id: code === 'DUPLICATE' ? 'ntf-subscribed' : null,
      notification_type: code === 'DUPLICATE' ? 'SUBSCRIBED' : null,
      reason,
      received_at: iso(minutesAgo),
    });
  await outcome('nout_1', 80, 'DUPLICATE', null);
  await outcome('nout_2', 50, 'SIGNATURE_INVALID', 'The signature does not verify');
  await outcome('nout_3', 40, 'SIGNATURE_INVALID', 'The signature does not verify');
  await outcome('nout_4', 20, 'CERT_CHAIN_INVALID', `The certificate chain does not lead to a trusted root ${XSS}`);
  // The example's own sign-in (examples/express/admin-auth.ts): HTTP Basic, user admin (read-write) or viewer (read).
  const app = createApp(hooks, { adminPasswords: { readWrite: ADMIN_PASSWORD, read: VIEWER_PASSWORD } });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${DASHBOARD_PATH}`;
  return {
    hooks,
    url,
    endpointId: endpoint.id,
    close: async () => {
      await hooks.delivery.stop();
      await new Promise((r) => server.close(r));
    },
  };
}
