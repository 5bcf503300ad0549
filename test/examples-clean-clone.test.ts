import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppleTestSigner } from '../src/testing/index.js';

// Each example's README says: `npm install` at the repository root, then `npm start` in the example.
// Here: a clean clone of the committed tree (no generated Prisma client, no dist, no .data), the root's
// installed node_modules linked in place of a second `npm install` (same lock, same packages), then the
// README's start command, and a signed notification through it. Once, `npm start` crashed on a fresh
// clone with ERR_MODULE_NOT_FOUND … generated/client.js unless `npm run demo` had run first.
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sw-clone-'));
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

describe('examples start from a clean clone with their README commands', () => {
  const clone = join(dir, 'repo');
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', root, clone]);
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));

  for (const example of ['express', 'koa']) {
    it(`examples/${example}: npm start serves a signed notification`, { timeout: 120_000 }, async () => {
      const signer = await createAppleTestSigner({ bundleId: 'com.you.app', environment: 'Sandbox' });
      const rootFile = join(dir, `${example}-root.cer`);
      writeFileSync(rootFile, signer.rootCertificate);
      const port = await freePort();
      const child = spawn('npm', ['start'], {
        cwd: join(clone, 'examples', example),
        detached: true,
        env: { ...process.env, APPLE_BUNDLE_ID: 'com.you.app', APPLE_ENVIRONMENTS: 'Sandbox', APPLE_ROOT_CERTIFICATES: rootFile, PORT: String(port), NODE_ENV: 'development' },
      });
      children.push(child);
      let output = '';
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', () => output.includes('listening on') && resolve());
        child.on('exit', (code) => reject(new Error(`npm start exited ${code}:\n${output}`)));
      });
      const signedPayload = await signer.signNotification({
        notificationType: 'SUBSCRIBED',
        subtype: 'INITIAL_BUY',
        data: { transaction: { originalTransactionId: '7001', transactionId: '7001', productId: 'pro' } },
      });
      const r = await fetch(`http://127.0.0.1:${port}/api/users/app-store-notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signedPayload }) });
      expect(r.status, output).toBe(200);
      expect(await r.json()).toMatchObject({ data: { processed: true, notificationType: 'SUBSCRIBED' } });
    });
  }
});
