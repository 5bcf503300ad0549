/**
 * `npx tsx bench/cpu-per-notification.ts`: the server process' CPU time (user + system, from
 * /proc/<pid>/stat) per distinct notification, over HTTP, for the stores in STORES (comma separated:
 * sqlite-driver, sqlite, pg, postgresql). Unlike req/s, CPU per notification does not depend on what else
 * runs on the machine, so it bounds a store's throughput on one free core: 1000 / ms. With a PostgreSQL
 * store also the CPU of the PostgreSQL processes it started (postmaster and backends). Writes nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
/** CPU ticks of the PostgreSQL processes this benchmark started (the postmaster and its backends: descendants of this process named postgres). */
const postgresTicks = (): number => {
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = procs.get(pid), n = 0; p && n < 16; p = procs.get(p.ppid), n++) if (p.ppid === process.pid) return true;
    return false;
  };
  let sum = 0;
  for (const [pid, p] of procs) if (p.comm === 'postgres' && mine(pid)) sum += p.ticks;
  return sum;
};
const stores = (process.env.STORES ?? 'sqlite-driver').split(',');
const signer = await benchSigner();
const bodies = await signedBodies(signer, N + 200);
const pg = stores.some((s) => s === 'pg' || s === 'postgresql') ? await postgresServer() : null;
try {
  for (const store of stores) {
    const db = store.startsWith('sqlite') ? await freshSqlite() : await freshPostgres(pg!.url);
    const server = await startChild('bench/lib/server.ts', {
      STORE: store,
      DATABASE_URL: db.url,
      VERIFIER: process.env.VERIFIER ?? 'ours',
      ROOT_CERT: Buffer.from(signer.rootCertificate).toString('base64'),
      SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS ?? 'FULL',
    });
    try {
      let i = 0;
      const fire = (n: number, from: number) =>
        autocannon({
          url: server.url,
          connections: 32,
          amount: n,
          requests: [
            { method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: bodies[from + i++] }) },
          ],
        });
      await fire(200, 0); // warm-up
      i = 0;
      const before = ticks(server.pid);
      const pgBefore = postgresTicks();
      const t0 = performance.now();
      const r = await fire(N, 200);
      const cpuMs = (ticks(server.pid) - before) * 10;
      const pgCpuMs = (postgresTicks() - pgBefore) * 10;
      console.log(
        JSON.stringify({
          store,
          verifier: process.env.VERIFIER ?? 'ours',
          notifications: N,
          non2xx: r.non2xx,
          server_cpu_ms_per_notification: +(cpuMs / N).toFixed(3),
          one_core_bound_req_per_s: Math.round(N / (cpuMs / 1000)),
          ...(pg ? { postgres_cpu_ms_per_notification: +(pgCpuMs / N).toFixed(3) } : {}),
          wall_req_per_s: Math.round(N / ((performance.now() - t0) / 1000)),
        }),
      );
    } finally {
      await server.stop();
      await db.close();
    }
  }
} finally {
  await pg?.stop();
}
