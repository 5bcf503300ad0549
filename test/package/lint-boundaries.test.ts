import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

describe('lint: the core stays framework-free, and each folder imports only the layers below it', () => {
  const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });
  const lint = async (code: string, filePath: string) => (await eslint.lintText(code, { filePath }))[0]!.messages.map((m) => m.message);

  it('rejects src/ importing adapters/ or a framework, allows type-only imports', async () => {
    expect(
      (await lint("import { subscriptionWebhooks } from '../../adapters/express.js';\nexport const x = subscriptionWebhooks;\n", 'src/probe.ts')).join(),
    ).toMatch(/must not import adapters/);
    expect((await lint("import express from 'express';\nexport const x = express;\n", 'src/probe.ts')).join()).toMatch(/must not import a framework/);
    expect(await lint("import type { Request } from 'express';\nexport type X = Request;\n", 'src/probe.ts')).toEqual([]);
    expect(await lint("import express from 'express';\nexport const x = express;\n", 'adapters/probe.ts')).toEqual([]);
  });

  it('enforces the layering: which folder may import which (type-only imports aside)', async () => {
    const use = (from: string) => `import { x } from '${from}';\nexport const y = x;\n`;
    const refused: Array<[code: string, file: string, why: RegExp]> = [
      [use('../providers/apple/verifier.js'), 'src/store/probe.ts', /store does not import providers/],
      [use('../admin/read-model.js'), 'src/store/probe.ts', /store does not import/],
      [use('../delivery/outbox.js'), 'src/notifications/probe.ts', /notifications import the core and events only/],
      [use('../google/api.js'), 'src/providers/apple/probe.ts', /provider does not import another provider/],
      [use('../../providers/xsolla/signature.js'), 'src/providers/google/probe.ts', /provider does not import another provider/],
      [use('../../core/handler.js'), 'src/providers/xsolla/probe.ts', /composition root/],
      [use('../core/handler.js'), 'src/delivery/probe.ts', /composition root/],
      [use('../providers/apple/root-certificate.js'), 'src/core/config.ts', /only the composition root/],
      [use('../store/memory.js'), 'src/core/commit.ts', /only the composition root/],
      [use('../core/errors.js'), 'src/events/probe.ts', /events is a leaf/],
      [use('./handler.js'), 'src/core/commit.ts', /only the entries import the composition root/],
      [use('../core/handler.js'), 'src/providers/paid-order.ts', /composition root/],
      [use('./apple/api.js'), 'src/providers/paid-order.ts', /providers share imports no provider/],
      [use('../providers/google/api.js'), 'src/providers/notification-events.ts', /providers share imports no provider/],
      [use('../providers/apple/api.js'), 'src/admin/probe.ts', /admin views read the store only/],
      [use('../testing/index.js'), 'src/core/handler.ts', /does not import the CLI or the testing kit/],
      [use('../src/core/handler.js'), 'adapters/probe.ts', /adapters import the package entries only/],
      [use('../../src/core/body.js'), 'adapters/next/probe.ts', /adapters import the package entries only/],
    ];
    for (const [code, file, why] of refused) expect((await lint(code, file)).join(), `${file}: ${code}`).toMatch(why);
    const allowed: Array<[code: string, file: string]> = [
      [use('../providers/apple/route.js'), 'src/core/handler.ts'],
      [use('../store/default-store.js'), 'src/core/handler.ts'],
      [use('../delivery/outbox.js'), 'src/core/commit.ts'],
      [use('../retry-wait.js'), 'src/providers/google/probe.ts'],
      [use('../../core/commit.js'), 'src/providers/google/probe.ts'],
      [use('../core/errors.js'), 'src/store/probe.ts'],
      ["import type { Logger } from '../core/logger.js';\nexport type L = Logger;\n", 'src/events/probe.ts'],
      ["import type { DeliveryRecord } from '../delivery/worker.js';\nexport type D = DeliveryRecord;\n", 'src/store/probe.ts'],
      [use('../src/index.js'), 'adapters/probe.ts'],
      [use('../../src/index.js'), 'adapters/next/probe.ts'],
      [use('../src/adapter-kit.js'), 'adapters/probe.ts'],
      [use('../src/callback-core.js'), 'adapters/probe.ts'],
      [use('../providers/apple/api.js'), 'src/cli/probe.ts'],
    ];
    for (const [code, file] of allowed) expect(await lint(code, file), `${file}: ${code}`).toEqual([]);
  });

  it('the repository passes the rule', async () => {
    const results = await eslint.lintFiles(['src', 'adapters']);
    expect(results.flatMap((r) => r.messages.map((m) => `${r.filePath}: ${m.message}`))).toEqual([]);
  });
});
