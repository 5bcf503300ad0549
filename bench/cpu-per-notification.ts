/**
 * `npx tsx bench/cpu-per-notification.ts`: the server process' CPU time (user + system, from
 * /proc/<pid>/stat) per distinct notification, over HTTP, for the stores in STORES (comma separated:
 * sqlite-driver, sqlite, pg, postgresql). Unlike req/s, CPU per notification does not depend on what else
 * runs on the machine, so it bounds a store's throughput on one free core: 1000 / ms. Writes nothing.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { benchSigner, signedBodies } from './lib/fixtures.js';
import { freshPostgres, freshSqlite, postgresServer } from './lib/databases.js';
import { startChild } from './lib/spawn.js';

const PATH = '/api/users/app-store-notifications';
const N = Number(process.env.N ?? 3000);
const ticks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (1/100 s)
};
const stores = (process.env.STORES ?? 'sqlite-driver').split(',');
const signer = await benchSigner();
const bodies = await signedBodies(signer, N + 200);
const pg = stores.some((s) => s === 'pg' || s === 'postgresql') ? await postgresServer() : null;
try {
  for (const store of stores) {
    const db = store.startsWith('sqlite') ? await freshSqlite() : await freshPostgres(pg!.url);
    const server = await startChild('bench/lib/server.ts', { STORE: store, DATABASE_URL: db.url, VERIFIER: process.env.VERIFIER ?? 'ours', ROOT_CERT: Buffer.from(signer.rootCertificate).toString('base64'), SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS ?? 'FULL' });
    try {
      let i = 0;
      const fire = (n: number, from: number) =>
        autocannon({ url: server.url, connections: 32, amount: n, requests: [{ method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: bodies[from + i++] }) }] });
      await fire(200, 0); // warm-up
      i = 0;
      const before = ticks(server.pid);
      const t0 = performance.now();
      const r = await fire(N, 200);
      const cpuMs = (ticks(server.pid) - before) * 10;
      console.log(JSON.stringify({ store, verifier: process.env.VERIFIER ?? 'ours', notifications: N, non2xx: r.non2xx, server_cpu_ms_per_notification: +(cpuMs / N).toFixed(3), one_core_bound_req_per_s: Math.round(N / (cpuMs / 1000)), wall_req_per_s: Math.round(N / ((performance.now() - t0) / 1000)) }));
    } finally {
      await server.stop();
      await db.close();
    }
  }
} finally {
  await pg?.stop();
}
