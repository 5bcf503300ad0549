import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { APP_APPLE_ID, BUNDLE_ID } from './apple-harness.js';

const root = new URL('../..', import.meta.url).pathname;

/** A running app instance in its own process. */
export interface AppProcess {
  url: string;
  child: ChildProcess;
  /** What the process wrote to stderr, when started with `captureStderr` (else it is inherited). */
  stderr: string[];
  stop(): Promise<void>;
  /** SIGKILL: no cleanup, like a crash. */
  kill(): Promise<void>;
}

export interface ProcessOptions {
  /** Extra environment, e.g. `TEST_DELIVERY: '1'` (see test/fixtures/app-process.ts). */
  env?: Record<string, string>;
  /** Keep stderr in `stderr` instead of printing it (tests that provoke logged errors on purpose). */
  captureStderr?: boolean;
}

/** Spawns `node --import tsx <script>`, resolves once it printed its first stdout line (JSON). */
async function spawnFixture(script: string, env: Record<string, string>, options: ProcessOptions) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, ...env, ...options.env },
    stdio: ['ignore', 'pipe', options.captureStderr ? 'pipe' : 'inherit'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 10_000) stderr.push(c.toString('utf8'));
  });
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code}) ${stderr.join('').slice(-2000)}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    first,
    child,
    stderr,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts test/fixtures/app-process.ts in a child process on a random port. */
export async function startAppProcess(databaseUrl: string, rootCertificate: Uint8Array, options: ProcessOptions = {}): Promise<AppProcess> {
  const p = await spawnFixture(
    'test/fixtures/app-process.ts',
    {
      DATABASE_URL: databaseUrl,
      TEST_ROOT_CERT: Buffer.from(rootCertificate).toString('base64'),
      TEST_BUNDLE_ID: BUNDLE_ID,
      TEST_APP_APPLE_ID: String(APP_APPLE_ID),
    },
    options,
  );
  return { url: `http://127.0.0.1:${Number(p.first.port)}`, child: p.child, stderr: p.stderr, stop: p.stop, kill: p.kill };
}

/** A delivery worker in its own process (test/fixtures/delivery-worker-process.ts). */
export type WorkerProcess = Omit<AppProcess, 'url'>;

/**
 * Starts test/fixtures/delivery-worker-process.ts on `databaseUrl`; `options.env` may set
 * DELIVERY_BATCH_SIZE, DELIVERY_CONCURRENCY, DELIVERY_TIMEOUT_MS, DELIVERY_CLOCK_OFFSET_MS.
 */
export async function startDeliveryWorkerProcess(databaseUrl: string, options: ProcessOptions = {}): Promise<WorkerProcess> {
  const p = await spawnFixture('test/fixtures/delivery-worker-process.ts', { DATABASE_URL: databaseUrl }, options);
  return { child: p.child, stderr: p.stderr, stop: p.stop, kill: p.kill };
}
