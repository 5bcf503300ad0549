/**
 * End to end over HTTP: the Express example (separate process) on 127.0.0.1 with the PostgreSQL store
 * (and SQLite), autocannon firing distinct signed notifications, each committed before its 200.
 * Baseline in the same run: the same app and database writes, verifying with Apple's library.
 */
import autocannon from 'autocannon';
import type { AppleTestSigner } from '../src/testing/index.js';
import { freshPostgres, freshSqlite, type BenchDb } from './lib/databases.js';
import { median } from './lib/fixtures.js';
import { paced, type LoadResult } from './lib/paced.js';
import { startChild } from './lib/spawn.js';

const PATH = '/api/users/app-store-notifications';

export type { LoadResult };

/** One autocannon run: every request a distinct body from `bodies` (or the duplicate mix given). */
async function fire(url: string, bodies: string[], opts: { seconds: number; connections?: number; amount?: number }): Promise<LoadResult> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: opts.connections ?? 32,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds }),
    requests: [
      {
        method: 'POST',
        path: PATH,
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }),
      },
    ],
  });
  if (i > bodies.length) throw new Error(`${i} requests for ${bodies.length} bodies: enlarge the pool (a repeated body would be measured as a duplicate)`);
  return {
    req_per_s: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx + result.errors + result.timeouts,
  };
}

function medianOf(results: LoadResult[]): LoadResult {
  return {
    req_per_s: median(results.map((r) => r.req_per_s)),
    p50_ms: median(results.map((r) => r.p50_ms)),
    p99_ms: median(results.map((r) => r.p99_ms)),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    ...(results.some((r) => r.shed !== undefined) ? { shed: results.reduce((a, r) => a + (r.shed ?? 0), 0) } : {}),
  };
}

export interface E2eScenario {
  name: string;
  /** `pg`: pgStore; `postgresql`: prismaStore on PostgreSQL; `sqlite`: prismaStore on SQLite; `sqlite-driver`: sqliteStore (synchronous=FULL). */
  store: 'pg' | 'postgresql' | 'sqlite' | 'sqlite-driver';
  verifier: 'ours' | 'apple';
}

export interface E2eResult {
  name: string;
  loads: Record<string, LoadResult>;
  saturation: LoadResult;
  duplicates50: LoadResult;
}

/**
 * One scenario: per run a fresh database and server; in it the fixed offered loads, then saturation,
 * then a burst where half the requests are redeliveries. `pool` holds distinct signed bodies, cut into
 * disjoint slices so no body is ever sent twice to one database (except as a deliberate redelivery).
 */
export async function runE2e(
  signer: AppleTestSigner,
  pgServer: string,
  scenario: E2eScenario,
  o: { runs: number; seconds: number; rates: number[]; pool: string[] },
): Promise<E2eResult> {
  const root = Buffer.from(signer.rootCertificate).toString('base64');
  const perLoad: Record<string, LoadResult[]> = {};
  const sat: LoadResult[] = [];
  const dup: LoadResult[] = [];
  for (let r = 0; r < o.runs; r++) {
    const db: BenchDb = scenario.store === 'sqlite' || scenario.store === 'sqlite-driver' ? await freshSqlite() : await freshPostgres(pgServer);
    const server = await startChild('bench/lib/server.ts', { STORE: scenario.store, DATABASE_URL: db.url, VERIFIER: scenario.verifier, ROOT_CERT: root });
    let cursor = 0;
    const take = (n: number) => {
      const slice = o.pool.slice(cursor, cursor + n);
      cursor += n;
      if (slice.length < n) throw new Error(`body pool too small (${o.pool.length})`);
      return slice;
    };
    try {
      await fire(server.url, take(150), { seconds: 1, amount: 150, connections: 8 }); // warm-up: JIT, pool, chain cache
      // Fixed offered loads: open loop, evenly paced (bench/lib/paced.ts says why not autocannon's rate mode).
      for (const rate of o.rates) (perLoad[rate] ??= []).push(await paced(server.url + PATH, take(Math.round(rate * o.seconds)), { seconds: o.seconds, rate }));
      const remaining = o.pool.length - cursor;
      sat.push(await fire(server.url, take(Math.floor(remaining / 2)), { seconds: o.seconds }));
      // 50% redeliveries: every body twice in a row, the second time as Apple's retry.
      dup.push(
        await fire(
          server.url,
          take(Math.floor((o.pool.length - cursor) / 1)).flatMap((b) => [b, b]),
          { seconds: o.seconds },
        ),
      );
    } finally {
      await server.stop();
      await db.close();
    }
  }
  const out: E2eResult = {
    name: scenario.name,
    loads: Object.fromEntries(Object.entries(perLoad).map(([k, v]) => [k, medianOf(v)])),
    saturation: medianOf(sat),
    duplicates50: medianOf(dup),
  };
  for (const [k, v] of Object.entries(out.loads)) console.log(`  ${scenario.name} @${k}/s`, v);
  console.log(`  ${scenario.name} saturation`, out.saturation, 'with 50% duplicates', out.duplicates50);
  return out;
}
