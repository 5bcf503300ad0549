/**
 * `npm run bench`: every benchmark, side by side in one run, on this machine. Prints a table, writes
 * bench/results/latest.json (+ a dated copy) and the table into BENCHMARKS.md.
 * Env: RUNS (default 5), SECONDS (per HTTP run, default 3), QUICK=1 for a smoke run (fewer, shorter runs).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { runE2e, type E2eResult } from './e2e.js';
import { E2E_SCENARIOS } from './run-scenarios.js';
import { benchSigner, signedBodies } from './lib/fixtures.js';
import { postgresServer } from './lib/databases.js';
import { runVerifyBench } from './verify.js';
import { runNoisyNeighbour, runOutbound, type NoisyNeighbourResult, type OutboundResult } from './outbound.js';
import { runStorageBench, type StorageResult } from './storage.js';

// SMOKE=1 (npm run bench:smoke, run by CI): tiny counts so the benchmark code cannot rot; no figures
// are asserted and neither BENCHMARKS.md nor latest.json is written.
const smoke = process.env.SMOKE === '1';
const quick = smoke || process.env.QUICK === '1';
const runs = Number(process.env.RUNS ?? (quick ? 1 : 5));
const seconds = Number(process.env.SECONDS ?? (smoke ? 1 : 1.5));
const root = new URL('..', import.meta.url).pathname;
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const date = new Date().toISOString();
console.log(`subscription-webhooks benchmarks — ${machine}, Node ${process.version}, ${date}, ${runs} run(s) per figure\n`);

console.log('verify + decode (one core, warm)…');
const verify = await runVerifyBench(runs, smoke ? 100 : quick ? 500 : 1000);
console.log(verify);

console.log('\nend to end over HTTP…');
const signer = await benchSigner();
// Distinct signed bodies, signed once; every run uses a fresh database, so runs may share them.
const pool = await signedBodies(signer, smoke ? 3000 : 9000);
const pg = await postgresServer();
const e2e: Record<string, E2eResult> = {};
let outbound: OutboundResult[] = [];
let noisy: NoisyNeighbourResult = { p99_alone_ms: Number.NaN, p99_beside_hanging_ms: Number.NaN, ratio: Number.NaN };
let storage: StorageResult | undefined;
try {
  const rates = smoke ? [100] : [100, 500, 1000];
  // Headline: pgStore (subscription-webhooks/pg), with the baseline on the same store; prismaStore on the
  // same PostgreSQL; sqliteStore with its own baseline; prismaStore on SQLite (bench/run-scenarios.ts).
  for (const scenario of E2E_SCENARIOS) {
    e2e[scenario.name] = await runE2e(signer, pg.url, scenario, { runs, seconds, rates, pool });
  }
  console.log('\noutbound delivery (10,000 events, PostgreSQL)…');
  outbound = await runOutbound(pg.url, runs, smoke ? 300 : quick ? 2000 : 10_000);
  console.log('\noutbound noisy neighbour (a healthy endpoint alone, then beside one that never answers)…');
  noisy = await runNoisyNeighbour(pg.url, runs, smoke ? 4 : 60);
  console.log('\nstorage and retention (PostgreSQL, pgStore, injected clock)…');
  storage = await runStorageBench(
    pg.url,
    smoke
      ? { subscriptions: 30, yearSubscriptions: 10, oldNotifications: 2000, seconds: 2, runs: 1 }
      : { subscriptions: 300, yearSubscriptions: 100, oldNotifications: quick ? 20_000 : 100_000, seconds: quick ? 3 : 5, runs },
  );
  console.log(storage);
} finally {
  await pg.stop();
}

console.log('\nmemory (100,000 notifications in one process)…');
const mem = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    '--import',
    'tsx',
    '-e',
    `import('./bench/memory.ts').then(async (m) => console.log(JSON.stringify(await m.runMemoryBench(${smoke ? 21_000 : quick ? 20_000 : 100_000}))))`,
  ],
  {
    cwd: root,
    encoding: 'utf8',
  },
);
const memory = JSON.parse(mem.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
console.log(memory);

const ours = e2e.ours_pg!;
const results = {
  machine,
  node: process.version,
  date,
  runs,
  verify_ops_per_s: round(verify.ours_ops_per_s, 0),
  verify_apple_ops_per_s: round(verify.apple_ops_per_s, 0),
  verify_floor_ops_per_s: round(verify.floor_ops_per_s, 0),
  verify_cold_ops_per_s: round(verify.ours_cold_ops_per_s, 0),
  verify_ratio_vs_apple: round(verify.ours_ops_per_s / verify.apple_ops_per_s, 2),
  verify_fraction_of_floor: round(verify.ours_ops_per_s / verify.floor_ops_per_s, 3),
  e2e_pg_req_per_s: round(ours.saturation.req_per_s, 0),
  e2e_ratio_vs_apple_baseline: round(ours.saturation.req_per_s / e2e.apple_pg!.saturation.req_per_s, 2),
  e2e_p99_ms_at_500: ours.loads['500']?.p99_ms ?? Number.NaN,
  e2e_prisma_pg_req_per_s: round(e2e.ours_prisma_pg!.saturation.req_per_s, 0),
  // sqliteStore (subscription-webhooks/sqlite, synchronous FULL); prismaStore on SQLite is e2e_prisma_sqlite_req_per_s.
  e2e_sqlite_req_per_s: round(e2e.ours_sqlite_driver!.saturation.req_per_s, 0),
  e2e_sqlite_ratio_vs_apple_baseline: round(e2e.ours_sqlite_driver!.saturation.req_per_s / e2e.apple_sqlite_driver!.saturation.req_per_s, 2),
  e2e_sqlite_p99_ms_at_100: e2e.ours_sqlite_driver!.loads['100']?.p99_ms ?? Number.NaN,
  e2e_sqlite_p99_ms_at_500: e2e.ours_sqlite_driver!.loads['500']?.p99_ms ?? Number.NaN,
  e2e_prisma_sqlite_req_per_s: round(e2e.ours_sqlite!.saturation.req_per_s, 0),
  e2e_prisma_pg_fraction_of_pgstore: round(e2e.ours_prisma_pg!.saturation.req_per_s / ours.saturation.req_per_s, 2),
  e2e_pg_dup50_req_per_s: round(ours.duplicates50.req_per_s, 0),
  outbound_events_per_s: outbound.find((o) => o.workers === 1)!.events_per_s,
  outbound_events_per_s_2_workers: outbound.find((o) => o.workers === 2)!.events_per_s,
  outbound_p99_ms: outbound.find((o) => o.workers === 1)!.p99_ms,
  outbound_noisy_neighbour_p99_ratio: noisy.ratio,
  outbound_noisy_neighbour: noisy,
  rss_growth_pct: memory.rss_growth_pct ?? Number.NaN,
  storage_bytes_per_notification: storage?.storage_bytes_per_notification ?? Number.NaN,
  storage_bytes_per_notification_retained: storage?.storage_bytes_per_notification_retained ?? Number.NaN,
  prune_rows_per_s: storage?.prune_rows_per_s ?? Number.NaN,
  e2e_pg_p99_ms_at_100: storage?.p99_ms_at_100 ?? Number.NaN,
  e2e_pg_p99_ms_at_100_while_pruning: storage?.p99_ms_at_100_while_pruning ?? Number.NaN,
  storage,
  outbound,
  e2e,
  memory,
};

const row = (name: string, r: E2eResult) =>
  `| ${name} | ${[100, 500, 1000].map((k) => (r.loads[k] ? `${r.loads[k].req_per_s.toFixed(0)} / ${r.loads[k].p50_ms} / ${r.loads[k].p99_ms}${r.loads[k].shed ? ` (shed ${r.loads[k].shed})` : ''}` : 'n/a')).join(' | ')} | ${r.saturation.req_per_s.toFixed(0)} (p99 ${r.saturation.p99_ms} ms) | ${r.duplicates50.req_per_s.toFixed(0)} |`;
const table = `Machine: ${machine}; Node ${process.version}; ${date.slice(0, 10)}; each figure the median of ${runs} run(s) after warm-up.

### Verify + decode one full notification (one core, warm, chain cached)

| | ops/s | vs ours |
|---|---|---|
| subscription-webhooks | ${results.verify_ops_per_s} | 1.00 |
| @apple/app-store-server-library (notification + transaction + renewal info) | ${results.verify_apple_ops_per_s} | ${round(1 / results.verify_ratio_vs_apple, 2)} |
| floor: one bare ES256 \`crypto.verify\`, key cached | ${results.verify_floor_ops_per_s} | ${round(verify.floor_ops_per_s / verify.ours_ops_per_s, 2)} |
| subscription-webhooks, cold (first sight of a chain) | ${results.verify_cold_ops_per_s} | ${round(verify.ours_cold_ops_per_s / verify.ours_ops_per_s, 2)} |

Ours vs Apple's library: **${results.verify_ratio_vs_apple}×**; fraction of the floor: **${results.verify_fraction_of_floor}**.

### End to end over HTTP (Express example, separate process, 127.0.0.1; durable commit before 200)

Offered load columns: achieved req/s / p50 ms / p99 ms, paced open loop (evenly spaced arrivals, latency from each request's scheduled time, at most 128 waiting: past capacity the rest are shed and counted, summed over the runs). Saturation and redeliveries: autocannon, 32 connections.

| server | 100/s | 500/s | 1,000/s | saturation req/s | 50% redeliveries req/s |
|---|---|---|---|---|---|
${row('ours, PostgreSQL, pgStore', ours)}
${row("Apple's library, PostgreSQL, pgStore (baseline)", e2e.apple_pg!)}
${row('ours, PostgreSQL, prismaStore', e2e.ours_prisma_pg!)}
${row('ours, SQLite, sqliteStore (synchronous FULL: WAL fsynced before each 200)', e2e.ours_sqlite_driver!)}
${row("Apple's library, SQLite, sqliteStore (baseline)", e2e.apple_sqlite_driver!)}
${row('ours, SQLite, prismaStore', e2e.ours_sqlite!)}

Ours vs the baseline at saturation: **${results.e2e_ratio_vs_apple_baseline}×**. prismaStore on the same database: ${results.e2e_prisma_pg_req_per_s} req/s (pgStore serves ${round(results.e2e_pg_req_per_s / results.e2e_prisma_pg_req_per_s, 2)}× as many). SQLite through sqliteStore: ${results.e2e_sqlite_req_per_s} req/s, **${results.e2e_sqlite_ratio_vs_apple_baseline}×** its baseline; prismaStore on SQLite: ${results.e2e_prisma_sqlite_req_per_s} req/s.

### Outbound delivery (10,000 events to a receiver on 127.0.0.1, PostgreSQL through pgStore, Standard Webhooks signing)

| workers | events/s (backlog drained) | enqueue→delivery p50 / p99 at 500 events/s |
|---|---|---|
${outbound.map((o) => `| ${o.workers} | ${o.events_per_s} | ${o.p50_ms} / ${o.p99_ms} ms |`).join('\n')}

Noisy neighbour (one worker, 500 events/s to a healthy endpoint, 1 s attempt timeout): p99 enqueue→delivery ${noisy.p99_alone_ms} ms alone, ${noisy.p99_beside_hanging_ms} ms beside an endpoint that never answers: ratio **${noisy.ratio}** (target <= 1.5).

### Storage and retention (PostgreSQL, pgStore; docs/retention.md)

${
  storage
    ? `Per notification (what every \`sw_*\` table's pg_total_relation_size grew by from the empty tables / notifications; ${storage.notifications} notifications: subscriptions × purchase + 5 renewals, one endpoint, deliveries drained): **${storage.storage_bytes_per_notification} B** inside the raw-body window, **${storage.storage_bytes_per_notification_retained} B** once past it and the event and delivery windows (target <= 3,000), for as long as the dedup key is kept.

| table | B/notification within | retained |
|---|---|---|
${Object.keys(storage.tables_within)
  .sort()
  .map((t) => `| ${t} | ${storage!.tables_within[t]} | ${storage!.tables_retained[t] ?? 0} |`)
  .join('\n')}

Two years of steady monthly renewals pruned monthly (default retention, plain VACUUM): month-end size of the pruned tables ${storage.monthly_pruned_tables_bytes.map((x) => Math.round(x / 1024)).join(', ')} KiB (last six months within ${storage.flat_ratio_last_6_months}×); all tables, orders and subscriptions included ${storage.monthly_total_bytes.map((x) => Math.round(x / 1024)).join(', ')} KiB. Pruning: ${storage.prune_rows_per_s} rows/s (${storage.prune_rows} rows). p99 at an offered 100/s: ${storage.p99_ms_at_100} ms without pruning, ${storage.p99_ms_at_100_while_pruning} ms while it runs (pruning ran during ${Math.round(storage.pruning_overlap * 100)}% of the run; target: within 20%).`
    : 'not run'
}

### Memory (100,000 notifications through the core, nothing kept by the store)

RSS ${memory.rss_mb_at_20k} MB after 20,000 → ${memory.rss_mb_at_end} MB at the end (**${results.rss_growth_pct}%**); heap ${memory.heap_mb_at_20k} → ${memory.heap_mb_at_end} MB.
`;
console.log(`\n${table}`);
mkdirSync(`${root}bench/results`, { recursive: true });
if (smoke) {
  writeFileSync(`${root}bench/results/smoke.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log('bench smoke OK (figures not recorded)');
  process.exit(0);
}
const json = `${JSON.stringify(results, null, 2)}\n`;
writeFileSync(`${root}bench/results/latest.json`, json);
writeFileSync(`${root}bench/results/${date.slice(0, 19).replace(/:/g, '-')}.json`, json);
const doc = `${root}BENCHMARKS.md`;
const previous = (() => {
  try {
    return readFileSync(doc, 'utf8');
  } catch {
    return '';
  }
})();
const marker = '<!-- latest -->';
const head = previous.includes(marker)
  ? previous.slice(0, previous.indexOf(marker))
  : '# Benchmarks\n\n`npm run bench` (not part of `npm test`) runs everything below in one run on one machine; `bench/results/latest.json` has the figures for tools.\n\n';
writeFileSync(doc, `${head}${marker}\n## Latest run\n\n${table}`);
