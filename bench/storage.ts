/**
 * Storage benchmark on PostgreSQL (pgStore), with an injected clock:
 *
 * 1. Bytes per notification: S subscriptions × (purchase + 5 monthly renewals) through the core, one
 *    outbound endpoint (a receiver on 127.0.0.1), deliveries drained. `storage_bytes_per_notification`:
 *    what every `sw_*` table's pg_total_relation_size (heap, TOAST, indexes) grew by from the empty
 *    tables (their fixed pages are no per-notification cost) / notifications, inside the
 *    raw-body window (nothing pruned yet). Then the clock moves past the raw-body, event and delivery
 *    windows (not the dedup-key one), the pruning runs, VACUUM FULL gives back the freed pages, and
 *    `storage_bytes_per_notification_retained` is the same ratio: what each notification costs for as long
 *    as its dedup key is kept (orders and subscriptions included, never pruned).
 * 2. Two simulated years of steady traffic (the same subscriptions renewing monthly), pruned at each
 *    month end with the default retention and a plain VACUUM (as autovacuum would): the size of our
 *    tables month by month; the pruned ones are flat once the dedup-key window (400 days) has passed
 *    (orders and subscriptions, never pruned, grow with the business).
 * 3. Pruning under load: a database filled with old rows (raw bodies, events, delivered deliveries, dedup
 *    keys), the Express example in its own process at an offered 100 notifications/s (paced open loop),
 *    p99 without pruning and while `hooks.maintenance.prune()` runs beside it; `prune_rows_per_s` from that run.
 *
 * `npx tsx bench/storage.ts` runs it alone (SMOKE=1: tiny counts); `npm run bench` runs it with the rest.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import pg from 'pg';
import { createSubscriptionWebhooks } from '../src/core/handler.js';
import { createAppleTestSigner, type AppleTestSigner } from '../src/testing/index.js';
import { freshPostgres, postgresServer } from './lib/databases.js';
import { APP_APPLE_ID, BUNDLE_ID, signedBodies, median } from './lib/fixtures.js';
import { paced, type LoadResult } from './lib/paced.js';
import { startChild } from './lib/spawn.js';

const DAY = 86_400_000;
const MONTH = 30 * DAY;
const PRODUCT = 'com.example.pro.monthly';
const quiet = { debug() {}, info() {}, warn() {}, error: (o: unknown, m?: string) => process.stderr.write(`${m} ${JSON.stringify(o).slice(0, 500)}\n`) };

export interface StorageResult {
  notifications: number;
  storage_bytes_per_notification: number;
  storage_bytes_per_notification_retained: number;
  /** Bytes per notification by table, inside the raw-body window and after the other windows. */
  tables_within: Record<string, number>;
  tables_retained: Record<string, number>;
  /** Bytes of the sw_* tables at each month end of two simulated years (pruned monthly): all of them (orders and subscriptions grow by design). */
  monthly_total_bytes: number[];
  /** The same for the tables retention prunes (inbox, events, deliveries, receipts). */
  monthly_pruned_tables_bytes: number[];
  /** Largest / smallest month-end size of the pruned tables over the last six months (past every window): 1.0 is flat. */
  flat_ratio_last_6_months: number;
  prune_rows_per_s: number;
  prune_rows: number;
  p99_ms_at_100: number;
  p99_ms_at_100_while_pruning: number;
  /** Share of the loaded run during which the pruning was running (1: all of it). */
  pruning_overlap: number;
}

/** Sum of pg_total_relation_size per sw_* table. */
async function tableSizes(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ name: string; bytes: string }>(
    `SELECT c.relname AS name, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname LIKE 'sw\\_%' AND c.relname <> 'sw_migrations'`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)]));
}
/** The tables retention prunes. */
const PRUNED = ['sw_notifications', 'sw_events', 'sw_webhook_deliveries', 'sw_webhook_receipts'];
const minus = (t: Record<string, number>, base: Record<string, number>) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.max(0, v - (base[k] ?? 0))]));
const sum = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
const per = (t: Record<string, number>, n: number) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v / n)]));

