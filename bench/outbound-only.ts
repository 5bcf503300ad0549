/**
 * `npx tsx bench/outbound-only.ts`: only the outbound benchmarks of `npm run bench` (throughput and
 * latency with 1 and 2 workers, and the noisy-neighbour ratio), on an embedded PostgreSQL. Prints the
 * figures under their latest.json keys; writes nothing. Env: RUNS (default 1), EVENTS (default 10000),
 * PARTS (default `throughput,noisy`).
 */
import { postgresServer } from './lib/databases.js';
import { runNoisyNeighbour, runOutbound } from './outbound.js';

const runs = Number(process.env.RUNS ?? 1);
const pg = await postgresServer();
try {
  const parts = (process.env.PARTS ?? 'throughput,noisy').split(',');
  const outbound = parts.includes('throughput') ? await runOutbound(pg.url, runs, Number(process.env.EVENTS ?? 10_000)) : [];
  const noisy = parts.includes('noisy') ? await runNoisyNeighbour(pg.url, runs) : null;
  console.log(
    JSON.stringify(
      {
        outbound_events_per_s: outbound.find((o) => o.workers === 1)?.events_per_s,
        outbound_events_per_s_2_workers: outbound.find((o) => o.workers === 2)?.events_per_s,
        outbound_p99_ms: outbound.find((o) => o.workers === 1)?.p99_ms,
        outbound_noisy_neighbour_p99_ratio: noisy?.ratio,
        noisy,
      },
      null,
      2,
    ),
  );
} finally {
  await pg.stop();
}
