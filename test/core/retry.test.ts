import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  exponentialBackoff,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  retryDelay,
  withRetries,
  type AttemptResult,
  type RetryPolicy,
} from '../../src/core/retry.js';

const now = Date.UTC(2026, 10, 27, 12, 0, 0);

describe('parseRetryAfter', () => {
  it('delta-seconds, with a fraction and surrounding space', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 12 ', now)).toBe(12_000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it('an HTTP date: its distance from now; a date in the past: 0', () => {
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter(new Date(now - 60_000).toUTCString(), now)).toBe(0);
  });

  it('negative numbers are 0 (retry now)', () => {
    expect(parseRetryAfter('-5', now)).toBe(0);
    expect(parseRetryAfter('-0.5', now)).toBe(0);
  });

  it('absent, blank or garbage: null', () => {
    for (const v of [null, undefined, '', '   ', 'soon', '0x10', '1e3', 'NaN', 'Infinity', '3 seconds']) expect(parseRetryAfter(v, now), String(v)).toBeNull();
  });

  it('over the maximum (one day unless told): the maximum, a non-finite number included', () => {
    expect(parseRetryAfter('86401', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter(new Date(now + 2 * MAX_RETRY_AFTER_MS).toUTCString(), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('120', now, { maxMs: 60_000 })).toBe(60_000);
  });

  it('epochMillis: a number of 1e11 or more is a UNIX time in ms (Apple); smaller ones stay seconds', () => {
    expect(parseRetryAfter(String(now + 2000), now, { epochMillis: true })).toBe(2000);
    expect(parseRetryAfter(String(now - 2000), now, { epochMillis: true })).toBe(0);
    expect(parseRetryAfter('3', now, { epochMillis: true })).toBe(3000);
    // Without it, the same number is seconds: far beyond the maximum.
    expect(parseRetryAfter(String(now + 2000), now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('property: any header is null or a wait in [0, maxMs]', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string()),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 0, max: 2 * MAX_RETRY_AFTER_MS }),
        (h, t, maxMs) => {
          const ms = parseRetryAfter(h, t, { maxMs });
          return ms === null || (Number.isFinite(ms) && ms >= 0 && ms <= maxMs);
        },
      ),
    );
  });

  it('property: whole seconds up to a day read exactly; HTTP dates read to the second', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 86_400 }), (s) => parseRetryAfter(String(s), now) === s * 1000));
    fc.assert(
      fc.property(fc.integer({ min: -86_400, max: 86_400 }), (s) => parseRetryAfter(new Date(now + s * 1000).toUTCString(), now) === Math.max(0, s * 1000)),
    );
  });
});

describe('exponentialBackoff', () => {
  it('doubles from the base up to the maximum; jitter scales into [0.5, 1)', () => {
    const plain = exponentialBackoff(500, 8000);
    expect([0, 1, 2, 3, 4, 5].map(plain)).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    expect(exponentialBackoff(500, 8000, true, () => 0)(2)).toBe(1000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry, r) => {
        const full = Math.min(60_000, 500 * 2 ** retry);
        const wait = exponentialBackoff(500, 60_000, true, () => r)(retry);
        return wait >= full / 2 && wait < full + 1e-9;
      }),
    );
  });
});

/** Runs `withRetries` over scripted answers; records the attempts, the waits and the signals given. */
async function run(answers: Array<AttemptResult<string> | Error>, policy: Partial<RetryPolicy> = {}) {
  const sleeps: number[] = [];
  const retries: number[] = [];
  let i = 0;
  const full: RetryPolicy = {
    maxRetries: 3,
    maxDelayMs: 10_000,
    backoff: (r) => 100 * 2 ** r,
    retryAfter: 'exact',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...policy,
  };
  const outcome = await withRetries(async ({ retry }) => {
    retries.push(retry);
    const a = answers[Math.min(i++, answers.length - 1)]!;
    if (a instanceof Error) throw a;
    return a;
  }, full).then(
    (value): { value?: string; error?: unknown } => ({ value }),
    (error: unknown): { value?: string; error?: unknown } => ({ error }),
  );
  return { ...outcome, sleeps, retries, attempts: i };
}

const fail = (status: number | null, retryAfterMs: number | null = null): AttemptResult<string> => ({
  ok: false,
  status,
  retryAfterMs,
  error: (attempts) => new Error(`${status} after ${attempts}`),
});
const ok: AttemptResult<string> = { ok: true, value: 'done' };

