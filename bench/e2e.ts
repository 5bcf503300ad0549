/**
 * End to end over HTTP: the Express example (separate process) on 127.0.0.1 with the PostgreSQL store
 * (and SQLite), autocannon firing distinct signed notifications, each committed before its 200.
 * Baseline in the same run: the same app and database writes, verifying with Apple's library.
 */
import autocannon from 'autocannon';
import type { AppleTestSigner } from '../src/testing/index.js';
import { freshPostgres, freshSqlite, type BenchDb } from './lib/databases.js';
import { median, signedBodies } from './lib/fixtures.js';
import { startChild } from './lib/spawn.js';

const PATH = '/api/users/app-store-notifications';

export interface LoadResult {
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
}

let bodyOffset = 0;
/** One autocannon run: every request a distinct body from `bodies` (or the duplicate mix given). */
async function fire(url: string, bodies: string[], opts: { seconds: number; rate?: number; connections?: number }): Promise<LoadResult> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: opts.connections ?? 32,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        method: 'POST',
        path: PATH,
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }),
      },
    ],
  });
  if (i > bodies.length) console.warn(`  (warning: ${i} requests for ${bodies.length} bodies: some repeated)`);
  return { req_per_s: result.requests.average, p50_ms: result.latency.p50, p99_ms: result.latency.p99, non2xx: result.non2xx + result.errors + result.timeouts };
}

function medianOf(results: LoadResult[]): LoadResult {
  return {
    req_per_s: median(results.map((r) => r.req_per_s)),
    p50_ms: median(results.map((r) => r.p50_ms)),
    p99_ms: median(results.map((r) => r.p99_ms)),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
  };
}

export interface E2eScenario {
  name: string;
  store: 'postgresql' | 'sqlite';
  verifier: 'ours' | 'apple';
}

export interface E2eResult {
  name: string;
  loads: Record<string, LoadResult>;
  saturation: LoadResult;
  duplicates50: LoadResult;
}

export async function runE2e(signer: AppleTestSigner, pgServer: string, scenario: E2eScenario, o: { runs: number; seconds: number; rates: number[] }): Promise<E2eResult> {
  const out: E2eResult = { name: scenario.name, loads: {}, saturation: { req_per_s: 0, p50_ms: 0, p99_ms: 0, non2xx: 0 }, duplicates50: { req_per_s: 0, p50_ms: 0, p99_ms: 0, non2xx: 0 } };
  const root = Buffer.from(signer.rootCertificate).toString('base64');
  const withServer = async (run: (url: string) => Promise<LoadResult>) => {
    const db: BenchDb = scenario.store === 'postgresql' ? await freshPostgres(pgServer) : await freshSqlite();
    const server = await startChild('bench/lib/server.ts', { STORE: scenario.store, DATABASE_URL: db.url, VERIFIER: scenario.verifier, ROOT_CERT: root });
    try {
      // Warm-up: JIT, connection pool, chain cache.
      await fire(server.url, await signedBodies(signer, 200, (bodyOffset += 1_000_000)), { seconds: 1, connections: 8 });
      return await run(server.url);
    } finally {
      await server.stop();
      await db.close();
    }
  };
  const budget = (rate: number) => Math.ceil(rate * o.seconds * 1.2) + 100;
  for (const rate of o.rates) {
    const runs: LoadResult[] = [];
    for (let r = 0; r < o.runs; r++) {
      const bodies = await signedBodies(signer, budget(rate), (bodyOffset += 1_000_000));
      runs.push(await withServer((url) => fire(url, bodies, { seconds: o.seconds, rate })));
    }
    out.loads[String(rate)] = medianOf(runs);
    console.log(`  ${scenario.name} @${rate}/s`, out.loads[String(rate)]);
  }
  const satRuns: LoadResult[] = [];
  const dupRuns: LoadResult[] = [];
  for (let r = 0; r < o.runs; r++) {
    const bodies = await signedBodies(signer, budget(1500), (bodyOffset += 1_000_000));
    satRuns.push(await withServer((url) => fire(url, bodies, { seconds: o.seconds })));
    // 50% redeliveries: every body is sent twice, the second time as Apple's retry of it.
    const half = await signedBodies(signer, Math.ceil(budget(1500) / 2), (bodyOffset += 1_000_000));
    const mixed = half.flatMap((b) => [b, b]);
    dupRuns.push(await withServer((url) => fire(url, mixed, { seconds: o.seconds })));
  }
  out.saturation = medianOf(satRuns);
  out.duplicates50 = medianOf(dupRuns);
  console.log(`  ${scenario.name} saturation`, out.saturation, 'with 50% duplicates', out.duplicates50);
  return out;
}
