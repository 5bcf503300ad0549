import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentedSurface, ENTRY_SOURCES, publicSurface } from './public-surface.js';

// Runs against the build (`npm run build`, done by `npm test`'s pretest): the package as users install it.
const root = new URL('../..', import.meta.url).pathname;
const run = (code: string, type: 'module' | 'commonjs') =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' }).trim();

const expected: Record<string, string[]> = {
  'subscription-webhooks': [
    'createSubscriptionWebhooks',
    'memoryStore',
    'EventBus',
    'SubscriptionWebhooksError',
    'createXsollaSubscriptionsApi',
    'isDatabaseUnavailable',
  ],
  'subscription-webhooks/express': ['subscriptionWebhooks'],
  'subscription-webhooks/koa': ['subscriptionWebhooksRouter'],
  'subscription-webhooks/next': ['nextRouteHandler', 'nextApiHandler'],
  'subscription-webhooks/next/google': ['POST'],
  'subscription-webhooks/fetch': ['fetchHandler', 'fetchRouteHandler'],
  'subscription-webhooks/prisma': ['prismaStore'],
  'subscription-webhooks/pg': ['pgStore', 'isDatabaseUnavailable'],
  'subscription-webhooks/sqlite': ['sqliteStore', 'applySqliteMigrations', 'isDatabaseUnavailable'],
  'subscription-webhooks/callback': ['createCallbackRoute', 'verifyWebhook'],
  'subscription-webhooks/adapter-kit': ['handleRequest', 'readNodeBody', 'readRawBody', 'routeFor'],
  'subscription-webhooks/testing': ['createAppleTestSigner', 'storeConformanceSuite', 'signXsollaBody'],
};

describe('published entry points (dual ESM + CJS)', () => {
  it('dist exists (run npm run build)', () => {
    expect(existsSync(`${root}dist/index.js`)).toBe(true);
  });
  for (const [specifier, names] of Object.entries(expected)) {
    it(`${specifier} exports ${names.join(', ')} from import and require`, () => {
      const esm = run(
        `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => typeof m[n])))`,
        'module',
      );
      const cjs = run(
        `const m = require(${JSON.stringify(specifier)}); console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => typeof m[n])))`,
        'commonjs',
      );
      expect(JSON.parse(esm)).toEqual(names.map(() => 'function'));
      expect(JSON.parse(cjs)).toEqual(names.map(() => 'function'));
    });
  }
  it('every entry shares one copy of the core (one error class)', () => {
    const out = run(
      `const core = require('subscription-webhooks'); const hooks = core.createSubscriptionWebhooks({ apple: { bundleId: 'a', environments: ['Sandbox'] } });
       require('subscription-webhooks/express'); hooks.apple.verifyTransaction('x').catch((e) => console.log(e instanceof core.SubscriptionWebhooksError, e.code));`,
      'commonjs',
    );
    expect(out).toBe('true JWS_MALFORMED');
  });
  it('instanceof SubscriptionWebhooksError holds across the ESM and CJS copies (dual-package hazard)', () => {
    const out = run(
      `import { createRequire } from 'node:module'; const esm = await import('subscription-webhooks'); const cjs = createRequire(process.cwd() + '/')('subscription-webhooks');
       const e = new cjs.SubscriptionWebhooksError('SIGNATURE_INVALID', 'x'); console.log(e instanceof esm.SubscriptionWebhooksError, esm.isSubscriptionWebhooksError(e, 'SIGNATURE_INVALID'), new Error('x') instanceof esm.SubscriptionWebhooksError)`,
      'module',
    );
    expect(out).toBe('true true false');
  });
  it('the Prisma schema fragment ships with the package', () => {
    expect(run(`console.log(require.resolve('subscription-webhooks/prisma-schema/subscription-webhooks.prisma'))`, 'commonjs')).toMatch(
      /prisma-schema\/subscription-webhooks\.prisma$/,
    );
  });
});

describe('docs/api.md lists the public surface', () => {
  const documented = documentedSurface(readFileSync(`${root}docs/api.md`, 'utf8'));
  const actual = publicSurface(root);
  it('one section per entry point, each published in package.json', () => {
    expect(Object.keys(documented).sort()).toEqual(Object.keys(ENTRY_SOURCES).sort());
    const exportsField = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, unknown> }).exports;
    for (const entry of Object.keys(ENTRY_SOURCES)) expect(Object.keys(exportsField), entry).toContain(entry.replace(/^subscription-webhooks/, '.'));
    // And the other way: every published code entry has its section (package.json and the schema files aside).
    const published = Object.keys(exportsField).filter((k) => k !== './package.json' && !k.includes('*'));
    expect(published.map((k) => k.replace(/^\./, 'subscription-webhooks')).sort()).toEqual(Object.keys(ENTRY_SOURCES).sort());
  });
  for (const entry of Object.keys(ENTRY_SOURCES)) {
    it(`${entry}: exactly the names docs/api.md lists, deprecated ones marked`, () => {
      expect([...(documented[entry] ?? [])].sort()).toEqual(actual[entry]!.map((n) => n.name).sort());
      const text = readFileSync(`${root}docs/api.md`, 'utf8');
      const section = text.slice(text.indexOf(`## \`${entry}\``)).split(/\n## /)[0]!;
      for (const n of actual[entry]!.filter((x) => x.deprecated)) expect(section, n.name).toMatch(new RegExp(`^- \`${n.name}\` \\(deprecated`, 'm'));
    }, 60_000);
  }
});
