/**
 * Dev-time only: Prisma's schema engine compiled to WebAssembly (`@prisma/schema-engine-wasm`),
 * driven through a driver adapter. Works offline, unlike the Prisma CLI's native engine.
 * This is Prisma's internal API: never import it from src/.
 *
 * Used by scripts/schema-sql.ts (generate + drift check) and by the merge-check test.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { DiffTarget, SchemaEngine as SchemaEngineType } from '@prisma/schema-engine-wasm';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';

export type DbKind = 'sqlite' | 'postgresql';
export interface SchemaFile {
  path: string;
  content: string;
}

let loaded: Promise<typeof glue> | undefined;

/** Instantiates the wasm module once per process, wiring it to its wasm-bindgen glue module. */
function loadWasm(): Promise<typeof glue> {
  loaded ??= (async () => {
    // The package exports only its JS entry points: locate the .wasm beside the glue module.
    const glueFile = fileURLToPath(import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const wasmPath = join(dirname(glueFile), 'schema_engine_bg.wasm');
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {
      './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports,
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return loaded;
}

const noFilters = { externalTables: [], externalEnums: [] };

/** A schema engine connected to one database (SQLite file or PostgreSQL URL). */
export interface Engine {
  engine: SchemaEngineType;
  /** SQL that takes `from` to the datamodel `files` (`from` defaults to an empty database). */
  diff(files: SchemaFile[], from?: DiffTarget): Promise<string>;
  /** SQL that takes the connected database to the datamodel (empty string = no drift). */
  drift(files: SchemaFile[]): Promise<string>;
  /** Applies a migrations folder (`<baseDir>/<name>/migration.sql`) recording them in `_prisma_migrations`. */
  applyMigrations(baseDir: string, migrations: { name: string; sql: string }[]): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Opens the engine on a database. `url` is a SQLite file path or a PostgreSQL connection string.
 * @example
 * const e = await openEngine('sqlite', '/tmp/x.db', files); const sql = await e.diff(files); await e.close();
 */
export async function openEngine(kind: DbKind, url: string, files: SchemaFile[]): Promise<Engine> {
  const { SchemaEngine } = await loadWasm();
  const factory = kind === 'sqlite' ? new PrismaBetterSqlite3({ url }) : new PrismaPg({ connectionString: url });
  // Record the connections the engine opens so close() can release them (engine.free() does not:
  // a SQLite file would stay locked, a pg pool would keep the process alive).
  const connections: { dispose(): Promise<void> }[] = [];
  const tracked = Object.assign(Object.create(factory) as typeof factory, {
    connect: async () => {
      const c = await factory.connect();
      if (kind === 'postgresql') readCharAsText(c);
      connections.push(c);
      return c;
    },
  });
  const adapter = bindMigrationAwareSqlAdapterFactory(tracked);
  const logs: string[] = [];
  const engine = await SchemaEngine.new({ datamodels: files.map((f) => [f.path, f.content] as [string, string]) }, (msg: string) => logs.push(msg), adapter);
  const diff = async (to: SchemaFile[], from: DiffTarget = { tag: 'empty' }): Promise<string> => {
    const result = await engine.diff({
      from,
      to: { tag: 'schemaDatamodel', files: to },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return result.stdout ?? '';
  };
  return {
    engine,
    diff,
    drift: async (to) => {
      // `from: url` would need a connection string the wasm engine cannot open itself; introspect
      // the adapter's database by diffing from the datasource that the adapter is bound to.
      const out = await engine.diff({
        from: { tag: 'schemaDatasource', files: to, configDir: process.cwd() } as DiffTarget,
        to: { tag: 'schemaDatamodel', files: to },
        script: true,
        exitCode: null,
        filters: noFilters,
      });
      return out.stdout ?? '';
    },
    applyMigrations: async (baseDir, migrations) => {
      const out = await engine.applyMigrations({
        migrationsList: {
          baseDir,
          lockfile: { path: 'migration_lock.toml', content: `provider = "${kind}"\n` },
          shadowDbInitScript: '',
          migrationDirectories: migrations.map((m) => ({
            path: m.name,
            migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: m.sql } },
          })),
        },
        filters: noFilters,
      });
      return out.appliedMigrationNames;
    },
    close: async () => {
      engine.free();
      await Promise.all(connections.splice(0).map((c) => c.dispose()));
    },
  };
}

const PG_CHAR = 18;
const PG_TEXT = 25;
/** The driver-adapter column type the engine expects for `"char"` (ColumnTypeEnum.Character). */
const CHARACTER = 6;
let charPatched = false;

/**
 * PostgreSQL's catalog type `"char"` (OID 18, e.g. `pg_constraint.contype`) is one the pg driver adapter
 * refuses ("Column type 'char' could not be deserialized"), so the wasm engine cannot introspect a
 * PostgreSQL database through it (needed to diff from a database with earlier migrations applied).
 * node-pg returns its values as one-character strings: let them through as text, and report their
 * columns as the Character type the engine reads them as. Patches the adapter's query class once (it is
 * shared by the connection and its transactions); dev-time only.
 */
function readCharAsText(connection: object): void {
  if (charPatched) return;
  type Proto = Record<string, unknown>;
  const charColumns = new WeakMap<object, number[]>(); // result rows → indices of "char" columns
  let performIOAt: Proto | null = null;
  let queryRawAt: Proto | null = null;
  for (let p = Object.getPrototypeOf(connection) as Proto | null; p; p = Object.getPrototypeOf(p) as Proto | null) {
    if (!performIOAt && Object.prototype.hasOwnProperty.call(p, 'performIO')) performIOAt = p;
    if (!queryRawAt && Object.prototype.hasOwnProperty.call(p, 'queryRaw')) queryRawAt = p;
  }
  if (!performIOAt || !queryRawAt) return;
  const performIO = performIOAt.performIO as (this: unknown, ...a: unknown[]) => Promise<{ fields?: { dataTypeID: number }[]; rows?: object }>;
  performIOAt.performIO = async function (this: unknown, ...a: unknown[]) {
    const result = await performIO.apply(this, a);
    const indices: number[] = [];
    (result.fields ?? []).forEach((f, i) => {
      if (f.dataTypeID === PG_CHAR) {
        f.dataTypeID = PG_TEXT;
        indices.push(i);
      }
    });
    if (indices.length > 0 && result.rows) charColumns.set(result.rows, indices);
    return result;
  };
  const queryRaw = queryRawAt.queryRaw as (this: unknown, ...a: unknown[]) => Promise<{ columnTypes: number[]; rows: object }>;
  queryRawAt.queryRaw = async function (this: unknown, ...a: unknown[]) {
    const result = await queryRaw.apply(this, a);
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = CHARACTER;
    return result;
  };
  charPatched = true;
}

/** The schema files for `kind`: a datasource-only main file plus the given model files. */
export function withDatasource(kind: DbKind, models: SchemaFile[]): SchemaFile[] {
  return [{ path: 'main.prisma', content: `datasource db {\n  provider = "${kind}"\n}\n` }, ...models];
}
