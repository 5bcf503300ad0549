import { isStale } from './retention.js';
import type { DomainEvent, Subscription } from '../events/types.js';
import { enqueueDeliveries } from '../delivery/outbox.js';
import { applyEntitlementChanges, entitlementEventId, keepsEntitlements, markUnknownProducts } from './entitlements.js';
import { planNotifications } from '../notifications/resolve.js';
import { localeFor, renderUserNotification } from '../notifications/render.js';
import type { InboxRecord, NotificationReads, StoreTransaction } from '../store/types.js';
import type { CoreContext } from './types.js';

/** What a provider's apply step returns: the events to append, plus anything the route answers with. */
export interface Applied {
  events: DomainEvent[];
  /** Subscriptions changed without a `customer.subscription.*` event of their own (their entitlements are recomputed too). */
  touched?: Subscription[];
}

/**
 * The outcome of {@link commitNotification}: `duplicate` (its inbox key exists: nothing written),
 * `stale` too when its provider date is past the retention window (nothing read or written).
 */
export type CommitOutcome<A extends Applied> = { duplicate: true; stale?: true } | ({ duplicate: false } & A);

/**
 * The one path every provider notification takes: in one store transaction, insert the inbox row
 * (a duplicate stops here), apply the state change, resolve notification settings (adding
 * `manual.notification` events), append the events to the outbox and fan them out into delivery rows
 * (webhook endpoints, the notifier); after the commit, publish the events on the bus (this waits for
 * the subscribers, each bounded by `subscribers.timeoutMs`, unless `subscribers.mode` is `after_response`).
 * Nothing is acknowledged before this resolves, and it resolves only after the commit: the events are
 * recorded before any answer, in either mode. `outcome.events` includes the `manual.notification`s.
 * `reads`: what `apply` will read, for stores that load it with the inbox insert in one round trip
 * (the global notification setting and the endpoint list, read on every commit, are added here).
 */
export function commitNotification<A extends Applied>(
  ctx: CoreContext,
  inbox: InboxRecord,
  apply: (tx: StoreTransaction) => Promise<A>,
  reads: NotificationReads = {},
): Promise<CommitOutcome<A>> {
  // The freshness rule (docs/retention.md): past the window its dedup key may be gone, so it is acknowledged, never applied.
  if (isStale(inbox.signed_at, ctx.config.retention, ctx.config.delivery.now())) {
    ctx.logger.info(
      {
        provider: inbox.provider,
        notificationId: inbox.notification_id,
        notificationType: inbox.notification_type,
        providerDate: inbox.signed_at,
        result: 'stale',
      },
      `${inbox.provider} ${inbox.notification_type} stale: provider date ${inbox.signed_at} is older than retention.notificationDays (${ctx.config.retention.notificationDays}); acknowledged, not applied`,
    );
    return Promise.resolve({ duplicate: true, stale: true });
  }
  return commitUnit(ctx, { provider: inbox.provider, unitId: inbox.notification_id, inbox, reads }, apply);
}

/**
 * {@link commitNotification} for a unit of work that may have no inbox row (the lifecycle sweep's):
 * `unitId` names its events (deterministic ids: `eventId(provider, unitId, position)`), and without
 * `inbox` nothing stops it early; `apply` decides from what it reads (under the store's row locks)
 * whether there is anything to do.
 */
export async function commitUnit<A extends Applied>(
  ctx: CoreContext,
  unit: { provider: string; unitId: string; inbox?: InboxRecord; reads?: NotificationReads },
  apply: (tx: StoreTransaction) => Promise<A>,
): Promise<CommitOutcome<A>> {
  const { appId, locale, notifier } = ctx.config;
  const { inbox, reads = {} } = unit;
  let enqueued = 0;
  let unsent: DomainEvent[] = [];
  const outcome = await ctx.store.transaction(async (tx): Promise<CommitOutcome<A>> => {
    if (inbox) {
      const inserted = tx.insertNotificationAndLoad
        ? await tx.insertNotificationAndLoad(inbox, { ...reads, settings: [...(reads.settings ?? []), ...(appId ? [appId] : [])], webhookEndpoints: true })
        : await tx.insertNotification(inbox);
      if (!inserted) return { duplicate: true };
    }
    const applied = await apply(tx);
    if (!inbox && applied.events.length === 0) return { duplicate: false, ...applied };
    if (ctx.config.products) await markUnknownProducts(tx, applied.events, ctx.config.products, ctx.logger);
    // Entitlements change in the same transaction as the state that changes them.
    const changes =
      ctx.config.products && keepsEntitlements(tx)
        ? await applyEntitlementChanges(
            tx,
            applied.events,
            { products: ctx.config.products, pastDueActive: ctx.config.entitlements.pastDueActive },
            ctx.config.delivery.now(),
            entitlementEventId(unit.provider, unit.unitId, applied.events.length),
            applied.touched,
          )
        : [];
    const plan = await planNotifications(tx, [...applied.events, ...changes], { appId, locale }, applied.touched);
    await tx.insertEvents(plan.events);
    const now = new Date(ctx.config.delivery.now()).toISOString();
    // Assigned, not accumulated: the store may run this function again after a conflict.
    enqueued = (await enqueueDeliveries(tx, plan.events, plan.notify, { now, notifier: notifier !== undefined })).length;
    unsent = notifier ? [] : plan.notify;
    return { duplicate: false, ...applied, events: plan.events };
  });
  if (outcome.duplicate) return outcome;
  // Never rejects: a subscriber's failure or timeout is logged by the bus, and never turns the answer into a 5xx.
  await ctx.bus.publish(outcome.events);
  for (const event of unsent) {
    const n = renderUserNotification(event, localeFor(event.data.object as never, locale));
    ctx.logger.debug({ notification: n }, 'no notifier configured: user notification not sent');
  }
  if (enqueued > 0) ctx.onDeliveriesEnqueued?.();
  return outcome;
}
