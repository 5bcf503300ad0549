/**
 * Outbound delivery: 10,000 events to a local receiver by 1 and 2 worker processes on PostgreSQL.
 * Throughput: a backlog of 10,000 committed events, drained. Latency: events committed at a steady
 * 500/s while the workers run; enqueue-to-delivery = arrival at the receiver − commit time.
 * Endpoint secrets are encrypted at rest (a `secretsKey`) and every connection goes through the
 * connect-time SSRF lookup (its verdict on 127.0.0.1 is waived: `allowPrivateUrls`, the receiver is local).
 *
 * Noisy neighbour: the same steady load to a healthy endpoint, first alone, then beside an endpoint
 * that never answers (1 s attempt timeout); the key is p99 beside it / p99 alone, in one run.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { enqueueDeliveries } from '../src/delivery/outbox.js';
import { createSubscriptionWebhooks, type DomainEvent } from '../src/index.js';
import { sampleEvent } from '../src/testing/store-conformance.js';
import { freshPostgres } from './lib/databases.js';
import { median } from './lib/fixtures.js';
import { startChild } from './lib/spawn.js';

export interface OutboundResult {
  workers: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function receiver() {
  const arrivals = new Map<string, number>();
  let onCount: ((n: number) => void) | null = null;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.set(String(req.headers['webhook-id']), performance.timeOrigin + performance.now());
      res.writeHead(200).end('ok');
      onCount?.(arrivals.size);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    waitFor: (n: number) =>
      new Promise<void>((resolve) => {
        if (arrivals.size >= n) return resolve();
        onCount = (c) => c >= n && resolve();
      }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A random `secretsKey` for this benchmark process, shared with its worker processes. */
const SECRETS_KEY = randomBytes(32).toString('base64');

/** Commits `ticks` batches of 25 events 50 ms apart (500/s); resolves each event's commit time. */
async function pacedCommits(enqueue: (batch: DomainEvent[]) => Promise<unknown>, tag: string, ticks: number): Promise<Map<string, number>> {
  const committed = new Map<string, number>();
  let n = 0;
  for (let tick = 0; tick < ticks; tick++) {
    const batch = Array.from({ length: 25 }, () => sampleEvent(tag, n++));
    await enqueue(batch);
    const at = performance.timeOrigin + performance.now();
    for (const e of batch) committed.set(e.id, at);
    await new Promise((r) => setTimeout(r, 50));
  }
  return committed;
}

async function oneRun(pgServer: string, workers: number, events: number, tag: string, store: 'pg' | 'prisma'): Promise<OutboundResult> {
  const db = await freshPostgres(pgServer, 4, store);
  const rx = await receiver();
  // The receiver is on 127.0.0.1, so private targets must be allowed (NODE_ENV is production here).
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: 'com.example.bench', environments: ['Sandbox'] },
    store: db.store,
    allowPrivateUrls: true,
    secretsKey: SECRETS_KEY,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  await hooks.webhookEndpoints.create({ url: rx.url, enabled_events: ['*'] });
  const enqueue = async (batch: DomainEvent[]) =>
    db.store.transaction(async (tx) => {
      await tx.insertEvents(batch);
      await enqueueDeliveries(tx, batch, [], { now: new Date().toISOString(), notifier: false });
    });
  // Throughput: drain a committed backlog.
  for (let b = 0; b < events; b += 500) await enqueue(Array.from({ length: Math.min(500, events - b) }, (_, i) => sampleEvent(`${tag}t`, b + i)));
  const procs = await Promise.all(
    Array.from({ length: workers }, () => startChild('bench/lib/worker.ts', { DATABASE_URL: db.url, STORE: store, SECRETS_KEY, ENDPOINT_CONCURRENCY: '32' })),
  );
  await rx.waitFor(events);
  // From the first arrival to the last, so process start-up does not count.
  const backlog = [...rx.arrivals.values()];
  const started = Math.min(...backlog);
  const drained = Math.max(...backlog);
  // Latency: a steady 500 events/s for 2 s, 25 events every 50 ms, while the workers keep running.
  const committed = new Map<string, number>();
  let n = 0;
  for (let tick = 0; tick < 40; tick++) {
    const batch = Array.from({ length: 25 }, () => sampleEvent(`${tag}l`, n++));
    await enqueue(batch);
    const at = performance.timeOrigin + performance.now();
    for (const e of batch) committed.set(e.id, at);
    await new Promise((r) => setTimeout(r, 50));
  }
  await rx.waitFor(events + n);
  await Promise.all(procs.map((p) => p.stop()));
  await rx.close();
  await db.close();
  const latencies = [...committed].map(([id, at]) => rx.arrivals.get(id)! - at);
  return {
    workers,
    events_per_s: events / ((drained - started) / 1000),
    p50_ms: Math.round(percentile(latencies, 50)),
    p99_ms: Math.round(percentile(latencies, 99)),
  };
}

