/**
 * Outbound isolation on every store, over real HTTP on 127.0.0.1: an endpoint that never answers
 * takes at most its own in-flight slots, and a healthy endpoint's deliveries do not wait for it.
 * Asserted as an ordering of what happened, not with a stopwatch.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createSubscriptionWebhooks, type DomainEvent } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

/** A server on 127.0.0.1 that reads each request and never answers it. */
async function hangingServer() {
  const requests: IncomingMessage[] = [];
  const server = createServer((req) => {
    requests.push(req);
    req.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const EVENTS = 100;
// Long, so that a loaded machine cannot blur the ordering: the healthy deliveries need a fraction of it.
const TIMEOUT_MS = 30_000;
const PER_ENDPOINT = 4;

describe.each(EVERY_STORE)('outbound isolation on %s', (_name, make) => {
  it(
    "a hanging endpoint beside a healthy one: every healthy delivery completes before the hanging endpoint's first timeout fires, and it holds at most its own in-flight slots",
    { timeout: 120_000 },
    async () => {
      const { store, close } = await make();
      const log: string[] = [];
      let allHealthy!: () => void;
      const healthyDone = new Promise<void>((r) => (allHealthy = r));
      const healthy = await webhookReceiver(({ id }) => {
        log.push(`healthy ${id}`);
        if (log.filter((l) => l.startsWith('healthy ')).length === EVENTS) allHealthy();
        return { status: 200 };
      });
      const hanging = await hangingServer();
      let hangingId = '';
      const hooks = createSubscriptionWebhooks({
        apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
        store,
        delivery: { timeoutMs: TIMEOUT_MS, endpointConcurrency: PER_ENDPOINT, pollIntervalMs: 50 },
        logger: {
          debug() {},
          info() {},
          warn(o: unknown, message?: string) {
            // A failed attempt to the hanging endpoint: only its timeout can produce one before it is closed.
            if ((o as { endpointId?: string }).endpointId === hangingId && message?.includes('will retry'))
              log.push(`timeout ${(o as { error?: string }).error}`);
          },
          error() {},
        },
      });
      try {
        hangingId = (await hooks.webhookEndpoints.create({ url: hanging.url, enabled_events: ['*'] })).id;
        const good = await hooks.webhookEndpoints.create({ url: healthy.url, enabled_events: ['*'] });
        const events: DomainEvent[] = Array.from({ length: EVENTS }, (_, i) => sampleEvent('iso', i));
        await store.transaction(async (tx) => {
          await tx.insertEvents(events);
          await enqueueDeliveries(tx, events, [], { now: new Date().toISOString(), notifier: false });
        });
        hooks.delivery.start();
        await healthyDone;
        // Every healthy delivery arrived, and the hanging endpoint's first timeout has not fired yet.
        expect(new Set(log.map((l) => l.slice(8)))).toEqual(new Set(events.map((e) => e.id)));
        expect(log.filter((l) => l.startsWith('timeout'))).toEqual([]);
        // The hanging endpoint holds only its own slots: PER_ENDPOINT requests reached it, no more.
        expect(hanging.requests).toHaveLength(PER_ENDPOINT);
        // Closing it ends those attempts at once; then every healthy row is recorded as delivered.
        await hanging.close();
        await hooks.delivery.stop();
        const rows = await hooks.delivery.list({ endpointId: good.id, limit: 1000 });
        expect(rows.filter((r) => r.status === 'delivered')).toHaveLength(EVENTS);
        const stuck = await hooks.delivery.list({ endpointId: hangingId, limit: 1000 });
        expect(stuck.filter((r) => r.attempts === 1)).toHaveLength(PER_ENDPOINT);
        expect(stuck.filter((r) => r.attempts === 0)).toHaveLength(EVENTS - PER_ENDPOINT);
      } finally {
        await hooks.delivery.stop();
        await hanging.close().catch(() => {});
        await healthy.stop();
        await close();
      }
    },
  );
});
