/**
 * `npx tsx bench/e2e-only.ts`: only the end-to-end scenarios named in SCENARIOS (comma separated, from
 * bench/run.ts), e.g. `SCENARIOS=ours_sqlite_driver,apple_sqlite_driver`. Prints the results; writes nothing.
 * Env as bench/run.ts: RUNS (default 1), SECONDS (default 1.5).
 */
import { runE2e, type E2eScenario } from './e2e.js';
import { benchSigner, signedBodies } from './lib/fixtures.js';
import { postgresServer } from './lib/databases.js';
import { E2E_SCENARIOS } from './run-scenarios.js';

const wanted = (process.env.SCENARIOS ?? 'ours_sqlite_driver').split(',');
const scenarios = E2E_SCENARIOS.filter((s) => wanted.includes(s.name));
if (scenarios.length === 0) throw new Error(`no scenario among ${E2E_SCENARIOS.map((s) => s.name).join(', ')}`);
const signer = await benchSigner();
const pool = await signedBodies(signer, Number(process.env.POOL ?? 9000));
const needsPg = scenarios.some((s: E2eScenario) => s.store === 'pg' || s.store === 'postgresql');
const pg = needsPg ? await postgresServer() : null;
try {
  for (const s of scenarios)
    await runE2e(signer, pg?.url ?? '', s, { runs: Number(process.env.RUNS ?? 1), seconds: Number(process.env.SECONDS ?? 1.5), rates: [100, 500, 1000], pool });
} finally {
  await pg?.stop();
}
