/**
 * Outbound isolation on every store, over real HTTP on 127.0.0.1: an endpoint that never answers
 * takes at most its own in-flight slots, and a healthy endpoint's deliveries do not wait for it.
 * Asserted as an ordering of what happened, not with a stopwatch.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../src/delivery/outbox.js';
import { createSubscriptionWebhooks, type DomainEvent } from '../src/index.js';
import { sampleEvent } from '../src/testing/store-conformance.js';
import { EVERY_STORE } from './helpers/databases.js';
import { webhookReceiver } from './helpers/webhook-receiver.js';

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
const TIMEOUT_MS = 6000;
const PER_ENDPOINT = 4;

describe.each(EVERY_STORE)('outbound isolation on %s', (_name, make) => {
  it('a hanging endpoint beside a healthy one: every healthy delivery completes before the hanging endpoint\'s first timeout fires, and it holds at most its own in-flight slots', { timeout: 90_000 }, async () => {
    const { store, close } = await make();
    const log: string[] = [];
    const healthy = await webhookReceiver(({ id }) => {
      log.push(`healthy ${id}`);
      return { status: 200 };
    });
    const hanging = await hangingServer();
    let hangingId = '';
    let inFlightAtFirstTimeout = -1;
    let firstTimeout!: () => void;
    const timedOut = new Promise<void>((r) => (firstTimeout = r));
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
      store,
      delivery: { timeoutMs: TIMEOUT_MS, endpointConcurrency: PER_ENDPOINT, pollIntervalMs: 50 },
      logger: {
        debug() {},
        info() {},
        warn(o: unknown, message?: string) {
          const f = o as { endpointId?: string; error?: string };
          if (f.endpointId === hangingId && message?.includes('will retry')) {
            if (!log.includes('timeout')) {
              inFlightAtFirstTimeout = hanging.requests.length;
              firstTimeout();
            }
            log.push('timeout');
          }
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
      await timedOut;
      await hooks.delivery.stop();
      // Every healthy delivery arrived, and all of them before the first timeout of the hanging endpoint.
      const healthyIds = log.filter((l) => l.startsWith('healthy ')).map((l) => l.slice(8));
      expect(new Set(healthyIds)).toEqual(new Set(events.map((e) => e.id)));
      expect(log.indexOf('timeout')).toBeGreaterThan(log.findLastIndex((l) => l.startsWith('healthy ')));
      // And they are recorded as delivered.
      const rows = await hooks.delivery.list({ endpointId: good.id, limit: 1000 });
      expect(rows.filter((r) => r.status === 'delivered')).toHaveLength(EVENTS);
      // The hanging endpoint never had more than its own slots: requests reached it only PER_ENDPOINT at a time.
      expect(inFlightAtFirstTimeout).toBe(PER_ENDPOINT);
      const stuck = await hooks.delivery.list({ endpointId: hangingId, limit: 1000 });
      expect(stuck.filter((r) => r.attempts === 1).map((r) => r.last_error)).toEqual(Array(PER_ENDPOINT).fill(`timed out after ${TIMEOUT_MS} ms`));
      expect(stuck.filter((r) => r.attempts === 0)).toHaveLength(EVENTS - PER_ENDPOINT);
    } finally {
      await hooks.delivery.stop();
      await hanging.close();
      await healthy.stop();
      await close();
    }
  });
});
