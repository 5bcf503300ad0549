/**
 * What a failed delivery records: `last_error` is the status and its reason, at most 200 characters,
 * and holds nothing of the receiver's answer unless `delivery.recordResponseBody` is on (so an admin
 * screen showing it cannot be used to read responses from internal URLs).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';

const SECRET_PAGE = `<html>internal admin: db password = hunter2 ${'x'.repeat(10_000)}</html>`;

async function answering(status: number, body: string) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'text/html' }).end(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function lastErrors(recordResponseBody: boolean | undefined) {
  const servers = await Promise.all([answering(500, SECRET_PAGE), answering(404, 'not here: /internal/metrics'), answering(599, SECRET_PAGE)]);
  const store = memoryStore();
  const hooks = createSubscriptionWebhooks({
    store,
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    delivery: recordResponseBody === undefined ? {} : { recordResponseBody },
  });
  const ids: string[] = [];
  for (const s of servers) ids.push((await hooks.webhookEndpoints.create({ url: s.url, enabled_events: ['*'] })).id);
  const event = sampleEvent('last-error', 1);
  await store.transaction(async (tx) => {
    await tx.insertEvents([event]);
    await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
  });
  await hooks.delivery.runOnce();
  await hooks.delivery.stop();
  await Promise.all(servers.map((s) => s.close()));
  const rows = await hooks.delivery.list();
  return ids.map((id) => rows.find((r) => r.endpoint_id === id)!).map((r) => [r.last_status, r.last_error]);
}

describe('last_error', () => {
  it('holds the status and its reason only, never the response body, by default', async () => {
    expect(await lastErrors(undefined)).toEqual([
      [500, 'HTTP 500 Internal Server Error'],
      [404, 'HTTP 404 Not Found'],
      [599, 'HTTP 599'],
    ]);
  });

  it('with recordResponseBody: the start of the body too, and never more than 200 characters', async () => {
    const [e500, e404] = await lastErrors(true);
    expect(e500![1]).toBe(`HTTP 500 Internal Server Error: ${SECRET_PAGE}`.slice(0, 200));
    expect(e500![1]).toHaveLength(200);
    expect(e404![1]).toBe('HTTP 404 Not Found: not here: /internal/metrics');
  });
});
