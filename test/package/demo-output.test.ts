import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run demo | tee log` once wrote raw ANSI codes into the log: colour is for terminals only.
const root = new URL('../..', import.meta.url).pathname;
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

describe('npm run demo -- --keep', () => {
  it('prints the dashboard URL and leaves it running, showing the demo subscription', { timeout: 120_000 }, async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'examples/express/demo.ts'), '--keep'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /dashboard (http:\/\/127\.0\.0\.1:\d+\/admin\/subscriptions\/) is running/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`demo exited (${code}) before its dashboard was up:\n${out}`)));
      });
      const overview = await fetch(url);
      expect(overview.status).toBe(200);
      expect(await overview.text()).toContain('Overview');
      const found = (await (await fetch(`${url}api/subscriptions?q=${encodeURIComponent('user_42')}`)).json()) as { subscriptions: Array<{ status: string }> };
      expect(found.subscriptions.map((s) => s.status)).toEqual(['expired']);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
