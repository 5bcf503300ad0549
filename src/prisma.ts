/**
 * `subscription-webhooks/prisma`: the Prisma-backed store.
 * @packageDocumentation
 */
export { prismaStore } from './store/prisma.js';
import { isDatabaseUnavailable as databaseUnavailable } from './store/sql-common.js';
/** True for errors that mean the database cannot be reached right now. @deprecated use `isDatabaseUnavailable` from `subscription-webhooks` (one for every store) */
export const isDatabaseUnavailable = databaseUnavailable;
export type { PrismaStoreClient, PrismaStoreTxClient, PrismaStoreOptions } from './store/prisma.js';
export { applySqlMigrations, readSqlMigrations, migrationsDirectory } from './store/prisma-migrate.js';
export type { SqlMigration, SqlMigrationKind, MigrationPrismaClient } from './store/prisma-migrate.js';
