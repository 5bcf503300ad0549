import { SubscriptionWebhooksError } from './errors.js';
import type { DomainEvent, Subscription } from '../events/types.js';
import { eventId } from './ids.js';
import type { ClaimedSubscription, Store } from '../store/types.js';
import { commitUnit } from './commit.js';
import type { CoreContext } from './types.js';

/** What one {@link LifecycleHooks.sweep} did. */
export interface LifecycleSweepResult {
  /** Subscriptions claimed and looked at. */
  claimed: number;
  /** `customer.subscription.trial_will_end` events emitted. */
  trialWillEnd: number;
  /** Subscriptions marked `past_due` with `reason: 'no_renewal_received'`. */
  pastDue: number;
  /** Subscriptions whose status was asked of the App Store Server API (and applied). */
  appleChecked: number;
  /** Subscriptions that could not be settled now (the API failed); looked at again after the claim lapses. */
  failed: number;
}

/** Options of {@link LifecycleHooks.sweep}. */
export interface LifecycleSweepOptions {
  /** The time to sweep at: a Date, ms since epoch or an ISO date. @default the configured clock (`delivery.now`) */
  now?: Date | number | string;
}

/** `hooks.lifecycle`: the time-driven events (the notifications that never arrive). */
export interface LifecycleHooks {
  /**
   * Looks for subscriptions due for a time-driven event and settles them: `trial_will_end`
   * `lifecycle.trialWillEndDays` before a trial ends (once per trial), and, for subscriptions still
   * `active` (or `trialing`) `lifecycle.renewalGraceMs` past `current_period_end`, Apple's answer from the
   * App Store Server API when `apple.api` is configured, else `past_due` with `reason: 'no_renewal_received'`.
   * Safe from any number of instances at once (rows are claimed); running it again changes nothing.
   * The started delivery worker runs it every `lifecycle.intervalMs`.
   * @example
   * ```ts
   * const { trialWillEnd, pastDue } = await hooks.lifecycle.sweep();
   * ```
   * @throws SubscriptionWebhooksError `CONFIG_INVALID` when the store cannot claim subscriptions
   * (`claimSweepDue`), `INVALID_ARGUMENT` for a bad `now`, `STORE_UNAVAILABLE`.
   */
  sweep(options?: LifecycleSweepOptions): Promise<LifecycleSweepResult>;
}

/** What the sweep asks a provider about an overdue subscription (Apple: Get All Subscription Statuses). */
export type ProviderStatusCheck = (subscription: Subscription) => Promise<'applied' | 'not_found'>;

/** How long a claim holds: longer than settling one batch takes, short enough to retry soon after a crash. */
const CLAIM_MS = 5 * 60_000;
/** Batches per sweep at most (a sweep never runs unbounded). */
const MAX_BATCHES = 1000;

const DAY_MS = 86_400_000;

/** Why a subscription is due now (the same predicate as the store's claim), or null. */
export function sweepDue(sub: Subscription, at: number, trialWindowMs: number, graceMs: number): 'trial_will_end' | 'overdue' | null {
  if (sub.current_period_end === null) return null;
  const end = Date.parse(sub.current_period_end);
  if (sub.status === 'trialing' && end > at && end <= at + trialWindowMs) return 'trial_will_end';
  if ((sub.status === 'active' || sub.status === 'trialing') && end <= at - graceMs) return 'overdue';
  return null;
}

/** The trial a notice is about: its transaction (an extension of the same trial is the same trial), else its end. */
const trialKey = (sub: Subscription): string => sub.latest_transaction_id ?? sub.current_period_end ?? '';

function readTime(value: Date | number | string): number {
  const t = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(t))
    throw new SubscriptionWebhooksError(
      'INVALID_ARGUMENT',
      `lifecycle.sweep: \`now\` must be a Date, ms since epoch or an ISO date, got ${JSON.stringify(value)}`,
    );
  return t;
}

type SweepStore = Store & Required<Pick<Store, 'claimSweepDue' | 'releaseSweepClaim'>>;
const sweeps = (store: Store): store is SweepStore => typeof store.claimSweepDue === 'function' && typeof store.releaseSweepClaim === 'function';

