import type { ClaimedDelivery } from '../store/types.js';

/** One attempt of an action target, as the delivery worker records it (`permanent`: fail the row now, no retry). */
export type ActionAttempt = { ok: true } | { ok: false; error: string; retryAfterMs: number | null; permanent: boolean };

/**
 * Delivery targets that are not webhook endpoints nor the notifier: calls to a provider's API that must
 * follow a commit (e.g. Apple's appAccountToken and consumption answers). Their rows are ordinary
 * delivery rows (claimed, retried and recorded the same way); only the attempt differs.
 */
export interface ActionTargets {
  /** True for the `endpoint_id`s these targets own. */
  handles(endpointId: string): boolean;
  /** Makes the call for one claimed row; never throws. `signal` aborts when the worker gave up on the attempt: make no call after that. */
  attempt(claimed: ClaimedDelivery, signal: AbortSignal): Promise<ActionAttempt>;
}

/** The worker's view of an action attempt: no HTTP status of ours, bounded by the attempt timeout. */
export async function attemptAction(
  targets: ActionTargets,
  claimed: ClaimedDelivery,
  timeoutMs: number,
): Promise<{ ok: true; status: null } | { ok: false; status: null; error: string; retryAfterMs: number | null; permanent: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const controller = new AbortController();
  const timeout = new Promise<ActionAttempt>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ ok: false, error: `timed out after ${timeoutMs} ms`, retryAfterMs: null, permanent: false });
    }, timeoutMs);
  });
  try {
    const a = await Promise.race([
      targets.attempt(claimed, controller.signal).catch((err: unknown): ActionAttempt => ({
        ok: false,
        error: String((err as Error)?.message ?? err).slice(0, 500),
        retryAfterMs: null,
        permanent: false,
      })),
      timeout,
    ]);
    return a.ok ? { ok: true, status: null } : { ok: false, status: null, error: a.error, retryAfterMs: a.retryAfterMs, permanent: a.permanent };
  } finally {
    clearTimeout(timer);
  }
}
