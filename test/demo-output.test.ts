import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run demo | tee log` once wrote raw ANSI codes into the log: colour is for terminals only.
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sw-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run demo, piped', () => {
  it('prints plain text (no ANSI escape codes) and still runs the whole lifecycle', { timeout: 120_000 }, () => {
    const out = execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'examples/express/demo.ts')], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '' },
    });
    expect(out).not.toContain('\x1b[');
    expect(out).toMatch(/database/);
    expect(out.trim().split('\n').length).toBeGreaterThan(10);
  });
});
