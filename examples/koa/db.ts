import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { applySqlMigrations } from '../../src/prisma.js';
import { PrismaClient } from './generated/client.js';

/**
 * Opens (creating if needed) the SQLite database at `file` and applies the library's committed
 * migrations. In your app you would run `prisma migrate dev` on your merged schema instead.
 */
export async function openDatabase(file: string): Promise<PrismaClient> {
  mkdirSync(dirname(file), { recursive: true });
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: file }) });
  await applySqlMigrations(prisma, 'sqlite');
  return prisma;
}
