import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, SubscriptionWebhooksError } from '../../src/index.js';
import { createAppleTestSigner } from '../../src/testing/index.js';

// Errors a newcomer meets first must name the fix.
const configError = (config: unknown): string => {
  try {
    createSubscriptionWebhooks(config as Parameters<typeof createSubscriptionWebhooks>[0]);
  } catch (e) {
    expect(e).toBeInstanceOf(SubscriptionWebhooksError);
    expect((e as SubscriptionWebhooksError).code).toBe('CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('config errors name the fix', () => {
  it('a typo suggests the closest key (and wins over the "missing" key it hides)', () => {
    expect(configError({ apple: { bundleID: 'com.example.app', environments: ['Sandbox'] } })).toBe(
      'Invalid subscription-webhooks config: `apple.bundleID` is not a known option; did you mean `apple.bundleId`?',
    );
    expect(configError({ apple: { bundleId: 'a', appAppleID: 1 } })).toMatch(/`apple\.appAppleID` is not a known option; did you mean `apple\.appAppleId`\?/);
    expect(configError({ aple: { bundleId: 'a' } })).toMatch(/`aple` is not a known option; did you mean `apple`\?/);
    expect(configError({ apple: { bundleId: 'a', environments: ['Sandbox'] }, totallyElse: 1 })).toMatch(/`totallyElse` is not a known option$/);
  });

  it('a missing or invalid key names the env variable that sets it', () => {
    expect(configError({ apple: { environments: ['Sandbox'] } })).toBe(
      'Invalid subscription-webhooks config: `apple.bundleId` is required (env APPLE_BUNDLE_ID)',
    );
    expect(configError({ xsolla: { secretKey: 's' } })).toMatch(/`xsolla\.projectId` .*\(env XSOLLA_PROJECT_ID\)/);
    expect(configError({ apple: { bundleId: 'a', environments: ['Sandbx'] } })).toMatch(/`apple\.environments\.0` .*\(env APPLE_ENVIRONMENTS\)/);
  });

  it('the missing APPLE_APP_APPLE_ID error stays as it was', () => {
    expect(configError({ apple: { bundleId: 'a' } })).toMatch(
      /`apple\.appAppleId` is required when `apple\.environments` includes "Production" \(set APPLE_APP_APPLE_ID, or APPLE_ENVIRONMENTS=Sandbox while you test\)/,
    );
  });
});

describe('Apple rejections name the fix', () => {
  const post = async (hooks: ReturnType<typeof createSubscriptionWebhooks>, signedPayload: string) =>
    (await hooks.handle('apple', { headers: {}, rawBody: JSON.stringify({ signedPayload }) })).response;

  it('CERT_CHAIN_INVALID from an untrusted (test) chain points at rootCertificates / APPLE_ROOT_CERTIFICATES; nothing recorded', async () => {
    const signer = await createAppleTestSigner({ bundleId: 'com.example.app', environment: 'Sandbox' });
    const store = memoryStore();
    const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store });
    const r = await post(hooks, await signer.signNotification({ notificationType: 'TEST' }));
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body as string);
    expect(body.data.error).toBe('CERT_CHAIN_INVALID');
    expect(body.message).toMatch(
      /not issued by a trusted root \(signed by a test chain\? list its root in apple\.rootCertificates or env APPLE_ROOT_CERTIFICATES/,
    );
    expect(await store.countNotifications()).toBe(0);
  });

  it('ENVIRONMENT_REJECTED lists what is accepted and names APPLE_ENVIRONMENTS', async () => {
    const signer = await createAppleTestSigner({ bundleId: 'com.example.app', environment: 'Sandbox' });
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.example.app', appAppleId: 1, environments: ['Production'], rootCertificates: [signer.rootCertificate] },
    });
    const r = await post(hooks, await signer.signNotification({ notificationType: 'TEST' }));
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body as string);
    expect(body.data.error).toBe('ENVIRONMENT_REJECTED');
    expect(body.message).toMatch(/environment "Sandbox" is not accepted: accepted are Production \(apple\.environments, or env APPLE_ENVIRONMENTS/);
  });
});

describe('the built package names its error class as users write it', () => {
  // Runs against the build (`npm run build`): the bundler once renamed it `_SubscriptionWebhooksError`.
  const root = new URL('../..', import.meta.url).pathname;
  for (const type of ['module', 'commonjs'] as const) {
    it(`${type}: name, and the first line of an uncaught error`, () => {
      const load =
        type === 'module'
          ? `const { SubscriptionWebhooksError } = await import('subscription-webhooks');`
          : `const { SubscriptionWebhooksError } = require('subscription-webhooks');`;
      const out = execFileSync(
        process.execPath,
        [
          `--input-type=${type}`,
          '-e',
          `${load} console.log(SubscriptionWebhooksError.name); console.log(require('node:util').inspect(new SubscriptionWebhooksError('CONFIG_INVALID', 'boom')).split('\\n')[0])`.replace(
            "require('node:util')",
            type === 'module' ? "(await import('node:util'))" : "require('node:util')",
          ),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      expect(out.trim().split('\n')).toEqual(['SubscriptionWebhooksError', 'SubscriptionWebhooksError: boom']);
    });
  }
});
