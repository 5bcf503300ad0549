/**
 * `subscription-webhooks/prisma`: the Prisma-backed store.
 * @packageDocumentation
 */
export { prismaStore } from './store/prisma.js';
export { isDatabaseUnavailable } from './store/sql-common.js';
export type { PrismaStoreClient, PrismaStoreTxClient, PrismaStoreOptions } from './store/prisma.js';
export { applySqlMigrations, readSqlMigrations, migrationsDirectory } from './store/prisma-migrate.js';
export type { SqlMigration, SqlMigrationKind, MigrationPrismaClient } from './store/prisma-migrate.js';