describe('withRetries', () => {
  it('a 429 with a retry-after is waited for exactly, then retried', async () => {
    const r = await run([fail(429, 1500), ok]);
    expect(r).toMatchObject({ value: 'done', sleeps: [1500], attempts: 2 });
  });

  it("'exact': a 429 asking longer than maxDelayMs fails at once; without a retry-after it waits the backoff", async () => {
    const far = await run([fail(429, 20_000), ok]);
    expect(far.error).toEqual(new Error('429 after 1'));
    expect(far.sleeps).toEqual([]);
    expect((await run([fail(429), ok])).sleeps).toEqual([100]);
  });

  it("'exact': a 5xx waits the backoff, whatever its retry-after says", async () => {
    const r = await run([fail(503, 5000), fail(500), ok]);
    expect(r).toMatchObject({ value: 'done', sleeps: [100, 200], retries: [0, 1, 2] });
  });

  it('no answer (status null) is retried', async () => {
    expect(await run([fail(null), ok])).toMatchObject({ value: 'done', sleeps: [100] });
  });

  it('a 4xx other than 429 is not retried', async () => {
    for (const status of [400, 401, 403, 404, 410]) {
      const r = await run([fail(status), ok]);
      expect(r.error).toEqual(new Error(`${status} after 1`));
      expect(r.attempts).toBe(1);
      expect(r.sleeps).toEqual([]);
    }
  });

  it('attempts are bounded: maxRetries + 1, and the error says how many', async () => {
    const r = await run([fail(503)], { maxRetries: 2 });
    expect(r.error).toEqual(new Error('503 after 3'));
    expect(r.attempts).toBe(3);
    expect(r.sleeps).toEqual([100, 200]);
    expect((await run([fail(503)], { maxRetries: 0 })).attempts).toBe(1);
  });

  it("'at-least': the longer of the backoff and the retry-after, at most maxDelayMs, on every retried answer", async () => {
    const r = await run([fail(429, 50), fail(503, 5000), fail(429, 60_000), ok], { retryAfter: 'at-least', maxDelayMs: 8000 });
    expect(r).toMatchObject({ value: 'done', sleeps: [100, 5000, 8000] });
  });

  it('an error the attempt throws is final', async () => {
    const boom = new Error('boom');
    const r = await run([boom, ok]);
    expect(r.error).toBe(boom);
    expect(r.attempts).toBe(1);
  });

  it('`again` runs the attempt at once, neither counted nor waited for', async () => {
    const r = await run([{ again: true }, fail(503), { again: true }, ok], { maxRetries: 1 });
    expect(r).toMatchObject({ value: 'done', sleeps: [100], retries: [0, 0, 1, 1] });
  });

  it('retryable decides which statuses retry', async () => {
    const r = await run([fail(503), ok], { retryable: (s) => s === null });
    expect(r.error).toEqual(new Error('503 after 1'));
  });

  it('abort: a signal aborted during a wait ends the call with `aborted()`, no further attempt', async () => {
    const controller = new AbortController();
    let calls = 0;
    const call = withRetries(
      async () => {
        calls++;
        return fail(503);
      },
      {
        maxRetries: 5,
        maxDelayMs: 1000,
        backoff: () => 10,
        retryAfter: 'exact',
        signal: controller.signal,
        aborted: () => new Error('aborted'),
        sleep: async () => controller.abort(),
      },
    );
    await expect(call).rejects.toThrow('aborted');
    expect(calls).toBe(1);
  });

  it('abort: each attempt gets a signal that the call signal aborts, and one that times out (timedOut true)', async () => {
    const controller = new AbortController();
    const seen: Array<{ aborted: boolean; timedOut: boolean }> = [];
    await withRetries(
      async ({ signal, timedOut }) => {
        if (seen.length === 0) {
          await new Promise((resolve) => signal!.addEventListener('abort', resolve, { once: true }));
          seen.push({ aborted: signal!.aborted, timedOut: timedOut() });
          return fail(null);
        }
        controller.abort();
        seen.push({ aborted: signal!.aborted, timedOut: timedOut() });
        return ok;
      },
      { maxRetries: 1, maxDelayMs: 1000, backoff: () => 0, retryAfter: 'exact', timeoutMs: 20, signal: controller.signal, sleep: async () => {} },
    );
    expect(seen).toEqual([
      { aborted: true, timedOut: true },
      { aborted: true, timedOut: false },
    ]);
  });

  it('property: attempts never exceed maxRetries + 1, every wait is within maxDelayMs, nothing waits after a final answer', async () => {
    const answer = fc.oneof(
      fc.constant<AttemptResult<string>>(ok),
      fc.tuple(fc.constantFrom(null, 400, 404, 429, 500, 503), fc.option(fc.integer({ min: 0, max: 20_000 }))).map(([s, ra]) => fail(s, ra)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(answer, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 5 }),
        fc.constantFrom<'exact' | 'at-least'>('exact', 'at-least'),
        async (answers, maxRetries, mode) => {
          const r = await run(answers, { maxRetries, retryAfter: mode, maxDelayMs: 5000 });
          const last = answers[Math.min(r.attempts, answers.length) - 1]!;
          expect(r.attempts).toBeLessThanOrEqual(maxRetries + 1);
          expect(r.sleeps).toHaveLength(r.attempts - 1);
          expect(r.sleeps.every((ms) => ms >= 0 && ms <= 5000)).toBe(true);
          if (r.value !== undefined) expect(last).toBe(ok);
          else expect(last).not.toBe(ok);
        },
      ),
    );
  });

  it('retryDelay: the policy as one pure function', () => {
    const policy: RetryPolicy = { maxRetries: 2, maxDelayMs: 1000, backoff: () => 300, retryAfter: 'exact' };
    expect(retryDelay({ status: 429, retryAfterMs: 900 }, 0, policy)).toBe(900);
    expect(retryDelay({ status: 429, retryAfterMs: 1001 }, 0, policy)).toBeNull();
    expect(retryDelay({ status: 500 }, 1, policy)).toBe(300);
    expect(retryDelay({ status: 500 }, 2, policy)).toBeNull();
    expect(retryDelay({ status: 404 }, 0, policy)).toBeNull();
  });
});