/** `store`: the workers' store, `pg` (pgStore) or `prisma` (prismaStore). */
export async function runOutbound(
  pgServer: string,
  runs: number,
  events = 10_000,
  store: 'pg' | 'prisma' = 'pg',
  workerCounts = [1, 2],
): Promise<OutboundResult[]> {
  const out: OutboundResult[] = [];
  for (const workers of workerCounts) {
    const results: OutboundResult[] = [];
    for (let r = 0; r < runs; r++) results.push(await oneRun(pgServer, workers, events, `w${workers}r${r}`, store));
    const m = {
      workers,
      events_per_s: Math.round(median(results.map((x) => x.events_per_s))),
      p50_ms: median(results.map((x) => x.p50_ms)),
      p99_ms: median(results.map((x) => x.p99_ms)),
    };
    console.log('  outbound', m);
    out.push(m);
  }
  return out;
}

export interface NoisyNeighbourResult {
  /** p99 enqueue→delivery of the healthy endpoint alone, ms. */
  p99_alone_ms: number;
  /** The same while a second endpoint (subscribed to every event) never answers, ms. */
  p99_beside_hanging_ms: number;
  /** p99_beside_hanging_ms / p99_alone_ms (target <= 1.5). */
  ratio: number;
}

/** One worker process (pgStore, 1 s attempt timeout): the healthy endpoint's latency alone, then beside a hanging one. */
async function noisyRun(pgServer: string, tag: string, ticks: number): Promise<NoisyNeighbourResult> {
  const db = await freshPostgres(pgServer, 4, 'pg');
  const rx = await receiver();
  const held: IncomingMessage[] = [];
  const hanging = createServer((req) => {
    held.push(req);
    req.resume();
  });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: 'com.example.bench', environments: ['Sandbox'] },
    store: db.store,
    allowPrivateUrls: true,
    secretsKey: SECRETS_KEY,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  await hooks.webhookEndpoints.create({ url: rx.url, enabled_events: ['*'] });
  const enqueue = async (batch: DomainEvent[]) =>
    db.store.transaction(async (tx) => {
      await tx.insertEvents(batch);
      await enqueueDeliveries(tx, batch, [], { now: new Date().toISOString(), notifier: false });
    });
  const proc = await startChild('bench/lib/worker.ts', { DATABASE_URL: db.url, STORE: 'pg', SECRETS_KEY, DELIVERY_TIMEOUT_MS: '1000' });
  const p99 = async (phase: string): Promise<number> => {
    const before = rx.arrivals.size;
    const committed = await pacedCommits(enqueue, `${tag}${phase}`, ticks);
    await rx.waitFor(before + committed.size);
    return percentile(
      [...committed].map(([id, at]) => rx.arrivals.get(id)! - at),
      99,
    );
  };
  await p99('w'); // warm-up: connections, prepared statements, JIT
  const alone = await p99('a');
  await hooks.webhookEndpoints.create({ url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`, enabled_events: ['*'] });
  const beside = await p99('b');
  await proc.stop();
  hanging.closeAllConnections();
  await new Promise<void>((r) => hanging.close(() => r()));
  await rx.close();
  await db.close();
  return { p99_alone_ms: Math.round(alone), p99_beside_hanging_ms: Math.round(beside), ratio: Math.round((beside / alone) * 100) / 100 };
}

/** `outbound_noisy_neighbour_p99_ratio`: the median over `runs` of (p99 beside a hanging endpoint / p99 alone). */
export async function runNoisyNeighbour(pgServer: string, runs: number, ticks = 60): Promise<NoisyNeighbourResult> {
  const results: NoisyNeighbourResult[] = [];
  for (let r = 0; r < runs; r++) results.push(await noisyRun(pgServer, `nn${r}`, ticks));
  const m = {
    p99_alone_ms: median(results.map((x) => x.p99_alone_ms)),
    p99_beside_hanging_ms: median(results.map((x) => x.p99_beside_hanging_ms)),
    ratio: median(results.map((x) => x.ratio)),
  };
  console.log('  noisy neighbour', m);
  return m;
}
