import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../examples/express/app.js';
import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type SubscriptionWebhooks } from '../../src/index.js';
import { APP_APPLE_ID, BUNDLE_ID, recordingLogger, sharedSigner } from '../helpers/apple-harness.js';
import { startFakeAppleApi, type FakeAppleApi } from '../helpers/fake-apple-api.js';

const root = new URL('../..', import.meta.url).pathname;
const ROUTE = '/api/users/app-store-notifications';

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

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The Express example app, trusting Apple's root and the given roots (paths, as a dev server would). */
async function exampleApp(rootCertificates: Array<string | Uint8Array>) {
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: ['apple', ...rootCertificates] },
    store: memoryStore(),
    logger: recordingLogger(),
  });
  const events: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    events.push(e);
  });
  const server = createApp(hooks).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { hooks, events, server, base, url: base + ROUTE };
}

let dir: string;
let rootPath: string;
let app: Awaited<ReturnType<typeof exampleApp>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-cli-'));
  const first = await cli(['chain', '--json', '--dir', join(dir, '.subscription-webhooks')]);
  expect(first.code).toBe(0);
  rootPath = (JSON.parse(first.stdout) as { rootCertificate: string }).rootCertificate;
  app = await exampleApp([rootPath]);
});
afterAll(() => new Promise<void>((resolve) => app.server.close(() => resolve())));

const chainDir = () => join(dir, '.subscription-webhooks');

describe('CLI: local test chain and simulate', () => {
  it('chain: stored under .subscription-webhooks/, root printed, reused on the next run', async () => {
    const again = await cli(['chain', '--json', '--dir', chainDir()]);
    expect(JSON.parse(again.stdout)).toMatchObject({ rootCertificate: rootPath, created: false });
    expect(existsSync(join(chainDir(), 'root.pem'))).toBe(true);
    expect(readFileSync(join(chainDir(), '.gitignore'), 'utf8')).toBe('*\n');
    const text = await cli(['chain', '--dir', chainDir()]);
    expect(text.stdout).toContain(`APPLE_ROOT_CERTIFICATES=apple,${rootPath}`);
  });

  it('simulate lifecycle against the Express example produces the same events as the demo', async () => {
    const before = app.events.length;
    const r = await cli(['simulate', 'lifecycle', '--url', app.url, '--user', 'user_42', '--json', '--dir', chainDir()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; originalTransactionId: string; steps: Array<{ status: number; result: string }> };
    expect(out.ok).toBe(true);
    expect(out.steps.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 400]);
    expect(out.steps[1]!.result).toBe('duplicate');
    // examples/express/demo.ts checks exactly this list.
    expect(app.events.slice(before).map((e) => e.type)).toEqual([
      'provider.notification.received',
      'customer.subscription.created',
      'customer.subscription.started',
      'order.paid',
      'provider.notification.received',
      'customer.subscription.renewed',
      'order.paid',
      'provider.notification.received',
      'customer.subscription.canceled',
      'provider.notification.received',
      'customer.subscription.deleted',
    ]);
    const sub = await app.hooks.subscriptions.get(out.originalTransactionId);
    expect(sub).toMatchObject({ status: 'expired', user_id: 'user_42' });
  });

  it('simulate apple TYPE/SUBTYPE prints a table; a server that does not trust the chain → exit 1', async () => {
    const r = await cli(['simulate', 'apple', 'SUBSCRIBED/INITIAL_BUY', '--url', app.url, '--product', 'com.example.pro.yearly', '--dir', chainDir()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/notification\s+uuid\s+HTTP\s+result/);
    expect(r.stdout).toMatch(/SUBSCRIBED\/INITIAL_BUY\s+\S+\s+200\s+Notification processed/);
    expect(r.stdout).toContain(rootPath);
    expect((await app.hooks.subscriptions.list()).some((s) => s.product_id === 'com.example.pro.yearly')).toBe(true);

    const stranger = await exampleApp([]);
    try {
      const rejected = await cli(['simulate', 'apple', 'DID_RENEW', '--url', stranger.url, '--json', '--dir', chainDir()]);
      expect(rejected.code).toBe(1);
      expect(JSON.parse(rejected.stdout)).toMatchObject({ ok: false, status: 400, response: { data: { error: 'CERT_CHAIN_INVALID' } } });
    } finally {
      stranger.server.close();
    }
  });

  it('simulate xsolla signs sha1(rawBody + secret) into Authorization: Signature', async () => {
    const received: Array<{ ok: boolean; body: Record<string, unknown> }> = [];
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const ok =
          req.headers.authorization ===
          `Signature ${createHash('sha1')
            .update(raw + 'topsecret')
            .digest('hex')}`;
        received.push({ ok, body: JSON.parse(raw) as Record<string, unknown> });
        res.writeHead(ok ? 204 : 400).end(ok ? undefined : JSON.stringify({ error: { code: 'INVALID_SIGNATURE', message: 'bad' } }));
      });
    });
    const base = await listen(server);
    try {
      const ok = await cli([
        'simulate',
        'xsolla',
        'create_subscription',
        '--url',
        `${base}/api/xsolla/webhooks`,
        '--secret',
        'topsecret',
        '--user',
        'u1',
        '--project-id',
        '12345',
        '--json',
      ]);
      expect(ok.code).toBe(0);
      expect(received[0]).toMatchObject({
        ok: true,
        body: { notification_type: 'create_subscription', user: { id: 'u1' }, settings: { project_id: 12345 }, subscription: { plan_id: 'pro-monthly' } },
      });
      const bad = await cli(['simulate', 'xsolla', 'payment', '--url', `${base}/api/xsolla/webhooks`, '--secret', 'wrong']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/payment\s+400\s+INVALID_SIGNATURE/);
    } finally {
      server.close();
    }
  });
});

