import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A TypeScript app with "module": "commonjs" (node10 resolution, still the default of `tsc --init`
// before TS 5.x and of many CommonJS apps) ignores "exports": it finds subpaths through "typesVersions".
// Runs against the build (`npm run build`), through a node_modules link, as an installed package.
const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  typesVersions?: Record<string, Record<string, string[]>>;
};
const subpaths = Object.keys(pkg.exports)
  .filter((k) => k.startsWith('./') && !k.includes('*') && k !== './package.json')
  .map((k) => k.slice(2));
const dir = mkdtempSync(join(tmpdir(), 'sw-node10-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('types for "module": "commonjs" (moduleResolution node10)', () => {
  it('every exported subpath has a typesVersions entry pointing at a built .d.ts', () => {
    expect(subpaths.length, 'package.json exports lists the subpaths').toBeGreaterThanOrEqual(10);
    for (const sub of subpaths) expect(pkg.typesVersions?.['*']?.[sub], sub).toEqual([`./dist/${sub}.d.ts`]);
  });

  it('tsc resolves the main entry and every subpath, and checks their use', () => {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'subscription-webhooks'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'commonjs',
          moduleResolution: 'node10',
          target: 'ES2022',
          strict: true,
          esModuleInterop: true,
          skipLibCheck: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
        },
        files: ['index.ts'],
      }),
    );
    const imports = subpaths.map((s, i) => `import * as m${i} from 'subscription-webhooks/${s}';\nconst k${i}: string[] = Object.keys(m${i});`).join('\n');
    writeFileSync(
      join(dir, 'index.ts'),
      `${imports}
import { createSubscriptionWebhooks } from 'subscription-webhooks';
import { subscriptionWebhooks } from 'subscription-webhooks/express';
import { prismaStore } from 'subscription-webhooks/prisma';
const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] } });
export const mw = subscriptionWebhooks(hooks, { getUserId: (req) => req.header('x-user-id') });
export const store: typeof prismaStore = prismaStore;
`,
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    let out = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', cwd: dir });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout);
    }
    expect(out).toBe('');
  });
});