/** Builds `hooks.lifecycle` (one per `createSubscriptionWebhooks`). `statusOf`: the provider check for overdue subscriptions, per provider. */
export function createLifecycle(
  ctx: CoreContext,
  statusOf: Partial<Record<Subscription['provider'], ProviderStatusCheck>>,
): LifecycleHooks & { supported: boolean } {
  const { trialWillEndDays, renewalGraceMs, batchSize } = ctx.config.lifecycle;
  const trialWindowMs = trialWillEndDays * DAY_MS;

  /** One time-driven event for `claimed`, committed like a notification (entitlements, settings, outbox, bus). */
  async function emitFor(
    claimed: Subscription,
    at: number,
    kind: 'trial_will_end' | 'no_renewal_received',
  ): Promise<{ emitted: boolean; after: string | null }> {
    const created = new Date(at).toISOString();
    const key = kind === 'trial_will_end' ? trialKey(claimed) : (claimed.current_period_end ?? '');
    const unitId = `lifecycle:${kind}:${claimed.id}:${key}`;
    // A holder: assignments inside the unit of work (which the store may run again) are not seen by narrowing.
    const next = { after: null as string | null };
    const outcome = await commitUnit(ctx, { provider: claimed.provider, unitId }, async (tx) => {
      next.after = null;
      // Decided again under the row lock: another instance may have settled it since the claim.
      const sub = await tx.getSubscription(claimed.provider, claimed.contract_id);
      const due = sub ? sweepDue(sub, at, trialWindowMs, renewalGraceMs) : null;
      const events: DomainEvent[] = [];
      const event = (type: 'customer.subscription.trial_will_end' | 'customer.subscription.past_due', object: Subscription, extra: object): DomainEvent =>
        ({
          id: eventId(object.provider, unitId, 0),
          type,
          created,
          provider: object.provider,
          livemode: object.environment === 'Production',
          data: { object, ...extra },
          source: { notification_id: unitId, notification_type: `lifecycle.${kind}` },
        }) as DomainEvent;
      if (!sub) return { events };
      if (kind === 'trial_will_end' && due === 'trial_will_end') {
        // Not looked at again before the trial ends (its end is known; an extension keeps the key).
        next.after = sub.current_period_end;
        if (sub.metadata?.trial_will_end_sent_for === trialKey(sub)) return { events };
        // Bookkeeping only: the provider's state is unchanged (`updated` and `last_event_at` stay).
        const marked: Subscription = { ...sub, metadata: { ...sub.metadata, trial_will_end_sent_for: trialKey(sub) } };
        await tx.saveSubscription(marked);
        events.push(event('customer.subscription.trial_will_end', marked, {}));
      } else if (kind === 'no_renewal_received' && due === 'overdue') {
        // `last_event_at` stays: a renewal Apple or Xsolla signed before now, delivered late, still applies.
        const pastDue: Subscription = { ...sub, status: 'past_due', updated: created };
        await tx.saveSubscription(pastDue);
        events.push(event('customer.subscription.past_due', pastDue, { previous_attributes: { status: sub.status }, reason: 'no_renewal_received' }));
      }
      return { events };
    });
    return { emitted: !outcome.duplicate && outcome.events.length > 0, after: next.after };
  }

  async function settle(c: ClaimedSubscription, at: number, result: LifecycleSweepResult, store: SweepStore): Promise<void> {
    const sub = c.subscription;
    const due = sweepDue(sub, at, trialWindowMs, renewalGraceMs);
    let after: string | null = null;
    if (due === 'trial_will_end') {
      const r = await emitFor(sub, at, 'trial_will_end');
      if (r.emitted) result.trialWillEnd++;
      after = r.after;
    } else if (due === 'overdue') {
      const check = statusOf[sub.provider];
      let answer: 'applied' | 'not_found' = 'not_found';
      if (check) {
        try {
          answer = await check(sub);
        } catch (err) {
          // Apple unreachable: not a reason to cut anyone off. The claim lapses and the row is asked about again.
          result.failed++;
          ctx.logger.warn(
            { err, subscriptionId: sub.id, contractId: sub.contract_id },
            'lifecycle sweep: could not ask the provider for an overdue subscription; retried later',
          );
          return;
        }
      }
      if (answer === 'applied') {
        result.appleChecked++;
        const now = await ctx.store.getSubscription(sub.provider, sub.contract_id);
        // The provider's answer left it active past its period (nothing newer to say): looked at again after the grace.
        if (now && sweepDue(now, at, trialWindowMs, renewalGraceMs) === 'overdue') after = new Date(at + renewalGraceMs).toISOString();
      } else {
        const r = await emitFor(sub, at, 'no_renewal_received');
        if (r.emitted) result.pastDue++;
      }
    }
    await store.releaseSweepClaim(sub.id, c.claim, after);
  }

  async function sweep(options: LifecycleSweepOptions = {}): Promise<LifecycleSweepResult> {
    const store = ctx.store;
    if (!sweeps(store)) {
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        `lifecycle.sweep needs a store that can claim subscriptions (${store.name} has no claimSweepDue / releaseSweepClaim: memoryStore, sqliteStore, prismaStore and pgStore do)`,
      );
    }
    const at = options.now === undefined ? ctx.config.delivery.now() : readTime(options.now);
    const result: LifecycleSweepResult = { claimed: 0, trialWillEnd: 0, pastDue: 0, appleChecked: 0, failed: 0 };
    const seen = new Set<string>();
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const claimed = await store.claimSweepDue({
        now: new Date(at).toISOString(),
        trialEndsBefore: new Date(at + trialWindowMs).toISOString(),
        periodEndedBefore: new Date(at - renewalGraceMs).toISOString(),
        limit: batchSize,
        lockMs: CLAIM_MS,
      });
      result.claimed += claimed.length;
      for (const c of claimed) {
        // Claimed again within this sweep (released as not due, yet the store still finds it due): left to its claim's lapse.
        if (seen.has(c.subscription.id)) continue;
        seen.add(c.subscription.id);
        try {
          await settle(c, at, result, store);
        } catch (err) {
          result.failed++;
          ctx.logger.error(
            { err, subscriptionId: c.subscription.id },
            'lifecycle sweep: could not settle a subscription; its claim lapses and it is looked at again',
          );
        }
      }
      if (claimed.length < batchSize) break;
    }
    if (result.trialWillEnd + result.pastDue + result.appleChecked + result.failed > 0) ctx.logger.info({ ...result }, 'lifecycle sweep finished');
    return result;
  }

  return { sweep, supported: sweeps(ctx.store) };
}

/**
 * Runs the sweep every `intervalMs` while the delivery worker runs (first run at start). Runs never
 * overlap; failures are logged and the schedule goes on.
 */
export function createSweepSchedule(run: () => Promise<unknown>, intervalMs: number, logger: CoreContext['logger']): { start(): void; stop(): Promise<void> } {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let started = false;
  const tick = (): void => {
    timer = null;
    running = (async () => {
      try {
        await run();
      } catch (err) {
        logger.error({ err }, 'lifecycle sweep failed; retried at the next interval');
      }
    })().finally(() => {
      running = null;
      if (started) {
        timer = setTimeout(tick, intervalMs);
        timer.unref?.();
      }
    });
  };
  return {
    start() {
      if (started) return;
      started = true;
      tick();
    },
    async stop() {
      started = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
