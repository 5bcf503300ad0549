import type { DomainEvent, Entitlement, EntitlementChange, EntitlementReason, Order, Subscription, SubscriptionStatus } from '../events/types.js';
import type { Logger } from './logger.js';
import { eventId } from './ids.js';
import type { EntitlementGrantRecord, StoreTransaction } from '../store/types.js';

/** What decides entitlements: the configured products and the billing-retry policy. */
export interface EntitlementPolicy {
  products: Readonly<Record<string, readonly string[]>>;
  pastDueActive: boolean;
}

const REASONS: Record<SubscriptionStatus, EntitlementReason> = {
  trialing: 'trial',
  active: 'active',
  canceled: 'canceled',
  in_grace_period: 'grace_period',
  past_due: 'billing_retry',
  expired: 'expired',
  refunded: 'refunded',
  revoked: 'revoked',
};

/**
 * When access ends for a subscription in its current status: the end of the grace period while in
 * one (Apple's `gracePeriodExpiresDate`, kept in `metadata.grace_period_expires_at`), else the period end.
 */
export function accessEndsAt(sub: Subscription): string | null {
  const grace = sub.metadata?.grace_period_expires_at;
  if (sub.status === 'in_grace_period' && typeof grace === 'string') return grace;
  return sub.current_period_end;
}

/**
 * The grants a subscription holds now: one per entitlement of its product, for its user (none without a
 * user). A subscription whose consent was rescinded (Apple RESCIND_CONSENT: `metadata.consent_rescinded_at`)
 * grants as if `revoked`.
 */
export function grantsFor(sub: Subscription, policy: EntitlementPolicy): EntitlementGrantRecord[] {
  if (sub.user_id === null) return [];
  const names = policy.products[sub.product_id] ?? [];
  const rescinded = typeof sub.metadata?.consent_rescinded_at === 'string';
  return names.map((entitlement) => ({
    subscription_id: sub.id,
    entitlement,
    user_id: sub.user_id!,
    provider: sub.provider,
    product_id: sub.product_id,
    status: rescinded ? 'revoked' : sub.status,
    expires_at: accessEndsAt(sub),
    updated: sub.updated,
  }));
}

/**
 * Whether one grant is active at `now` (ms). `trialing` / `active`: yes (the subscription's state is
 * what the provider last said; a renewal that never arrives is the lifecycle sweep's business);
 * `canceled`: until the period ends; `in_grace_period`: until the grace period ends; `past_due`: per
 * `pastDueActive`; `expired`, `refunded`, `revoked`: no.
 */
export function grantActive(g: EntitlementGrantRecord, now: number, pastDueActive: boolean): boolean {
  const before = (iso: string | null): boolean => iso === null || now < Date.parse(iso);
  switch (g.status) {
    case 'trialing':
    case 'active':
      return true;
    case 'canceled':
    case 'in_grace_period':
      return before(g.expires_at);
    case 'past_due':
      return pastDueActive;
    default:
      return false;
  }
}

/**
 * A user's entitlements from their grants: one entry per entitlement. Several subscriptions granting the
 * same one: an active grant beats an inactive one, then the latest `expires_at` wins (null, unknown, last).
 */
export function resolveEntitlements(grants: readonly EntitlementGrantRecord[], now: number, pastDueActive: boolean): Entitlement[] {
  const best = new Map<string, Entitlement>();
  const end = (e: Entitlement): number => (e.expires_at === null ? -Infinity : Date.parse(e.expires_at));
  for (const g of grants) {
    const e: Entitlement = {
      entitlement: g.entitlement,
      active: grantActive(g, now, pastDueActive),
      expires_at: g.expires_at,
      subscription_id: g.subscription_id,
      provider: g.provider,
      product_id: g.product_id,
      reason: REASONS[g.status],
    };
    const current = best.get(g.entitlement);
    if (!current || (e.active && !current.active) || (e.active === current.active && end(e) > end(current))) best.set(g.entitlement, e);
  }
  return [...best.values()].sort((a, b) => (a.entitlement < b.entitlement ? -1 : a.entitlement > b.entitlement ? 1 : 0));
}

/**
 * Inside a unit of work, after its state change: rewrites the grants of every subscription the events
 * carry (their last version in the events is the state written) and returns `entitlement.granted` /
 * `entitlement.revoked` for each entitlement a user gained or lost, to be committed with the change.
 * The users involved are the subscriptions' owners before and after (a transfer changes two users).
 * `idFor(position)` names the new events (deterministic per notification).
 */
/** A transaction that keeps entitlements. */
export type EntitlementTransaction = Required<Pick<StoreTransaction, 'listEntitlementGrants' | 'replaceEntitlementGrants'>>;

