import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_APPLE_ID, BUNDLE_ID, sharedSigner } from '../helpers/apple-harness.js';
import { startFakeAppleApi, type FakeAppleApi } from '../helpers/fake-apple-api.js';

const root = new URL('../..', import.meta.url).pathname;

/** Runs the real CLI in a child process (through tsx, as `node dist/cli.js` would run the build). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APPLE_') && !k.startsWith('XSOLLA_')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: root,
    env: { ...clean, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

let apple: FakeAppleApi;
let env: Record<string, string>;
const OTID = '2200000000000001';

beforeAll(async () => {
  const signer = await sharedSigner();
  const dir = mkdtempSync(join(tmpdir(), 'sw-cli-apple-'));
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID, pageSize: 2 });
  writeFileSync(join(dir, 'AuthKey.p8'), apple.privateKeyPem);
  writeFileSync(join(dir, 'signer-root.cer'), signer.rootCertificate);
  env = {
    APPLE_BUNDLE_ID: BUNDLE_ID,
    APPLE_APP_APPLE_ID: String(APP_APPLE_ID),
    APPLE_KEY_ID: apple.keyId,
    APPLE_ISSUER_ID: apple.issuerId,
    APPLE_PRIVATE_KEY_PATH: join(dir, 'AuthKey.p8'),
    APPLE_API_BASE_URL: apple.baseUrl,
    APPLE_ROOT_CERTIFICATES: join(dir, 'signer-root.cer'),
  };
  const tx = (n: number, extra: Record<string, unknown> = {}) =>
    signer.signTransaction({
      transactionId: `${OTID.slice(0, -1)}${n}`,
      originalTransactionId: OTID,
      productId: 'com.example.pro.monthly',
      environment: 'Production',
      ...extra,
    });
  apple.transactions.set(OTID, await tx(1));
  apple.orders.set('MK5TTTVWJH', [await tx(1), await tx(2)]);
  apple.refunds.set(OTID, await Promise.all([3, 4, 5].map((n) => tx(n, { revocationDate: 1_800_000_000_000 + n }))));
});
afterAll(() => apple.close());

describe('CLI: apple lookup-order, extend, refund-history (a local server plays Apple)', () => {
  it('lookup-order --json: the verified purchases; a table without --json; an unknown order exits 1', async () => {
    const r = await cli(['apple', 'lookup-order', 'MK5TTTVWJH', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      status: number;
      transactions: Array<{ transactionId: string; originalTransactionId: string; productId: string }>;
    };
    expect(out).toMatchObject({ ok: true, status: 0 });
    expect(out.transactions.map((t) => t.transactionId)).toEqual([OTID, `${OTID.slice(0, -1)}2`]);
    expect(out.transactions[0]).toMatchObject({ originalTransactionId: OTID, productId: 'com.example.pro.monthly' });
    const text = await cli(['apple', 'lookup-order', 'MK5TTTVWJH'], env);
    expect(text.stdout).toMatch(/order MK5TTTVWJH: 2 purchase\(s\)/);
    expect(text.stdout).toMatch(/transaction\s+original\s+product/);
    const unknown = await cli(['apple', 'lookup-order', 'NOPE', '--json'], env);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, status: 1, transactions: [] });
    expect(apple.seen.filter((q) => q.path.startsWith('/inApps/v1/lookup/')).every((q) => q.authError === null && q.method === 'GET')).toBe(true);
  });

  it('extend one subscription: --days and --reason by name; the request id is repeated when given', async () => {
    const r = await cli(['apple', 'extend', OTID, '--days', '5', '--reason', 'service-issue', '--request-id', 'outage-2026-11-27', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: true,
      success: true,
      requestIdentifier: 'outage-2026-11-27',
      originalTransactionId: OTID,
      effectiveDate: new Date(1_900_000_000_000 + 5 * 86_400_000).toISOString(),
    });
    expect(apple.extensions.at(-1)).toEqual({
      originalTransactionId: OTID,
      body: { extendByDays: 5, extendReasonCode: 3, requestIdentifier: 'outage-2026-11-27' },
    });
  });

  it('extend --all, then extend status until complete', async () => {
    const r = await cli(
      ['apple', 'extend', '--all', '--product', 'com.example.pro.monthly', '--days', '3', '--reason', '1', '--storefronts', 'usa,fra', '--json'],
      env,
    );
    expect(r.code).toBe(0);
    const { requestIdentifier } = JSON.parse(r.stdout) as { requestIdentifier: string };
    expect(apple.massExtensions.get(requestIdentifier)!.body).toEqual({
      productId: 'com.example.pro.monthly',
      extendByDays: 3,
      extendReasonCode: 1,
      storefrontCountryCodes: ['USA', 'FRA'],
      requestIdentifier,
    });
    const pending = await cli(['apple', 'extend', 'status', '--product', 'com.example.pro.monthly', '--request-id', requestIdentifier], env);
    expect(pending.stdout).toMatch(/in progress/);
    Object.assign(apple.massExtensions.get(requestIdentifier)!, { complete: true, succeededCount: 7, failedCount: 1, completeDate: 1_800_000_000_000 });
    const done = await cli(['apple', 'extend', 'status', '--product', 'com.example.pro.monthly', '--request-id', requestIdentifier, '--json'], env);
    expect(JSON.parse(done.stdout)).toEqual({
      ok: true,
      requestIdentifier,
      complete: true,
      completeDate: 1_800_000_000_000,
      succeededCount: 7,
      failedCount: 1,
    });
  });

  it('refund-history walks every page and prints the last revision', async () => {
    const r = await cli(['apple', 'refund-history', OTID, '--json'], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { refunds: Array<{ transactionId: string; revocationDate: string }>; revision: string };
    expect(out.refunds.map((t) => t.transactionId)).toEqual([3, 4, 5].map((n) => `${OTID.slice(0, -1)}${n}`));
    expect(out.refunds[0]!.revocationDate).toBe(new Date(1_800_000_000_003).toISOString());
    expect(out.revision).toBe('4');
    const later = await cli(['apple', 'refund-history', OTID, '--revision', '2', '--json'], env);
    expect((JSON.parse(later.stdout) as { refunds: unknown[] }).refunds).toHaveLength(1);
  });

  it('usage errors exit 2 before any request; Apple errors exit 4 with the typed code in --json', async () => {
    const before = apple.seen.length;
    const usage = await Promise.all([
      cli(['apple'], env),
      cli(['apple', 'lookup-order'], env),
      cli(['apple', 'extend', OTID, '--days', '91', '--reason', '1'], env),
      cli(['apple', 'extend', OTID, '--days', '3', '--reason', 'because'], env),
      cli(['apple', 'extend', '--all', '--days', '3', '--reason', '1'], env),
      cli(['apple', 'extend', '--all', '--product', 'p', '--days', '3', '--reason', '1', '--storefronts', 'US'], env),
    ]);
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(apple.seen.length).toBe(before);
    apple.ineligibleForExtension.add(OTID);
    const refused = await cli(['apple', 'extend', OTID, '--days', '3', '--reason', '1', '--json'], env);
    expect(refused.code).toBe(4);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: 'APPLE_API_ERROR', message: expect.stringMatching(/4030004/) });
    apple.ineligibleForExtension.delete(OTID);
    const missing = await cli(['apple', 'refund-history', '2299999999999999', '--json'], env);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: 'APPLE_API_NOT_FOUND' });
  });
});
