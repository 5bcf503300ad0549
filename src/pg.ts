/**
 * `subscription-webhooks/pg`: the store on PostgreSQL through node-postgres, on the tables of the
 * Prisma fragment. For apps where notification volume matters (see BENCHMARKS.md).
 * @packageDocumentation
 */
export { pgStore } from './store/postgres.js';
export type { PgPool, PgPoolClient, PgQueryable, PgStoreOptions } from './store/postgres.js';
import { isDatabaseUnavailable as databaseUnavailable } from './store/sql-common.js';
/** True for errors that mean the database cannot be reached right now. @deprecated use `isDatabaseUnavailable` from `subscription-webhooks` (one for every store) */
export const isDatabaseUnavailable = databaseUnavailable;