/** A subscription's notifications, signed at the simulated time. */
function subscriptionFactory(signer: AppleTestSigner, t0: number) {
  return (i: number) => {
    const original = String(4_000_000_000_000_000 + i);
    return async (k: number, signedDate: number): Promise<string> => {
      const purchaseDate = t0 + k * MONTH;
      const transaction = {
        transactionId: k === 0 ? original : `${original}${String(k).padStart(3, '0')}`,
        originalTransactionId: original,
        webOrderLineItemId: `${original}-wol-${k}`,
        bundleId: BUNDLE_ID,
        productId: PRODUCT,
        subscriptionGroupIdentifier: 'group1',
        purchaseDate,
        originalPurchaseDate: t0,
        expiresDate: purchaseDate + MONTH,
        quantity: 1,
        type: 'Auto-Renewable Subscription',
        inAppOwnershipType: 'PURCHASED',
        signedDate,
        environment: 'Production',
        transactionReason: k === 0 ? 'PURCHASE' : 'RENEWAL',
        storefront: 'USA',
        storefrontId: '143441',
        price: 9990,
        currency: 'USD',
      };
      const renewalInfo = {
        originalTransactionId: original,
        autoRenewProductId: PRODUCT,
        productId: PRODUCT,
        autoRenewStatus: 1,
        signedDate,
        environment: 'Production',
        recentSubscriptionStartDate: t0,
        renewalDate: purchaseDate + MONTH,
      };
      const signedPayload = await signer.signNotification({
        notificationType: k === 0 ? 'SUBSCRIBED' : 'DID_RENEW',
        ...(k === 0 ? { subtype: 'INITIAL_BUY' } : {}),
        notificationUUID: randomUUID(),
        signedDate,
        data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production', transaction, renewalInfo },
      } as never);
      return JSON.stringify({ signedPayload });
    };
  };
}

async function receiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Sections 1 and 2: months of traffic through the core on one database, measured as the docstring says. */
async function simulate(serverUrl: string, signer: AppleTestSigner, o: { subscriptions: number; months: number; pruneMonthly: boolean }) {
  const db = await freshPostgres(serverUrl, 4, 'pg');
  const sink = await receiver();
  const t0 = Date.now();
  const clock = { now: t0 };
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [signer.rootCertificate] },
    store: db.store,
    logger: quiet,
    allowPrivateUrls: true,
    retention: { intervalMs: null },
    delivery: { now: () => clock.now, batchSize: 500 },
  });
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await hooks.webhookEndpoints.create({ url: sink.url, enabled_events: ['*'] });
    // What the empty tables take (metapages, one endpoint): not a per-notification cost.
    const empty = await tableSizes(admin);
    const subs = Array.from({ length: o.subscriptions }, (_, i) => subscriptionFactory(signer, t0)(i));
    const monthly: number[] = [];
    const monthlyPruned: number[] = [];
    let notifications = 0;
    for (let m = 0; m < o.months; m++) {
      for (let i = 0; i < subs.length; i++) {
        clock.now = t0 + m * MONTH + i * 1000;
        const r = await hooks.handle('apple', { headers: { 'content-type': 'application/json' }, rawBody: await subs[i]!(m, clock.now) });
        if (r.response.status !== 200) throw new Error(`storage bench: ${r.response.status} ${r.response.body}`);
        notifications++;
      }
      while ((await hooks.delivery.runOnce()).attempted > 0);
      if (o.pruneMonthly) {
        clock.now = t0 + (m + 1) * MONTH - DAY;
        await hooks.maintenance.prune();
        await admin.query('VACUUM');
        const sizes = await tableSizes(admin);
        monthly.push(sum(sizes));
        monthlyPruned.push(PRUNED.reduce((a, t) => a + (sizes[t] ?? 0), 0));
      }
    }
    return { hooks, admin, clock, t0, notifications, monthly, monthlyPruned, db, empty };
  } catch (e) {
    await admin.end();
    await db.close();
    throw e;
  } finally {
    await sink.close();
  }
}

