/**
 * An endpoint that has failed continuously for `delivery.disableAfterMs` is disabled at its next
 * failure, and the app is told: `webhook_endpoint.disabled` on the bus and to the other endpoints that
 * subscribe to it. A success in between starts the period again. Injected clock, real receivers, every store.
 */
import { describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createSubscriptionWebhooks, type DomainEvent, type Store } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const HOUR = 3_600_000;
const MIN = 60_000;

describe.each(EVERY_STORE)('auto-disable on %s', (_name, make) => {
  it('failing for longer than disableAfterMs disables the endpoint and emits webhook_endpoint.disabled once (bus + subscribed endpoints); a success restarts the period', async () => {
    const { store, close } = (await make()) as { store: Store; close: () => Promise<void> };
    let answer = 500;
    const bad = await webhookReceiver(() => ({ status: answer }));
    const watcher = await webhookReceiver();
    const bystander = await webhookReceiver();
    const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
    const hooks = createSubscriptionWebhooks({
      store,
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      // Retries far apart, so each step below attempts only the event it commits.
      delivery: { now: () => clock.t, disableAfterMs: HOUR, retrySchedule: [100 * HOUR] },
    });
    const published: DomainEvent[] = [];
    hooks.bus.subscribe('webhook_endpoint.disabled', (e) => void published.push(e));
    let n = 0;
    /** Commits one event at the current (fake) time and runs the worker until nothing is due. */
    async function step(minutes: number) {
      clock.t += minutes * MIN;
      const event = sampleEvent('auto', n++);
      await store.transaction(async (tx) => {
        await tx.insertEvents([event]);
        await enqueueDeliveries(tx, [event], [], { now: new Date(clock.t).toISOString(), notifier: false });
      });
      while ((await hooks.delivery.runOnce()).attempted > 0);
    }
    try {
      const failing = await hooks.webhookEndpoints.create({ url: bad.url, enabled_events: ['*'] });
      await hooks.webhookEndpoints.create({ url: watcher.url, enabled_events: ['webhook_endpoint.disabled'] });
      await hooks.webhookEndpoints.create({ url: bystander.url, enabled_events: ['customer.subscription.renewed'] });
      const t0 = clock.t;
      await step(0); // first failure: the period starts
      expect((await hooks.webhookEndpoints.get(failing.id))?.failing_since).toBe(new Date(t0).toISOString());
      await step(40); // 40 min failing
      answer = 200;
      await step(10); // a success: the period ends
      expect((await hooks.webhookEndpoints.get(failing.id))?.failing_since).toBeNull();
      answer = 500;
      await step(10); // failing again from t0 + 60 min
      const since = new Date(t0 + 60 * MIN).toISOString();
      await step(59); // 59 min of the new period: still enabled (without the reset it would be 119 min)
      expect(await hooks.webhookEndpoints.get(failing.id)).toMatchObject({ status: 'enabled', failing_since: since });
      expect(published).toHaveLength(0);
      await step(2); // 61 min: disabled at this failure
      const disabled = await hooks.webhookEndpoints.get(failing.id);
      expect(disabled?.status).toBe('disabled');
      expect(published).toHaveLength(1);
      const event = published[0]!;
      expect(event).toMatchObject({ type: 'webhook_endpoint.disabled', provider: 'subscription-webhooks' });
      expect(event.data.object).toMatchObject({
        id: failing.id,
        url: bad.url,
        status: 'disabled',
        reason: 'failing',
        failing_since: since,
        last_error: 'HTTP 500 Internal Server Error',
      });
      expect(JSON.stringify(event)).not.toContain('whsec_');
      // The endpoints that subscribe to it received it; the others did not, nor did the disabled one.
      expect(watcher.accepted()).toEqual([event.id]);
      expect(bystander.accepted()).not.toContain(event.id);
      expect(bad.received.map((r) => r.id)).not.toContain(event.id);
      // Nothing more is attempted to it, and it is not disabled twice.
      const before = bad.received.length;
      await step(60);
      expect(bad.received.length).toBe(before);
      expect(published).toHaveLength(1);
      expect((await store.listEvents({ type: 'webhook_endpoint.disabled' })).map((e) => e.id)).toEqual([event.id]);
    } finally {
      await hooks.delivery.stop();
      await Promise.all([bad.stop(), watcher.stop(), bystander.stop()]);
      await close();
    }
  });
});
