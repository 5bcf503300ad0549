import { SubscriptionWebhooksError } from '../core/errors.js';

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  meta?: { modelName?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown; originalMessage?: unknown; table?: unknown } } };
  table?: unknown;
  constraint?: unknown;
  cause?: unknown;
}
function chain(error: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  for (let e = error; e && typeof e === 'object' && out.length < 8; e = (e as ErrorLike).cause) {
    out.push(e as ErrorLike);
    // Prisma 7 reports a database error on a raw query as P2010, the database's own code only in here.
    const adapter = (e as ErrorLike).meta?.driverAdapterError?.cause;
    if (adapter?.originalCode !== undefined) out.push({ code: String(adapter.originalCode), message: adapter.originalMessage, table: adapter.table });
  }
  return out;
}
const UNAVAILABLE_CODES = new Set([
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
  'SQLITE_CANTOPEN',
]);
const UNAVAILABLE_TEXT =
  /can't reach database|connection (refused|terminated|closed|timeout)|timed out fetching a new connection|server has closed the connection|unable to start a transaction in the given time|DatabaseNotReachable|ECONNREFUSED|connect ETIMEDOUT|Client has encountered a connection error|Connection terminated/i;

/**
 * True when `error` (or any error in its `cause` chain) means the database could not be reached:
 * connection refused or dropped, Prisma P1001/P1017/P2024, PostgreSQL admin shutdown (57P01) or
 * connection failure (08xxx), pool or transaction-start timeout.
 * @example
 * if (isDatabaseUnavailable(e)) answer500AndLetTheProviderRetry();
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return chain(error).some((e) => UNAVAILABLE_CODES.has(String(e.code)) || UNAVAILABLE_TEXT.test(String(e.message ?? '')));
}

/**
 * Serialization failure / deadlock (Prisma P2034, PostgreSQL 40001 / 40P01), or a concurrent insert
 * of the same order or subscription (Prisma P2002, or P2010 carrying the database code, PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE on `sw_orders` / `sw_subscriptions`).
 */
export function isRetryable(error: unknown): boolean {
  return chain(error).some(
    (e) =>
      e.code === 'P2034' ||
      e.code === '40001' ||
      e.code === '40P01' ||
      ((e.code === 'P2002' || e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') &&
        (['SwOrder', 'SwSubscription'].includes(String(e.meta?.modelName)) ||
          /sw_(orders|subscriptions)/.test(`${String(e.table)} ${String(e.constraint)} ${String(e.message)}`))),
  );
}

/** Maps "database unreachable" errors to `STORE_UNAVAILABLE`; everything else passes through. */
export async function guardUnavailable<T>(label: string, run: () => PromiseLike<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isDatabaseUnavailable(error))
      throw new SubscriptionWebhooksError(
        'STORE_UNAVAILABLE',
        `Database unavailable (${label}): ${String((error as Error).message ?? error)
          .split('\n')
          .at(-1)}`,
        { cause: error },
      );
    throw error;
  }
}

/** Runs `attempt` again (after a short jittered pause) while it fails with a retryable conflict, at most `maxRetries` more times. */
export async function retryConflicts<T>(maxRetries: number, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= maxRetries || !isRetryable(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (n + 1)));
    }
  }
}
