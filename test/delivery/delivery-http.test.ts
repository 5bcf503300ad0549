import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createWebhookPoster } from '../../src/delivery/http-post.js';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { refusedPort } from '../helpers/loopback.js';

// The delivery worker's HTTP client (node:http with keep-alive), against real servers on 127.0.0.1.
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const s = createServer(handler);
  s.on('connection', (c) => sockets.add(c));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`, sockets };
}
const never = new AbortController().signal;

describe('webhook poster', () => {
  it('sends the body with its length and headers, reuses one keep-alive connection, keeps only the start of an error body', async () => {
    const seen: { body: string; headers: Record<string, unknown> }[] = [];
    const rx = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ body, headers: req.headers });
        if (seen.length === 3) res.writeHead(503, { 'retry-after': '7' }).end('x'.repeat(5000));
        else res.writeHead(200).end('ok');
      });
    });
    const poster = createWebhookPoster(500);
    const answers = [];
    for (const n of [1, 2, 3, 4])
      answers.push(await poster.post(rx.url, { 'content-type': 'application/json', 'webhook-id': `msg_${n}` }, `{"n":${n},"s":"é"}`, never));
    poster.close();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 503, 200]);
    expect(answers[2]).toEqual({ status: 503, retryAfter: '7', text: 'x'.repeat(500) });
    expect(seen.map((s) => s.body)).toEqual([1, 2, 3, 4].map((n) => `{"n":${n},"s":"é"}`));
    expect(seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength('{"n":1,"s":"é"}')));
    expect(seen[3]!.headers['webhook-id']).toBe('msg_4');
    expect(rx.sockets.size).toBe(1); // the 5,000-character error body was read to the end, so the connection stayed usable
  });

  it('does not follow redirects: a 302 is the answer', async () => {
    let hits = 0;
    const target = await serve((_req, res) => res.writeHead(200).end('should not be reached'));
    const rx = await serve((req, res) => {
      hits++;
      req.resume();
      res.writeHead(302, { location: target.url }).end();
    });
    const poster = createWebhookPoster(500);
    expect((await poster.post(rx.url, {}, '{}', never)).status).toBe(302);
    poster.close();
    expect(hits).toBe(1);
    expect(target.sockets.size).toBe(0);
  });

  it('a refused connection rejects with its code; an abort stops a request that never gets an answer', async () => {
    const poster = createWebhookPoster(500);
    const port = await refusedPort();
    await expect(poster.post(`http://127.0.0.1:${port}/x`, {}, '{}', never)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const hanging = await serve(() => {}); // reads nothing, answers nothing
    const controller = new AbortController();
    const pending = poster.post(hanging.url, {}, '{}', controller.signal);
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    poster.close();
  });
});

describe('delivery worker over the poster', () => {
  it('records a refused connection and a timed-out receiver as retryable failures with their reason', async () => {
    const hanging = await serve(() => {});
    const closedUrl = `http://127.0.0.1:${await refusedPort()}/hook`;
    const store = memoryStore();
    const hooks = createSubscriptionWebhooks({
      store,
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
      delivery: { timeoutMs: 300 },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const slow = await hooks.webhookEndpoints.create({ url: hanging.url, enabled_events: ['*'] });
    const gone = await hooks.webhookEndpoints.create({ url: closedUrl, enabled_events: ['*'] });
    const event = sampleEvent('poster', 1);
    await store.transaction(async (tx) => {
      await tx.insertEvents([event]);
      await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
    });
    expect(await hooks.delivery.runOnce()).toMatchObject({ attempted: 2, delivered: 0, retrying: 2 });
    const errors = Object.fromEntries((await hooks.delivery.list()).map((d) => [d.endpoint_id, [d.status, d.attempts, d.last_status, d.last_error]]));
    expect(errors).toEqual({ [slow.id]: ['pending', 1, null, 'timed out after 300 ms'], [gone.id]: ['pending', 1, null, 'ECONNREFUSED'] });
    await hooks.delivery.stop();
  });
});
