/**
 * Retrying an HTTP call: reading `Retry-After`, and the loop the provider API clients share (the App
 * Store Server API, the Play Developer API, Xsolla's subscriptions API). A leaf module: it imports
 * nothing, so the providers and the delivery worker can both use it.
 */

/** The longest wait a `Retry-After` is read as: one day. A longer (or absurd) answer is read as this. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/** Options of {@link parseRetryAfter}. */
export interface ParseRetryAfterOptions {
  /**
   * Read a number of 1e11 or more as a UNIX time in ms rather than seconds: Apple documents its
   * `retry-after` that way, and a delay of that many seconds (3,000 years) cannot be meant. @default false
   */
  epochMillis?: boolean;
  /** The result is at most this. @default {@link MAX_RETRY_AFTER_MS} */
  maxMs?: number;
}

/**
 * `Retry-After` (RFC 9110: delta-seconds or an HTTP date) as a wait in ms from `now`; null when the
 * header is absent, blank or unreadable (the caller then uses its own backoff).
 * - `"3"` → 3000; a fraction (`"1.5"` → 1500) is read too.
 * - an HTTP date (or anything `Date.parse` reads) → its distance from `now`.
 * - a negative number or a date in the past → 0 (retry now); a wait over `maxMs` (one day by default,
 *   a non-finite number included) → `maxMs`.
 * - with `epochMillis`, a number of 1e11 or more → its distance from `now`, as a UNIX time in ms.
 */
export function parseRetryAfter(header: string | null | undefined, now: number, options: ParseRetryAfterOptions = {}): number | null {
  const value = header?.trim();
  if (!value) return null;
  let ms: number;
  if (/^-?\d+(\.\d+)?$/.test(value)) {
    const n = Number(value);
    ms = options.epochMillis && n >= 1e11 ? n - now : n * 1000;
  } else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return null;
    ms = at - now;
  }
  return Math.min(options.maxMs ?? MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * Exponential backoff: `baseMs`, doubling each retry, at most `maxMs`; with `jitter`, each wait is
 * scaled by a random factor in [0.5, 1) so that clients that failed together do not retry together.
 */
export function exponentialBackoff(baseMs: number, maxMs: number, jitter = false, random: () => number = Math.random): (retry: number) => number {
  return (retry) => Math.min(maxMs, baseMs * 2 ** retry) * (jitter ? 0.5 + random() / 2 : 1);
}

/** How {@link withRetries} retries. */
export interface RetryPolicy {
  /** Retries after the first attempt (0: one attempt). */
  maxRetries: number;
  /** The longest single wait. */
  maxDelayMs: number;
  /** The wait before retry `retry + 1` (from 0). */
  backoff: (retry: number) => number;
  /**
   * What a `retryAfterMs` does:
   * - `'exact'`: on a 429 the wait is `retryAfterMs` (else the backoff), and one over `maxDelayMs` ends
   *   the retries at once; any other answer waits the backoff.
   * - `'at-least'`: on any retried answer the wait is the longer of the backoff and `retryAfterMs`, at most `maxDelayMs`.
   */
  retryAfter: 'exact' | 'at-least';
  /** Which answers are retried (`null`: no answer, a network failure or a timeout). @default no answer, 429 and 5xx */
  retryable?: (status: number | null) => boolean;
  /** Per-attempt timeout in ms: each attempt gets a signal that aborts then. @default none */
  timeoutMs?: number;
  /** Aborts the call: passed to each attempt, and checked after each wait. */
  signal?: AbortSignal;
  /** The error thrown when `signal` is found aborted after a wait. @default the signal's reason */
  aborted?: () => unknown;
  /** How to wait (inject in tests). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

/** What one attempt gets: its number (from 0), and the signal to pass to `fetch`. */
export interface AttemptContext {
  retry: number;
  /** Aborts at the attempt's timeout or when the call's signal aborts; undefined when there is neither. The timeout starts when this is first read. */
  signal: AbortSignal | undefined;
  /** True when this attempt's timeout (not the call's signal) aborted it. */
  timedOut(): boolean;
}

/**
 * What one attempt came to: a value; a failure (`status` null: no answer) with the error to throw when
 * it is not retried, given how many attempts were made; or `again`: run it once more at once, neither
 * waited for nor counted (after refreshing a rejected credential, say). An attempt may also throw:
 * that error is final (nothing thrown is retried).
 */
export type AttemptResult<T> =
  { ok: true; value: T } | { ok: false; status: number | null; retryAfterMs?: number | null; error: (attempts: number) => unknown } | { again: true };

const defaultRetryable = (status: number | null) => status === null || status === 429 || status >= 500;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The wait before the retry after a failed attempt number `retry` (from 0), or null when there is none. */
export function retryDelay(failure: { status: number | null; retryAfterMs?: number | null }, retry: number, policy: RetryPolicy): number | null {
  if (retry >= policy.maxRetries || !(policy.retryable ?? defaultRetryable)(failure.status)) return null;
  const retryAfterMs = failure.retryAfterMs ?? null;
  if (policy.retryAfter === 'at-least') return Math.min(policy.maxDelayMs, Math.max(policy.backoff(retry), retryAfterMs ?? 0));
  if (failure.status !== 429) return policy.backoff(retry);
  const wait = retryAfterMs ?? policy.backoff(retry);
  return wait <= policy.maxDelayMs ? wait : null;
}

/** The attempt's signal is made when the attempt first reads it: its timeout starts then (a client that first obtains a token reads it after). */
function attemptContext(retry: number, policy: RetryPolicy): AttemptContext {
  let made: { signal: AbortSignal | undefined; timeout: AbortSignal | undefined } | null = null;
  const make = () => {
    if (made) return made;
    const timeout = policy.timeoutMs === undefined ? undefined : AbortSignal.timeout(policy.timeoutMs);
    const signals = [policy.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    return (made = { signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0], timeout });
  };
  return {
    retry,
    get signal() {
      return make().signal;
    },
    timedOut: () => made?.timeout?.aborted === true && policy.signal?.aborted !== true,
  };
}

/**
 * Runs `attempt` until it succeeds, fails in a way the policy does not retry, or the retries run out;
 * waits between attempts as {@link retryDelay} says. An `again` result must not repeat without end:
 * the attempt decides how often it asks for one. Throws the last failure's `error(attempts)`, or
 * what `attempt` threw.
 */
export async function withRetries<T>(attempt: (context: AttemptContext) => Promise<AttemptResult<T>>, policy: RetryPolicy): Promise<T> {
  const sleep = policy.sleep ?? defaultSleep;
  for (let retry = 0; ; retry++) {
    const result = await attempt(attemptContext(retry, policy));
    if ('again' in result) {
      retry--;
      continue;
    }
    if (result.ok) return result.value;
    const wait = retryDelay(result, retry, policy);
    if (wait === null) throw result.error(retry + 1);
    await sleep(wait);
    if (policy.signal?.aborted) throw policy.aborted ? policy.aborted() : policy.signal.reason;
  }
}
