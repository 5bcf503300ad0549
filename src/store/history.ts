import { randomId } from '../core/ids.js';
import type { DeliveryAttemptRecord, DeliveryOutcome, NotificationOutcomeRecord } from './types.js';

/** The longest reason an attempt or outcome record keeps (the delivery row's `last_error` is kept whole). */
export const MAX_REASON = 200;

/** `text` cut to {@link MAX_REASON} characters (an ellipsis marks the cut); null stays null. */
export function shortReason(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const chars = [...text];
  return chars.length <= MAX_REASON ? text : `${chars.slice(0, MAX_REASON - 1).join('')}…`;
}

/** A duration as stored: whole milliseconds, null when unknown or not a finite number. */
export const durationOf = (ms: number | null | undefined): number | null =>
  typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.min(Math.round(ms), 2_147_483_647) : null;

/** The attempt record of an outcome of delivery `deliveryId` (`endpoint_id` filled in by the store from the row). */
export function attemptRow(deliveryId: string, o: DeliveryOutcome): DeliveryAttemptRecord {
  return {
    id: randomId('att'),
    delivery_id: deliveryId,
    endpoint_id: '',
    attempt: o.attempts,
    status_code: o.last_status,
    error: shortReason(o.last_error),
    duration_ms: durationOf(o.duration_ms),
    at: o.last_attempt_at ?? new Date().toISOString(),
  };
}

/** An outcome record as stored (its reason cut to {@link MAX_REASON}). */
export const outcomeRow = (row: NotificationOutcomeRecord): NotificationOutcomeRecord => ({ ...row, reason: shortReason(row.reason) });
