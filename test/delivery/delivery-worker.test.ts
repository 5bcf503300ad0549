/**
 * The outbox delivery worker against real receivers on 127.0.0.1, on every store, with a fake clock:
 * retries follow the schedule without sleeping, 410 disables, a stopped receiver loses nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../adapters/callback.js';
import { DEFAULT_RETRY_SCHEDULE } from '../../src/core/config.js';
import type { DomainEvent, UserNotification } from '../../src/index.js';
import { PRODUCT } from '../helpers/apple-harness.js';
import { notificationHarness, STORE_KINDS, type NotificationHarness, type StoreKind } from '../helpers/notification-harness.js';
import { webhookReceiver, type Behaviour, type WebhookReceiver } from '../helpers/webhook-receiver.js';

describe.each(STORE_KINDS)('delivery worker on %s', (kind: StoreKind) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function setup(behaviour?: Behaviour, config: Parameters<typeof notificationHarness>[1] = {}) {
    const t = await notificationHarness(kind, config);
    const receiver = await webhookReceiver(behaviour);
    cleanups.push(t.close, receiver.stop);
    const endpoint = await t.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    return { ...t, receiver, endpoint };
  }

  /** Sends `n` purchases; returns the committed events (4 per purchase, plus nothing else). */
  async function purchases(t: NotificationHarness, n: number): Promise<DomainEvent[]> {
    const events: DomainEvent[] = [];
    for (let i = 0; i < n; i++) {
      const c = t.h.contract();
      const r = await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
      expect(r.response.status).toBe(200);
      events.push(...r.events);
    }
    return events;
  }

  /** Moves the fake clock to the earliest pending row's due time; false when nothing is pending. */
  async function advanceToNextDue(t: NotificationHarness): Promise<boolean> {
    const pending = await t.hooks.delivery.list({ status: 'pending', limit: 10_000 });
    if (pending.length === 0) return false;
    t.clock.t = Math.max(t.clock.t, Math.min(...pending.map((d) => Date.parse(d.next_attempt_at!))));
    return true;
  }

  async function deliverAll(t: NotificationHarness): Promise<void> {
    do await t.drain();
    while (await advanceToNextDue(t));
  }

  it('a receiver failing the first 3 attempts of each event gets every event exactly once, on the default schedule', async () => {
    const t = await setup(({ perId }) => ({ status: perId < 3 ? 500 : 204 }));
    const events = await purchases(t, 3);
    expect(events).toHaveLength(12);
    await deliverAll(t);
    const accepted = t.receiver.accepted();
    expect(accepted.sort()).toEqual(events.map((e) => e.id).sort());
    expect(t.receiver.received).toHaveLength(12 * 4);
    // The attempts of one event, by their webhook-timestamp: 5 s, 5 min, 30 min apart.
    const stamps = t.receiver.received.filter((r) => r.id === events[0]!.id).map((r) => Number(r.timestamp));
    expect(stamps.slice(1).map((s, i) => s - stamps[i]!)).toEqual(DEFAULT_RETRY_SCHEDULE.slice(0, 3).map((ms) => ms / 1000));
    const rows = await t.hooks.delivery.list({ endpointId: t.endpoint.id, limit: 100 });
    expect(rows.map((r) => [r.status, r.attempts, r.last_status])).toEqual(rows.map(() => ['delivered', 4, 204]));
    // Each body is the event JSON, signed with the endpoint secret.
    for (const r of t.receiver.received.filter((x) => x.status === 204)) {
      const event = verifyWebhook(t.endpoint.secret, { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature }, r.body, {
        now: Number(r.timestamp) * 1000,
      });
      expect(event).toEqual(events.find((e) => e.id === r.id));
    }
  });

  it('a receiver answering 410 gets its endpoint disabled; other endpoints keep receiving; re-enabling resumes', async () => {
    // One attempt at a time, so the rows behind the first 410 are seen to be held back.
    const t = await setup(() => ({ status: 410 }), { delivery: { concurrency: 1 } });
    const healthy = await webhookReceiver();
    cleanups.push(healthy.stop);
    await t.hooks.webhookEndpoints.create({ url: healthy.url, enabled_events: ['customer.subscription.started'] });
    await purchases(t, 1);
    await t.drain();
    expect(t.receiver.received).toHaveLength(1); // the first 410 stops everything for that endpoint
    expect((await t.hooks.webhookEndpoints.get(t.endpoint.id))?.status).toBe('disabled');
    const rows = await t.hooks.delivery.list({ endpointId: t.endpoint.id });
    expect(rows.filter((r) => r.status === 'disabled')).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'pending')).toHaveLength(3);
    expect(healthy.accepted()).toHaveLength(1);
    // Events committed while disabled are not enqueued for it.
    await purchases(t, 1);
    await t.drain();
    expect(await t.hooks.delivery.list({ endpointId: t.endpoint.id })).toHaveLength(4);
    expect(healthy.accepted()).toHaveLength(2);
    expect(t.receiver.received).toHaveLength(1);
    // Re-enabled: its 3 pending rows go out (still 410 here: disabled again after the first).
    await t.hooks.webhookEndpoints.update(t.endpoint.id, { status: 'enabled' });
    await t.drain();
    expect(t.receiver.received).toHaveLength(2);
  });

  it('a stopped receiver loses nothing: after it restarts, every pending event arrives once', async () => {
    const t = await setup();
    await t.receiver.stop();
    const events = await purchases(t, 2);
    const first = await t.hooks.delivery.runOnce();
    expect(first).toMatchObject({ attempted: 8, delivered: 0, retrying: 8 });
    const pending = await t.hooks.delivery.list({ status: 'pending' });
    expect(pending).toHaveLength(8);
    expect(pending.every((r) => r.attempts === 1 && r.last_status === null && r.last_error)).toBe(true);
    await t.receiver.start();
    expect(await t.drain()).toBe(0); // not due yet: the clock has not moved
    t.clock.t += 5_000;
    await t.drain();
    expect(t.receiver.accepted().sort()).toEqual(events.map((e) => e.id).sort());
  });

  it('retry-after is honoured when longer than the schedule; after the last attempt the row is failed, kept, and replayable', async () => {
    const t = await setup(({ perId }) => (perId === 0 ? { status: 503, headers: { 'retry-after': '120' } } : { status: 500 }), {
      delivery: { retrySchedule: [1_000, 2_000] },
    });
    const [event] = await purchases(t, 1);
    await t.drain();
    const row = (await t.hooks.delivery.list({ eventId: event!.id }))[0]!;
    expect(row).toMatchObject({ status: 'pending', attempts: 1, last_status: 503 });
    expect(Date.parse(row.next_attempt_at!) - t.clock.t).toBe(120_000);
    await deliverAll(t);
    const failed = await t.hooks.delivery.get(row.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, last_status: 500, next_attempt_at: null });
    expect(await t.hooks.delivery.list({ status: 'failed' })).toHaveLength(4);
    const before = t.receiver.received.filter((r) => r.id === event!.id).length;
    const replayed = await t.hooks.delivery.replay(row.id);
    expect(replayed).toMatchObject({ status: 'pending', attempts: 0 });
    await deliverAll(t); // a fresh schedule: three more attempts, then failed again
    expect(await t.hooks.delivery.get(row.id)).toMatchObject({ status: 'failed', attempts: 3 });
    expect(t.receiver.received.filter((r) => r.id === event!.id).length - before).toBe(3);
    await expect(t.hooks.delivery.replay('dlv_missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('notifier failures are retried by the same machinery and the notification is not lost', async () => {
    const calls: UserNotification[] = [];
    const t = await setup(undefined, {
      notifier: async (n) => {
        calls.push(n);
        if (calls.length <= 2) throw new Error('smtp down');
      },
      locale: 'zh-CN',
    });
    const c = t.h.contract();
    await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    await deliverAll(t);
    expect(calls.map((n) => n.eventType)).toEqual(['customer.subscription.started', 'customer.subscription.started', 'customer.subscription.started']);
    expect(calls[2]).toMatchObject({ title: '订阅已开通', locale: 'zh-CN' });
    const rows = await t.hooks.delivery.list({ endpointId: 'notifier' });
    expect(rows.map((r) => [r.status, r.attempts, r.last_error])).toEqual([['delivered', 3, null]]);
  });

  it('rotateSecret: during the grace period each delivery carries both signatures; afterwards only the new one', async () => {
    const t = await setup();
    const old = t.endpoint.secret;
    const rotated = await t.hooks.webhookEndpoints.rotateSecret(t.endpoint.id, { graceMs: 60_000 });
    expect(rotated.secret).not.toBe(old);
    await purchases(t, 1);
    await t.drain();
    const r = t.receiver.received[0]!;
    const headers = { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature };
    const now = Number(r.timestamp) * 1000;
    expect(r.signature.split(' ')).toHaveLength(2);
    expect(verifyWebhook(old, headers, r.body, { now }).id).toBe(r.id);
    expect(verifyWebhook(rotated.secret, headers, r.body, { now }).id).toBe(r.id);
    t.clock.t += 61_000;
    await purchases(t, 1);
    await t.drain();
    const later = t.receiver.received.at(-1)!;
    expect(later.signature.split(' ')).toHaveLength(1);
    expect(() =>
      verifyWebhook(old, { 'webhook-id': later.id, 'webhook-timestamp': later.timestamp, 'webhook-signature': later.signature }, later.body, {
        now: Number(later.timestamp) * 1000,
      }),
    ).toThrow(expect.objectContaining({ code: 'WEBHOOK_SIGNATURE_INVALID' }));
  });
});

describe('delivery worker: start() and stop() on the real clock', () => {
  let receiver: WebhookReceiver | undefined;
  let t: NotificationHarness | undefined;
  afterAll(async () => {
    await t?.hooks.delivery.stop();
    await receiver?.stop();
    await t?.close();
  });

  it('a started worker is woken by a commit and delivers without runOnce; stop() waits for it', async () => {
    let arrived!: () => void;
    const all = new Promise<void>((r) => (arrived = r));
    receiver = await webhookReceiver(({ n }) => {
      if (n === 3) arrived();
      return { status: 200 };
    });
    t = await notificationHarness('memory', { delivery: { now: Date.now, pollIntervalMs: 60_000 } });
    await t.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    t.hooks.delivery.start();
    t.hooks.delivery.start(); // idempotent
    expect(t.hooks.delivery.running).toBe(true);
    const c = t.h.contract();
    await t.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction({ productId: PRODUCT }), renewalInfo: c.renewal() });
    await all; // the poll interval is a minute: only the wake-up can have delivered these
    await t.hooks.delivery.stop();
    expect(t.hooks.delivery.running).toBe(false);
    expect(receiver.accepted()).toHaveLength(4);
  });
});
