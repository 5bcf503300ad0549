import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppleTestSigner } from '../../src/testing/index.js';

// Each example starts from a clean clone of the repository with its README's commands only: a clone of
// the committed tree (no generated Prisma client, no dist, no .next, no .data), then the README's `sh`
// block run line by line, then a signed notification through the started server. One README step is
// stood in for: `npm install` at the repository root is the root's installed node_modules, hard-linked
// into the clone (same lock, same packages, a real directory: Turbopack does not follow a symlink out of
// its root). Every other command runs as written, `npm install` in examples/nextjs included (it needs the
// npm registry, like CI's install step). Afterwards `git status` must be clean: nothing the README's
// commands write may be left untracked (once, `npm install` in examples/nextjs left a package-lock.json).
// Once, `npm start` crashed on a fresh clone with ERR_MODULE_NOT_FOUND … generated/client.js unless
// `npm run demo` had run first.
const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sw-clone-'));
const clone = join(dir, 'repo');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** The README's first `sh` block, one command per line (comments dropped). */
function readmeCommands(example: string): string[] {
  const readme = readFileSync(join(clone, 'examples', example, 'README.md'), 'utf8');
  const block = /^```sh\n([\s\S]*?)^```/m.exec(readme)?.[1];
  if (!block) throw new Error(`examples/${example}/README.md has no sh block`);
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

/** Runs one README command in the example folder through the shell; the last one (the server) is left running. */
function sh(example: string, command: string, env: Record<string, string>, background = false) {
  // A user's shell: not vitest's NODE_ENV=test.
  const { NODE_ENV: _, ...shell } = process.env;
  const child = spawn('bash', ['-c', command], {
    cwd: join(clone, 'examples', example),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...shell, NEXT_TELEMETRY_DISABLED: '1', npm_config_audit: 'false', npm_config_fund: 'false', ...env } as unknown as NodeJS.ProcessEnv, // without NODE_ENV, which some type packages declare required
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return new Promise<() => string>((resolve, reject) => {
    if (background) child.stdout!.on('data', () => /listening on|Ready in/.test(output) && resolve(() => output));
    child.on('exit', (code) => (code === 0 && !background ? resolve(() => output) : reject(new Error(`${command} exited ${code}:\n${output}`))));
  });
}

describe('examples start from a clean clone with their README commands', () => {
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', root, clone]);
  // `npm install` at the repository root: its node_modules, hard-linked (milliseconds; same file system as /tmp here).
  execFileSync('cp', ['-al', realpathSync(join(root, 'node_modules')), join(clone, 'node_modules')]);

  for (const example of ['express', 'koa', 'nextjs']) {
    it(`examples/${example}: the README's commands serve a signed notification, and leave nothing untracked`, { timeout: 600_000 }, async () => {
      const signer = await createAppleTestSigner({ bundleId: 'com.you.app', environment: 'Sandbox' });
      const rootFile = join(dir, `${example}-root.cer`);
      writeFileSync(rootFile, signer.rootCertificate);
      const port = await freePort();
      const commands = readmeCommands(example);
      expect(commands.at(-1), 'the last command starts the server').toMatch(/npm start$/);
      for (const command of commands.slice(0, -1)) {
        // The root's `npm install` is the hard-linked node_modules above; the rest of the line runs.
        const rest = command
          .replace(/^\(cd \.\.\/\.\. && npm install && (.*)\)$/, '(cd ../.. && $1)')
          .replace(/^npm install$/, example === 'nextjs' ? 'npm install' : 'true');
        await sh(example, rest, {});
      }
      const output = await sh(example, commands.at(-1)!, { APPLE_ENVIRONMENTS: 'Sandbox', APPLE_ROOT_CERTIFICATES: rootFile, PORT: String(port) }, true);
      const signedPayload = await signer.signNotification({
        notificationType: 'SUBSCRIBED',
        subtype: 'INITIAL_BUY',
        data: { transaction: { originalTransactionId: '7001', transactionId: '7001', productId: 'pro' } },
      });
      const r = await fetch(`http://127.0.0.1:${port}/api/users/app-store-notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ signedPayload }),
      });
      expect(r.status, output()).toBe(200);
      expect(await r.json()).toMatchObject({ code: 200, data: { processed: true, notificationType: 'SUBSCRIBED', transactionId: '7001' } });
      expect(execFileSync('git', ['status', '--porcelain'], { cwd: clone, encoding: 'utf8' }), 'untracked or changed files after the README commands').toBe('');
    });
  }
});
