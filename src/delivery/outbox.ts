import type { DomainEvent } from '../events/types.js';
import { stableId } from '../core/ids.js';
import type { DeliveryRecord, StoreTransaction, WebhookEndpointRecord } from '../store/types.js';

/** The delivery target that stands for the app's `config.notifier` (no endpoint row). */
export const NOTIFIER_ENDPOINT_ID = 'notifier';

/** True when the endpoint subscribes to `type` (`'*'` takes everything). */
export function endpointWants(endpoint: WebhookEndpointRecord, type: string): boolean {
  return endpoint.status === 'enabled' && (endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type));
}

/** A new due delivery row; the id is derived from (target, event), the pair the table keeps unique. */
export function newDelivery(endpointId: string, eventId: string, now: string): DeliveryRecord {
  return {
    id: stableId('dlv', endpointId, eventId),
    endpoint_id: endpointId,
    event_id: eventId,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    last_status: null,
    last_error: null,
    last_attempt_at: null,
    delivered_at: null,
    created: now,
    updated: now,
  };
}

/**
 * The outbox fan-out, inside the commit transaction: one row per (enabled endpoint that wants the
 * event, event), plus a notifier row per event for the built-in notifier when one is configured.
 */
export async function enqueueDeliveries(
  tx: StoreTransaction,
  events: readonly DomainEvent[],
  notify: readonly DomainEvent[],
  options: { now: string; notifier: boolean },
): Promise<DeliveryRecord[]> {
  const endpoints = (await tx.listWebhookEndpoints()).filter((e) => e.status === 'enabled');
  const rows: DeliveryRecord[] = [];
  for (const event of events) {
    for (const endpoint of endpoints) if (endpointWants(endpoint, event.type)) rows.push(newDelivery(endpoint.id, event.id, options.now));
  }
  if (options.notifier) for (const event of notify) rows.push(newDelivery(NOTIFIER_ENDPOINT_ID, event.id, options.now));
  await tx.insertDeliveries(rows);
  return rows;
}
