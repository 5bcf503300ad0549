import type { E2eScenario } from './e2e.js';

/**
 * The end-to-end scenarios of `npm run bench`, in order. Headline: pgStore with the baseline on the same
 * store; then prismaStore on the same PostgreSQL; sqliteStore with its own baseline; prismaStore on SQLite.
 */
export const E2E_SCENARIOS: readonly E2eScenario[] = [
  { name: 'ours_pg', store: 'pg', verifier: 'ours' },
  { name: 'apple_pg', store: 'pg', verifier: 'apple' },
  { name: 'ours_prisma_pg', store: 'postgresql', verifier: 'ours' },
  { name: 'ours_sqlite_driver', store: 'sqlite-driver', verifier: 'ours' },
  { name: 'apple_sqlite_driver', store: 'sqlite-driver', verifier: 'apple' },
  { name: 'ours_sqlite', store: 'sqlite', verifier: 'ours' },
];
