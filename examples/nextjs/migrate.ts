import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { applySqlMigrations } from 'subscription-webhooks/prisma';
import { databaseFile, getPrisma } from './lib/subscriptions.js';

/**
 * Creates the SQLite file and applies the library's committed migrations. In your app you would run
 * `prisma migrate dev` on your merged schema instead.
 */
export async function migrate(): Promise<void> {
  mkdirSync(dirname(databaseFile()), { recursive: true });
  await applySqlMigrations(getPrisma(), 'sqlite');
}
