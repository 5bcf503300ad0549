import type { Subscription, SubscriptionStatus } from '../events/types.js';

/** Statuses after which access has ended. */
export const ENDED_STATUSES: readonly SubscriptionStatus[] = ['expired', 'revoked', 'refunded'];

/** `previous_attributes` of an update event: the old value of every tracked field that changed. */
export function previousAttributes(before: Subscription, after: Subscription, tracked: readonly (keyof Subscription)[]): Partial<Subscription> | undefined {
  const prev: Partial<Subscription> = {};
  let changed = false;
  for (const key of tracked) {
    if (before[key] !== after[key]) {
      (prev as Record<string, unknown>)[key] = before[key];
      changed = true;
    }
  }
  return changed ? prev : undefined;
}