describe('CLI: App Store Server API commands (a local server plays Apple)', () => {
  let apple: FakeAppleApi;
  let env: Record<string, string>;
  let target: { hooks: SubscriptionWebhooks; url: string; server: Server; events: DomainEvent[] };

  beforeAll(async () => {
    const signer = await sharedSigner();
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
    const t = Date.now() - 3_600_000;
    for (let i = 0; i < 5; i++) {
      apple.history.push({
        signedDate: t + i,
        signedPayload: await signer.signNotification({ signedDate: t + i, data: { environment: 'Production', appAppleId: APP_APPLE_ID } }),
        sendAttempts: [{ attemptDate: t + i, sendAttemptResult: 'NO_RESPONSE' }],
      });
    }
    apple.setTestNotification({
      signedPayload: await signer.signNotification({ data: { environment: 'Production', appAppleId: APP_APPLE_ID } }),
      sendAttempts: [{ attemptDate: Date.now(), sendAttemptResult: 'SUCCESS' }],
    });
    target = await exampleApp([join(dir, 'signer-root.cer')]);
  });
  afterAll(async () => {
    target.server.close();
    await apple.close();
  });

  it('reconcile --since 7d --url: delivers history to the running server; the second run is all duplicates', async () => {
    const first = await cli(['reconcile', '--since', '7d', '--url', target.url, '--json'], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ seen: 5, processed: 5, duplicates: 0, failed: 0, failures: [] });
    expect(await target.hooks.store.countNotifications()).toBe(5);
    const second = await cli(['reconcile', '--since', '7d', '--url', target.url], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/seen\s+processed\s+duplicates\s+failed\n[- ]+\n5\s+0\s+5\s+0/);
    const dry = await cli(['reconcile', '--since', '7d', '--only-failures', '--json'], env);
    expect((JSON.parse(dry.stdout) as { notifications: unknown[] }).notifications).toHaveLength(5);
    expect(apple.seen.filter((r) => r.path === '/inApps/v1/notifications/history').every((r) => r.authError === null)).toBe(true);
  });

  it('test-notification: asks Apple, reports the delivery attempts', async () => {
    const r = await cli(['test-notification', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, environment: 'Production', sendAttempts: [{ sendAttemptResult: 'SUCCESS' }] });
  });

  it('exit code 2 for usage errors', async () => {
    const results = await Promise.all([
      cli([]),
      cli(['simulate', 'apple', 'DID_RENEW']),
      cli(['simulate', 'lifecycle', '--url', app.url, '--bogus']),
      cli(['reconcile', '--since', 'soon'], env),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(results[2]!.stderr).toMatch(/--bogus/);
  });

  it('exit codes: 3 configuration, 4 unreachable; 4 with a typed error for a 401', async () => {
    const noConfig = await cli(['reconcile', '--since', '7d'], { APPLE_BUNDLE_ID: BUNDLE_ID, APPLE_ENVIRONMENTS: 'Sandbox' });
    expect(noConfig.code).toBe(3);
    expect(noConfig.stderr).toMatch(/APPLE_KEY_ID/);
    expect((await cli(['simulate', 'apple', 'DID_RENEW', '--url', 'http://127.0.0.1:9/x', '--dir', chainDir()])).code).toBe(4);
    apple.failNext('/inApps/v1/notifications/test', { status: 401 }, 2);
    const unauthorized = await cli(['test-notification', '--json'], env);
    expect(unauthorized.code).toBe(4);
    expect(JSON.parse(unauthorized.stdout)).toMatchObject({ ok: false, error: 'APPLE_API_UNAUTHORIZED' });
  });

  it('schema path prints the shipped Prisma fragment', async () => {
    const r = await cli(['schema', 'path']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(root, 'prisma-schema', 'subscription-webhooks.prisma'));
  });
});
