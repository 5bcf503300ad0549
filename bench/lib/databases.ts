import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { applySqlMigrations } from '../../src/store/prisma-migrate.js';
import { prismaStore } from '../../src/prisma.js';
import { pgStore } from '../../src/pg.js';
import type { Store } from '../../src/index.js';
import { startEmbeddedPostgres } from '../../test/helpers/embedded-postgres.js';
import { PrismaClient as PgClient } from '../../test/generated/postgresql/client.js';
import { PrismaClient as SqliteClient } from '../../test/generated/sqlite/client.js';

export interface BenchDb {
  store: Store;
  url: string;
  close(): Promise<void>;
}

/** One PostgreSQL server for the whole benchmark run (embedded-postgres, or DATABASE_URL). */
export async function postgresServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  return startEmbeddedPostgres();
}

let counter = 0;
/** A fresh, migrated database on the server; `store` is `pgStore` on its own pool when `driver` is `pg`. */
export async function freshPostgres(serverUrl: string, poolSize = 10, driver: 'prisma' | 'pg' = 'prisma'): Promise<BenchDb & { prisma: PgClient }> {
  const name = `sw_bench_${process.pid}_${counter++}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  const prisma = new PgClient({ adapter: new PrismaPg({ connectionString: u.toString(), max: poolSize }) });
  await applySqlMigrations(prisma, 'postgresql');
  const pool = driver === 'pg' ? new pg.Pool({ connectionString: u.toString(), max: poolSize }) : undefined;
  return {
    prisma,
    store: pool ? pgStore(pool) : prismaStore(prisma),
    url: u.toString(),
    async close() {
      await pool?.end();
      await prisma.$disconnect();
      const a = new pg.Client({ connectionString: serverUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

/** A fresh, migrated SQLite file. */
export async function freshSqlite(): Promise<BenchDb> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-'));
  const url = join(dir, 'bench.db');
  const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url }) });
  await applySqlMigrations(prisma, 'sqlite');
  return {
    store: prismaStore(prisma),
    url,
    async close() {
      await prisma.$disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
