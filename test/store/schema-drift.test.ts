/**
 * `npm run schema:check` must pass on the repo and FAIL when the Prisma fragment is edited without
 * regenerating the migration SQL (run on a scratch copy of prisma-schema/ in a temp dir).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresServerUrl } from '../helpers/databases.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

async function runCheck(dir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [tsx, join(root, 'scripts', 'schema-sql.ts'), '--check', '--root', dir], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: postgresServerUrl() },
    });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('schema:check (migration SQL drift)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'sw-drift-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  cpSync(join(root, 'prisma-schema'), join(scratch, 'prisma-schema'), { recursive: true });

  it('passes on the committed fragment and SQL', async () => {
    const r = await runCheck(scratch);
    expect(r.out).toContain('schema:check OK');
    expect(r.code).toBe(0);
  });

  it('checks every migration folder on both flavours: a later migration missing for PostgreSQL is drift there', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'sw-drift-pg-'));
    try {
      cpSync(join(root, 'prisma-schema'), join(copy, 'prisma-schema'), { recursive: true });
      const pgDir = join(copy, 'prisma-schema', 'migrations', 'postgresql');
      const later = readdirSync(pgDir).sort().slice(1);
      expect(later.length).toBeGreaterThan(0); // 0002_lifecycle_entitlements and after
      for (const name of later) rmSync(join(pgDir, name), { recursive: true });
      const r = await runCheck(copy);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/postgresql: applying the committed migrations does not reach the schema/);
      expect(r.out).not.toMatch(/sqlite: applying/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('fails with a clear message when the fragment changed but the SQL was not regenerated', async () => {
    const fragment = join(scratch, 'prisma-schema', 'subscription-webhooks.prisma');
    writeFileSync(fragment, readFileSync(fragment, 'utf8').replace('  currency         String?', '  currency         String?\n  note             String?'));
    const r = await runCheck(scratch);
    expect(r.code).toBe(1);
    expect(r.out).toContain('schema:check FAILED');
    expect(r.out).toMatch(/sqlite: .*differs/);
    expect(r.out).toMatch(/postgresql: .*differs/);
    expect(r.out).toContain('ALTER TABLE'); // the sqlite drift shows the missing column
    expect(r.out).toContain('npm run schema:sql');
  });
});