/** Whether `tx` keeps entitlements (the store implements the optional grant methods). */
export const keepsEntitlements = (tx: StoreTransaction): tx is StoreTransaction & EntitlementTransaction =>
  typeof tx.listEntitlementGrants === 'function' && typeof tx.replaceEntitlementGrants === 'function';

export async function applyEntitlementChanges(
  tx: EntitlementTransaction,
  events: readonly DomainEvent[],
  policy: EntitlementPolicy,
  now: number,
  idFor: (position: number) => string,
  extra: readonly Subscription[] = [],
): Promise<DomainEvent[]> {
  const touched = new Map<string, Subscription>();
  for (const sub of extra) touched.set(sub.id, sub);
  for (const e of events) {
    const o = e.data.object as Partial<Subscription>;
    if (e.type.startsWith('customer.subscription.') && typeof o.contract_id === 'string' && typeof o.id === 'string') touched.set(o.id, o as Subscription);
  }
  if (touched.size === 0) return [];
  const users = new Set<string>();
  for (const sub of touched.values()) if (sub.user_id) users.add(sub.user_id);
  // Previous owners too: a subscription's grants name whom it granted to before this change.
  const beforeByUser = new Map<string, EntitlementGrantRecord[]>();
  const read = async (userId: string): Promise<void> => {
    if (!beforeByUser.has(userId)) beforeByUser.set(userId, await tx.listEntitlementGrants(userId));
  };
  for (const u of [...users].sort()) await read(u);
  for (const e of events) {
    const prev = (e.data.previous_attributes as Partial<Subscription> | undefined)?.user_id;
    if (typeof prev === 'string' && !beforeByUser.has(prev)) {
      users.add(prev);
      await read(prev);
    }
  }
  const before = new Map([...beforeByUser].map(([u, g]) => [u, resolveEntitlements(g, now, policy.pastDueActive)]));
  for (const sub of touched.values()) await tx.replaceEntitlementGrants(sub.id, grantsFor(sub, policy));
  const out: DomainEvent[] = [];
  const template = events[0];
  if (!template) return out;
  for (const userId of [...users].sort()) {
    const after = resolveEntitlements(await tx.listEntitlementGrants(userId), now, policy.pastDueActive);
    const was = new Map((before.get(userId) ?? []).filter((e) => e.active).map((e) => [e.entitlement, e]));
    const is = new Map(after.filter((e) => e.active).map((e) => [e.entitlement, e]));
    const push = (type: 'entitlement.granted' | 'entitlement.revoked', object: EntitlementChange): void => {
      out.push({
        id: idFor(out.length),
        type,
        created: template.created,
        provider: object.provider,
        livemode: template.livemode,
        data: { object },
        source: template.source,
      } as DomainEvent);
    };
    for (const [name, e] of is) if (!was.has(name)) push('entitlement.granted', { ...e, user_id: userId });
    for (const [name, e] of was) {
      if (is.has(name)) continue;
      // Still listed (inactive): that reason. Gone from the user's grants: the subscription moved to another user.
      const still = after.find((x) => x.entitlement === name);
      push('entitlement.revoked', { ...(still ?? { ...e, active: false, reason: 'transferred' }), user_id: userId });
    }
  }
  return out;
}

/** The event id for the `position`-th entitlement event of a provider notification (after its own events). */
export const entitlementEventId =
  (provider: string, notificationId: string, offset: number) =>
  (position: number): string =>
    eventId(provider, notificationId, offset + position);

/**
 * Money is never dropped: an order for a product the `products` config does not list is recorded all
 * the same, marked `metadata.unknown_product: true` (in the store and in the event that carries it) and
 * logged as a warning, once per order.
 */
export async function markUnknownProducts(
  tx: StoreTransaction,
  events: readonly DomainEvent[],
  products: Readonly<Record<string, readonly string[]>>,
  logger: Logger,
): Promise<void> {
  const marked = new Map<string, Order>();
  for (const e of events) {
    if (e.type !== 'order.paid' && e.type !== 'order.refunded') continue;
    const order = e.data.object as Order;
    if (order.product_id === null || Object.prototype.hasOwnProperty.call(products, order.product_id)) continue;
    let done = marked.get(order.id);
    if (!done) {
      if (order.metadata?.unknown_product === true) continue;
      done = { ...order, metadata: { ...order.metadata, unknown_product: true } };
      await tx.saveOrder(done);
      marked.set(order.id, done);
      logger.warn(
        { unknown_product: true, product_id: order.product_id, order_no: order.no, trade_no: order.trade_no, provider: order.provider },
        'order for a product missing from the products config: recorded, grants no entitlement',
      );
    }
    (e.data as { object: Order }).object = done;
  }
}
