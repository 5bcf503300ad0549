import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

describe('lint: the core stays framework-free', () => {
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

  it('the repository passes the rule', async () => {
    const results = await eslint.lintFiles(['src', 'adapters']);
    expect(results.flatMap((r) => r.messages.map((m) => `${r.filePath}: ${m.message}`))).toEqual([]);
  });
});