/** Section 3: a database full of old rows, the server at 100/s, p99 without and with pruning beside it. */
async function pruneUnderLoad(serverUrl: string, signer: AppleTestSigner, o: { oldNotifications: number; seconds: number; runs: number }) {
  const results: { idle: LoadResult[]; pruning: LoadResult[]; rowsPerS: number[]; rows: number[]; overlap: number[] } = {
    idle: [],
    pruning: [],
    rowsPerS: [],
    rows: [],
    overlap: [],
  };
  // Per run: 100 warm-up requests, then 100/s for `seconds` twice (without and with pruning).
  const perRun = 100 + 2 * Math.ceil(100 * o.seconds);
  const bodies = await signedBodies(signer, perRun * o.runs, 7_000_000);
  let cursor = 0;
  const take = (n: number) => bodies.slice(cursor, (cursor += n));
  for (let run = 0; run < o.runs; run++) {
    const db = await freshPostgres(serverUrl, 4, 'pg');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // Old rows, 500 days back: every kind is past its window (dedup keys too). Bodies of a realistic size.
      const n = o.oldNotifications;
      await admin.query(
        `INSERT INTO "sw_notifications" ("id", "provider", "notification_id", "notification_type", "environment", "signed_at", "received_at", "raw_body", "raw_sha256", "payload")
        SELECT 'old' || g, 'apple', 'old-' || g, 'DID_RENEW', 'Production', now() - interval '500 days', now() - interval '500 days', repeat(md5(g::text), 300), md5(g::text) || md5(g::text),
          jsonb_build_object('notificationType', 'DID_RENEW', 'data', jsonb_build_object('transactionInfo', jsonb_build_object('transactionId', g, 'note', repeat('x', 800))))
        FROM generate_series(1, $1) g`,
        [n],
      );
      await admin.query(
        `INSERT INTO "sw_events" ("id", "type", "provider", "created", "body", "created_at")
        SELECT 'evt_old' || g || '_' || k, 'customer.subscription.renewed', 'apple', now() - interval '500 days', repeat(md5(g::text), 60), now() - interval '500 days'
        FROM generate_series(1, $1) g, generate_series(1, 2) k`,
        [n],
      );
      await admin.query(
        `INSERT INTO "sw_webhook_deliveries" ("id", "endpoint_id", "event_id", "status", "attempts", "last_status", "delivered_at", "created_at", "updated_at")
        SELECT 'dlv_old' || g || '_' || k, 'we_old', 'evt_old' || g || '_' || k, 'delivered', 1, 200, now() - interval '500 days', now() - interval '500 days', now() - interval '500 days'
        FROM generate_series(1, $1) g, generate_series(1, 2) k`,
        [n],
      );
      await admin.query('VACUUM ANALYZE');
      const server = await startChild('bench/lib/server.ts', {
        STORE: 'pg',
        DATABASE_URL: db.url,
        VERIFIER: 'ours',
        ROOT_CERT: Buffer.from(signer.rootCertificate).toString('base64'),
      });
      const hooks = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID }, store: db.store, logger: quiet });
      try {
        await paced(`${server.url}/api/users/app-store-notifications`, take(100), { rate: 100, seconds: 1 }); // warm-up
        results.idle.push(await paced(`${server.url}/api/users/app-store-notifications`, take(Math.ceil(100 * o.seconds)), { rate: 100, seconds: o.seconds }));
        const loadStarted = performance.now();
        const load = paced(`${server.url}/api/users/app-store-notifications`, take(Math.ceil(100 * o.seconds)), { rate: 100, seconds: o.seconds });
        const report = await hooks.maintenance.prune();
        const pruneMs = performance.now() - loadStarted;
        results.pruning.push(await load);
        const loadMs = performance.now() - loadStarted;
        const rows = report.rawBodies + report.notifications + report.events + report.deliveries + report.receipts;
        results.rows.push(rows);
        results.rowsPerS.push(Math.round(rows / (report.durationMs / 1000)));
        results.overlap.push(Math.min(1, pruneMs / loadMs));
      } finally {
        await server.stop();
      }
    } finally {
      await admin.end();
      await db.close();
    }
  }
  const p99 = (xs: LoadResult[]) => median(xs.map((x) => x.p99_ms));
  return {
    p99Idle: p99(results.idle),
    p99Pruning: p99(results.pruning),
    rowsPerS: median(results.rowsPerS),
    rows: median(results.rows),
    overlap: Math.round(median(results.overlap) * 100) / 100,
  };
}

