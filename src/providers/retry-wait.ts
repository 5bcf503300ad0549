/** How a provider API client retries (the App Store Server API's and the Play Developer API's). */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** The longest single wait; a `retry-after` further away is not waited for. */
  maxDelayMs: number;
  /** The wait before retry `attempt + 1` when the provider names none. */
  backoff: (attempt: number) => number;
}

/**
 * The wait before retrying attempt `attempt` (from 0) of a call answered `status` (null: no answer, a
 * network failure or a timeout), or null when it is not retried: a 429 waits for `retryAfterMs` (else the
 * backoff) unless that is beyond `maxDelayMs`; a 5xx or no answer waits the backoff; anything else is final.
 */
export function retryWait(status: number | null, retryAfterMs: number | null, attempt: number, policy: RetryPolicy): number | null {
  if (attempt >= policy.maxRetries) return null;
  if (status === 429) {
    const wait = retryAfterMs ?? policy.backoff(attempt);
    return wait <= policy.maxDelayMs ? wait : null;
  }
  return status === null || status >= 500 ? policy.backoff(attempt) : null;
}
