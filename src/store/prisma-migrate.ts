import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Database flavours the committed migration SQL exists for. */
export type SqlMigrationKind = 'sqlite' | 'postgresql';

/** One committed migration: `prisma-schema/migrations/<kind>/<name>/migration.sql`. */
export interface SqlMigration {
  name: string;
  sql: string;
}

/** The part of a Prisma client (or interactive-transaction client) the migrator uses. */
export interface MigrationClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
}

/** A Prisma client: {@link MigrationClient} plus interactive transactions. */
export interface MigrationPrismaClient extends MigrationClient {
  $transaction<R>(fn: (tx: MigrationClient) => Promise<R>): PromiseLike<R>;
}

function moduleDir(): string {
  // ESM: import.meta.url; a CJS build defines __filename instead.
  return typeof __filename === 'string' ? dirname(__filename) : dirname(fileURLToPath(import.meta.url));
}

/**
 * Finds the package's `prisma-schema/migrations/<kind>` folder, searching upwards from this module.
 * @throws Error when no such folder exists above this module.
 * @example
 * migrationsDirectory('postgresql'); // '/app/node_modules/subscription-webhooks/prisma-schema/migrations/postgresql'
 */
export function migrationsDirectory(kind: SqlMigrationKind): string {
  let dir = moduleDir();
  for (;;) {
    const candidate = join(dir, 'prisma-schema', 'migrations', kind);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`subscription-webhooks: prisma-schema/migrations/${kind} not found above ${moduleDir()}`);
    dir = parent;
  }
}

/**
 * Reads the committed migrations for `kind`, in name order.
 * @throws Error when the migrations folder cannot be found.
 * @example
 * const [init] = readSqlMigrations('sqlite'); // { name: '0001_init', sql: 'CREATE TABLE ...' }
 */
export function readSqlMigrations(kind: SqlMigrationKind, dir = migrationsDirectory(kind)): SqlMigration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name, 'migration.sql'), 'utf8') }));
}

/**
 * Splits a migration script into statements (comment lines dropped). Prisma's generated DDL never
 * has `;` inside literals or bodies, so splitting at `;` + end of line is exact for these files.
 * @example
 * splitSqlStatements('-- x\nCREATE TABLE a (id INT);\nCREATE INDEX i ON a(id);\n'); // two statements
 */
export function splitSqlStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\r?\n|$)/)
    .map((s) =>
      s
        .split('\n')
        .filter((l) => !l.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((s) => s.length > 0);
}

/**
 * Applies the library's committed migration SQL to a database through a Prisma client, in order
 * and idempotently: applied names are recorded in a `sw_migrations` table and skipped next time.
 * Each migration runs in one transaction with its `sw_migrations` row (DDL is transactional on
 * SQLite and PostgreSQL). Run it from one process at start-up, not concurrently.
 *
 * For production PostgreSQL prefer `prisma migrate` on your merged schema; this helper is for
 * tests, demos and apps that let the library own its tables.
 *
 * @param prisma - any Prisma client (the driver adapter decides the database)
 * @param kind - which SQL flavour to apply
 * @returns the names of the migrations applied now (empty when up to date)
 * @throws the database error of the failing statement (that migration is rolled back)
 * @example
 * ```ts
 * const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: 'file:./dev.db' }) });
 * await applySqlMigrations(prisma, 'sqlite');
 * ```
 */
export async function applySqlMigrations(
  prisma: MigrationPrismaClient,
  kind: SqlMigrationKind,
  options: { migrations?: SqlMigration[] } = {},
): Promise<string[]> {
  const migrations = options.migrations ?? readSqlMigrations(kind);
  const timestamp = kind === 'postgresql' ? 'TIMESTAMP(3)' : 'DATETIME';
  await prisma.$executeRawUnsafe(
    `CREATE TABLE IF NOT EXISTS "sw_migrations" ("name" TEXT NOT NULL PRIMARY KEY, "applied_at" ${timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  );
  const rows = (await prisma.$queryRawUnsafe(`SELECT "name" FROM "sw_migrations"`)) as { name: string }[];
  const done = new Set(rows.map((r) => r.name));
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.name)) continue;
    await prisma.$transaction(async (tx) => {
      for (const statement of splitSqlStatements(m.sql)) await tx.$executeRawUnsafe(statement);
      await tx.$executeRawUnsafe(`INSERT INTO "sw_migrations" ("name") VALUES ('${m.name.replace(/'/g, "''")}')`);
    });
    applied.push(m.name);
  }
  return applied;
}
