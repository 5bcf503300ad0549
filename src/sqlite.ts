/**
 * `subscription-webhooks/sqlite`: the store on SQLite through better-sqlite3, on the tables of the
 * Prisma fragment. The embedded default: no server, durable before the 200 (see BENCHMARKS.md).
 * @packageDocumentation
 */
export { sqliteStore, applySqliteMigrations } from './store/sqlite.js';
export type { SqliteDatabase, SqliteStatement, SqliteStoreOptions } from './store/sqlite.js';
export { isDatabaseUnavailable } from './store/sql-common.js';
