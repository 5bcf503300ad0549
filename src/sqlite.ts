/**
 * `subscription-webhooks/sqlite`: the store on SQLite through better-sqlite3, on the tables of the
 * Prisma fragment. The embedded default: no server, durable before the 200 (see BENCHMARKS.md).
 * @packageDocumentation
 */
export { sqliteStore, applySqliteMigrations } from './store/sqlite.js';
export type { SqliteDatabase, SqliteStatement, SqliteStoreOptions } from './store/sqlite.js';
import { isDatabaseUnavailable as databaseUnavailable } from './store/sql-common.js';
/** True for errors that mean the database cannot be reached right now. @deprecated use `isDatabaseUnavailable` from `subscription-webhooks` (one for every store) */
export const isDatabaseUnavailable = databaseUnavailable;