export async function runStorageBench(
  serverUrl: string,
  o: { subscriptions: number; yearSubscriptions: number; oldNotifications: number; seconds: number; runs: number },
): Promise<StorageResult> {
  const t0 = Date.now();
  const signer = await createAppleTestSigner({
    bundleId: BUNDLE_ID,
    appAppleId: APP_APPLE_ID,
    environment: 'Production',
    notBefore: new Date(t0 - DAY),
    notAfter: new Date(t0 + 1200 * DAY),
  });

  // 1. Purchase + 5 renewals per subscription, then past every window but the dedup keys'.
  const sim = await simulate(serverUrl, signer, { subscriptions: o.subscriptions, months: 6, pruneMonthly: false });
  let within: Record<string, number>;
  let retained: Record<string, number>;
  try {
    await sim.admin.query('VACUUM ANALYZE');
    within = minus(await tableSizes(sim.admin), sim.empty);
    sim.clock.now = sim.t0 + 6 * MONTH + 100 * DAY;
    await sim.hooks.maintenance.prune();
    await sim.admin.query('VACUUM FULL');
    retained = minus(await tableSizes(sim.admin), sim.empty);
  } finally {
    await sim.admin.end();
    await sim.db.close();
  }

  // 2. Two years of steady monthly renewals, pruned monthly with the default retention.
  const year = await simulate(serverUrl, signer, { subscriptions: o.yearSubscriptions, months: 24, pruneMonthly: true });
  await year.admin.end();
  await year.db.close();
  const last6 = year.monthlyPruned.slice(-6);

  // 3. Pruning beside an offered 100/s.
  const load = await pruneUnderLoad(serverUrl, signer, { oldNotifications: o.oldNotifications, seconds: o.seconds, runs: o.runs });

  const n = sim.notifications;
  return {
    notifications: n,
    storage_bytes_per_notification: Math.round(sum(within) / n),
    storage_bytes_per_notification_retained: Math.round(sum(retained) / n),
    tables_within: per(within, n),
    tables_retained: per(retained, n),
    monthly_total_bytes: year.monthly,
    monthly_pruned_tables_bytes: year.monthlyPruned,
    flat_ratio_last_6_months: Math.round((Math.max(...last6) / Math.min(...last6)) * 100) / 100,
    prune_rows_per_s: load.rowsPerS,
    prune_rows: load.rows,
    p99_ms_at_100: load.p99Idle,
    p99_ms_at_100_while_pruning: load.p99Pruning,
    pruning_overlap: load.overlap,
  };
}

// Run alone: `npx tsx bench/storage.ts` (SMOKE=1 for tiny counts).
if (import.meta.url === `file://${process.argv[1]}`) {
  const smoke = process.env.SMOKE === '1';
  const server = await postgresServer();
  try {
    const r = await runStorageBench(
      server.url,
      smoke
        ? { subscriptions: 30, yearSubscriptions: 10, oldNotifications: 2000, seconds: 2, runs: 1 }
        : { subscriptions: 300, yearSubscriptions: 100, oldNotifications: 100_000, seconds: 5, runs: 3 },
    );
    console.log(JSON.stringify(r, null, 2));
  } finally {
    await server.stop();
  }
}
