import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { APP_APPLE_ID, BUNDLE_ID } from './apple-harness.js';

const root = new URL('../..', import.meta.url).pathname;

/** A running app instance in its own process. */
export interface AppProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
  /** SIGKILL: no cleanup, like a crash. */
  kill(): Promise<void>;
}

/** Starts test/fixtures/app-process.ts in a child process on a random port. */
export async function startAppProcess(databaseUrl: string, rootCertificate: Uint8Array): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/app-process.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEST_ROOT_CERT: Buffer.from(rootCertificate).toString('base64'),
      TEST_BUNDLE_ID: BUNDLE_ID,
      TEST_APP_APPLE_ID: String(APP_APPLE_ID),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('app process did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`app process exited early (${code})`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    child,
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
