import { runPrune } from '../core/retention.js';
import { STATUS_CODES } from 'node:http';
import type { ResolvedConfig, UserNotification } from '../core/config.js';
import { SubscriptionWebhooksError } from '../core/errors.js';
import type { EventBus } from '../events/bus.js';
import type { DomainEvent, Order, Subscription, WebhookEndpointDisabled } from '../events/types.js';
import { stableId } from '../core/ids.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../core/retry.js';
import type { Logger } from '../core/logger.js';
import { localeFor, renderUserNotification } from '../notifications/render.js';
import type { ClaimedDelivery, DeliveryFilter, DeliveryOutcome, DeliveryRecord, Store, WebhookEndpointRecord } from '../store/types.js';
import { attemptAction, type ActionTargets } from './action-targets.js';
import { enqueueDeliveries, NOTIFIER_ENDPOINT_ID } from './outbox.js';
import { createWebhookPoster } from './http-post.js';
import { createSecretBox, warnOnceWithoutKey } from './secrets.js';
import { signatureHeader } from './sign.js';
import { TargetRefusedError } from './ssrf.js';

/** A delivery row as `hooks.delivery` returns it. */
export type WebhookDelivery = DeliveryRecord;

/** What one {@link DeliveryWorker.runOnce} round did. */
export interface DeliveryRunResult {
  /** Rows claimed and attempted in this round (0: nothing was due). */
  attempted: number;
  delivered: number;
  /** Failed attempts that will be retried. */
  retrying: number;
  /** Rows that became `failed` (retries exhausted) or `disabled` (410). */
  failed: number;
}

/** `hooks.delivery`: the outbox worker for webhook endpoints and the notifier. */
export interface DeliveryWorker {
  /**
   * Starts polling for due rows in this process (idempotent). A commit in this process that enqueued
   * rows wakes it at once. Several processes may run it on one PostgreSQL: each attempt runs once.
   * @example
   * hooks.delivery.start();
   * process.on('SIGTERM', async () => { await hooks.delivery.stop(); process.exit(0); });
   */
  start(): void;
  /** Stops polling and waits for the attempts in flight; `hooks.delivery.stop()` then waits for bus subscriber runs in flight too (`hooks.bus.drain()`, at most `subscribers.timeoutMs`). */
  stop(): Promise<void>;
  /**
   * Claims one batch of due rows and attempts them (for cron jobs, serverless, and tests).
   * @example
   * while ((await hooks.delivery.runOnce()).attempted > 0);
   */
  runOnce(): Promise<DeliveryRunResult>;
  /**
   * Makes a row due now with a fresh retry schedule (typically a `failed` one, after the receiver is fixed).
   * @throws SubscriptionWebhooksError `NOT_FOUND`, or `CONFLICT` while a worker is attempting it
   */
  replay(deliveryId: string): Promise<WebhookDelivery>;
  get(deliveryId: string): Promise<WebhookDelivery | null>;
  /** Rows, oldest first; e.g. `list({ status: 'failed' })`. */
  list(filter?: DeliveryFilter): Promise<WebhookDelivery[]>;
  /** True between `start()` and `stop()`. */
  readonly running: boolean;
}

/** `last_error` is at most this long: a status and a short reason, never a whole answer. */
export const ERROR_TEXT_LIMIT = 200;

/**
 * `last_error` for an HTTP answer: the status and its standard reason phrase; the start of the body
 * only with `recordResponseBody` (an admin screen showing it would make the worker a way to read
 * responses from any URL an endpoint names).
 */
export function httpFailureText(status: number, body: string, recordResponseBody: boolean): string {
  const head = `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
  const text = recordResponseBody && body ? `${head}: ${body.replace(/\s+/g, ' ').trim()}` : head;
  return text.slice(0, ERROR_TEXT_LIMIT);
}

async function withTimeout<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Attempt =
  { ok: true; status: number | null } | { ok: false; status: number | null; error: string; retryAfterMs: number | null; gone?: boolean; permanent?: boolean };

/** Builds the worker on a store (one per `createSubscriptionWebhooks`). */
export function createDeliveryWorker(
  store: Store,
  config: ResolvedConfig,
  logger: Logger,
  actions?: ActionTargets,
  bus?: EventBus,
): DeliveryWorker & { wake(): void } {
  const { retrySchedule, timeoutMs, concurrency, batchSize, pollIntervalMs, now } = config.delivery;
  const endpointConcurrency = Math.min(config.delivery.endpointConcurrency, concurrency);
  // A claim must outlive the longest wait of any row it covers: queued behind at most `batchSize` rows
  // of its own target, `endpointConcurrency` of them at a time, each bounded by `timeoutMs`.
  const lockMs = (Math.ceil(batchSize / endpointConcurrency) + 1) * timeoutMs + 30_000;
  // A started worker claims again once fewer rows than this wait for targets that can take more.
  const lowWater = Math.max(1, Math.floor(batchSize / 2));
  let running = false;
  let loop: Promise<void> | null = null;
  let sleeping: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  let wakeRequested = false;
  const { recordResponseBody } = config.delivery;
  const poster = createWebhookPoster(recordResponseBody ? ERROR_TEXT_LIMIT : 0, { check: !config.allowPrivateUrls, resolve: config.dnsLookup });

  // Scheduling. Each target (an endpoint, or the notifier) has its own queue of claimed rows and at most
  // `endpointConcurrency` attempts in flight; all targets together at most `concurrency`. Targets take
  // turns (round robin), and every attempt is recorded when it ends: no attempt waits for a slower one.
  interface Job {
    c: ClaimedDelivery;
    result: DeliveryRunResult;
    done: () => void;
  }
  interface Target {
    queue: Job[];
    inFlight: number;
  }
  const targets = new Map<string, Target>();
  /** Targets with queued rows, in turn order. */
  const ready: string[] = [];
  let inFlight = 0;

  const heldBy = (t: Target): number => t.queue.length + t.inFlight;

  /** Targets holding `endpointConcurrency` rows or more have enough to do: claims skip their rows. */
  function saturated(): string[] {
    const out: string[] = [];
    for (const [id, t] of targets) if (heldBy(t) >= endpointConcurrency) out.push(id);
    return out;
  }

  /** Rows held for targets that can still take more. */
  function activeHeld(): number {
    let n = 0;
    for (const t of targets.values()) if (heldBy(t) < endpointConcurrency) n += heldBy(t);
    return n;
  }

  function schedule(c: ClaimedDelivery, result: DeliveryRunResult): Promise<void> {
    return new Promise<void>((done) => {
      const id = c.delivery.endpoint_id;
      let t = targets.get(id);
      if (!t) targets.set(id, (t = { queue: [], inFlight: 0 }));
      t.queue.push({ c, result, done });
      if (t.queue.length === 1) ready.push(id);
    });
  }

  function dispatch(): void {
    let skipped = 0;
    while (inFlight < concurrency && ready.length > skipped) {
      const id = ready.shift()!;
      const t = targets.get(id)!;
      if (t.inFlight >= endpointConcurrency) {
        ready.push(id);
        skipped++;
        continue;
      }
      skipped = 0;
      const job = t.queue.shift()!;
      if (t.queue.length > 0) ready.push(id);
      t.inFlight++;
      inFlight++;
      void attempt(job).finally(() => {
        const activeBefore = activeHeld();
        t.inFlight--;
        inFlight--;
        const leftSaturation = heldBy(t) === endpointConcurrency - 1;
        if (heldBy(t) === 0 && targets.get(id) === t) targets.delete(id);
        job.done();
        dispatch();
        // Claim more when a target frees up or the runnable rows run low (edges only: not on every attempt).
        if (running && (leftSaturation || (activeBefore >= lowWater && activeHeld() < lowWater))) wake();
      });
    }
  }

  async function attempt(job: Job): Promise<void> {
    try {
      await attemptOne(job.c, job.result);
    } catch (err) {
      // The claim lapses and the row is attempted again later.
      logger.error({ err, deliveryId: job.c.delivery.id }, 'could not record a delivery attempt');
    }
  }

  /** Hands the queued rows of a just-disabled endpoint back untouched, for when it is re-enabled. */
  async function releaseQueued(endpointId: string): Promise<void> {
    const t = targets.get(endpointId);
    if (!t || t.queue.length === 0) return;
    const jobs = t.queue.splice(0);
    const at = ready.indexOf(endpointId);
    if (at >= 0) ready.splice(at, 1);
    if (heldBy(t) === 0) targets.delete(endpointId);
    await Promise.all(
      jobs.map(async ({ c, result, done }) => {
        const { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at } = c.delivery;
        try {
          await store.finishDelivery(c.delivery.id, c.claim, { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at });
        } catch (err) {
          logger.error({ err, deliveryId: c.delivery.id }, 'could not release a delivery of a disabled endpoint; its claim lapses');
        }
        result.attempted--;
        done();
      }),
    );
  }

  // Successes are recorded together when the store can (one UPDATE instead of one per row): each write
  // takes every success that ended while the previous write ran (group commit, no timer). Until then the
  // rows stay claimed, so a crash in between means those deliveries are made again after the claim
  // lapses: at least once, with the same webhook-id, as for any crash mid-attempt.
  let successes: { id: string; last_status: number; duration_ms: number; claim: string }[] = [];
  let writes: Promise<void> = Promise.resolve();
  let nextWrite: Promise<void> | null = null;
  function recordSuccess(item: { id: string; last_status: number; duration_ms: number; claim: string }): Promise<void> {
    successes.push(item);
    if (nextWrite) return nextWrite;
    const write = writes.then(async () => {
      nextWrite = null;
      const items = successes;
      successes = [];
      const byClaim = new Map<string, { id: string; last_status: number; duration_ms: number }[]>();
      for (const { claim, id, last_status, duration_ms } of items) {
        let rows = byClaim.get(claim);
        if (!rows) byClaim.set(claim, (rows = []));
        rows.push({ id, last_status, duration_ms });
      }
      for (const [claim, rows] of byClaim) {
        try {
          const recorded = await store.finishDelivered!(rows, claim, iso(now()));
          if (recorded < rows.length)
            logger.warn({ delivered: rows.length, recorded }, 'some claims expired before their deliveries were recorded; another worker may repeat them');
        } catch (err) {
          logger.error({ err, delivered: rows.length }, 'could not record delivered attempts; they are made again after their claims lapse');
        }
      }
    });
    nextWrite = write;
    writes = write;
    return write;
  }

  // Decrypted signing secrets by stored form (AES-GCM per attempt would be wasted CPU), bounded.
  const box = createSecretBox(config.secretKeys);
  warnOnceWithoutKey(config.secretKeys, logger);
  const plaintexts = new Map<string, string>();
  function opened(endpointId: string, field: string, stored: string): string {
    const key = `${endpointId}\n${field}\n${stored}`;
    let plain = plaintexts.get(key);
    if (plain === undefined) {
      plain = box.open(stored, endpointId, field);
      if (plaintexts.size >= 10_000) plaintexts.clear();
      plaintexts.set(key, plain);
    }
    return plain;
  }

  async function post(c: ClaimedDelivery): Promise<Attempt> {
    const endpoint = c.endpoint!;
    const id = c.delivery.event_id;
    const timestamp = Math.floor(now() / 1000);
    try {
      const secrets = [opened(endpoint.id, 'secret', endpoint.secret)];
      if (endpoint.previous_secret && endpoint.previous_secret_expires_at && Date.parse(endpoint.previous_secret_expires_at) > now()) {
        secrets.push(opened(endpoint.id, 'previous_secret', endpoint.previous_secret));
      }
      return await withTimeout(timeoutMs, async (signal) => {
        const res = await poster.post(
          endpoint.url,
          {
            'content-type': 'application/json',
            'user-agent': 'subscription-webhooks',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signatureHeader(secrets, id, timestamp, c.body),
          },
          c.body,
          signal,
        );
        if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
        return {
          ok: false,
          status: res.status,
          error: httpFailureText(res.status, res.text, recordResponseBody),
          retryAfterMs: parseRetryAfter(res.retryAfter, now()),
          gone: res.status === 410,
        };
      });
    } catch (err) {
      if (err instanceof TargetRefusedError || err instanceof SubscriptionWebhooksError)
        return { ok: false, status: null, error: err.message.slice(0, ERROR_TEXT_LIMIT), retryAfterMs: null };
      const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
      return { ok: false, status: null, error: String(e.code ?? e.cause?.code ?? e.message ?? err).slice(0, ERROR_TEXT_LIMIT), retryAfterMs: null };
    }
  }

  async function notify(c: ClaimedDelivery): Promise<Attempt> {
    const notifier = config.notifier;
    if (!notifier) return { ok: false, status: null, error: 'no notifier configured in this process', retryAfterMs: null };
    try {
      const event = JSON.parse(c.body) as DomainEvent;
      const n: UserNotification = renderUserNotification(event, localeFor(event.data.object as Subscription | Order, config.locale));
      await withTimeout(timeoutMs, () => notifier(n));
      return { ok: true, status: null };
    } catch (err) {
      return { ok: false, status: null, error: String((err as Error)?.message ?? err).slice(0, ERROR_TEXT_LIMIT), retryAfterMs: null };
    }
  }

  // Endpoint health. `failing_since` is set on an endpoint's first failed attempt after a success and
  // cleared by the next success; a failure when it is older than `disableAfterMs` disables the endpoint
  // and emits `webhook_endpoint.disabled` (bus, and the other endpoints that want it), in one transaction.
  const { disableAfterMs } = config.delivery;
  /** What this worker last knew of each endpoint's failing_since (saves a write per attempt). */
  const failingSince = new Map<string, string | null>();

  async function trackHealth(endpoint: WebhookEndpointRecord, ok: boolean, error: string | null): Promise<void> {
    try {
      const known = failingSince.has(endpoint.id) ? failingSince.get(endpoint.id)! : (endpoint.failing_since ?? null);
      if (ok) {
        if (known === null) return;
        failingSince.set(endpoint.id, null);
        await store.transaction(async (tx) => {
          const current = await tx.getWebhookEndpoint(endpoint.id);
          if (current?.failing_since) await tx.saveWebhookEndpoint({ ...current, failing_since: null });
        });
        return;
      }
      if (known === null) {
        const since = iso(now());
        const stored = await store.transaction(async (tx) => {
          const current = await tx.getWebhookEndpoint(endpoint.id);
          if (!current) return null;
          if (current.failing_since) return current.failing_since;
          await tx.saveWebhookEndpoint({ ...current, failing_since: since });
          return since;
        });
        failingSince.set(endpoint.id, stored);
        return;
      }
      if (disableAfterMs !== null && now() - Date.parse(known) >= disableAfterMs) await autoDisable(endpoint.id, error);
    } catch (err) {
      logger.error({ err, endpointId: endpoint.id }, 'could not record the health of a webhook endpoint');
    }
  }

  async function autoDisable(endpointId: string, lastError: string | null): Promise<void> {
    const events = await store.transaction(async (tx): Promise<DomainEvent[]> => {
      const current = await tx.getWebhookEndpoint(endpointId);
      if (!current || current.status !== 'enabled' || !current.failing_since || now() - Date.parse(current.failing_since) < disableAfterMs!) return [];
      const at = iso(now());
      await tx.saveWebhookEndpoint({ ...current, status: 'disabled', updated: at });
      const object: WebhookEndpointDisabled = {
        id: current.id,
        url: current.url,
        enabled_events: current.enabled_events,
        description: current.description,
        metadata: current.metadata,
        status: 'disabled',
        reason: 'failing',
        failing_since: current.failing_since,
        disabled_at: at,
        last_error: lastError,
      };
      // One id per failing period: a second worker disabling at the same moment collides on it and re-runs, finding it disabled.
      const event = {
        id: stableId('evt', 'webhook_endpoint.disabled', current.id, current.failing_since),
        type: 'webhook_endpoint.disabled',
        created: at,
        provider: 'subscription-webhooks',
        livemode: true,
        data: { object },
        source: { notification_id: `webhook_endpoint:${current.id}`, notification_type: 'webhook_endpoint.disabled' },
      } as DomainEvent<'webhook_endpoint.disabled'>;
      await tx.insertEvents([event]);
      await enqueueDeliveries(tx, [event], [], { now: at, notifier: false });
      return [event];
    });
    if (events.length === 0) return;
    failingSince.delete(endpointId);
    logger.warn(
      { endpointId, failingSince: (events[0]!.data.object as WebhookEndpointDisabled).failing_since },
      'webhook endpoint failed for longer than delivery.disableAfterMs: disabled',
    );
    await releaseQueued(endpointId);
    await bus?.publish(events);
    wake();
  }

  async function attemptOne(c: ClaimedDelivery, result: DeliveryRunResult): Promise<void> {
    const d = c.delivery;
    let attempt: Attempt;
    const started = performance.now();
    if (d.endpoint_id === NOTIFIER_ENDPOINT_ID) attempt = await notify(c);
    else if (actions?.handles(d.endpoint_id)) attempt = await attemptAction(actions, c, timeoutMs);
    else if (!c.endpoint) attempt = { ok: false, status: null, error: 'endpoint deleted', retryAfterMs: null, gone: true };
    else attempt = await post(c);
    if (c.endpoint && d.endpoint_id === c.endpoint.id) await trackHealth(c.endpoint, attempt.ok, attempt.ok ? null : attempt.error);
    const duration_ms = Math.round(performance.now() - started);
    const at = now();
    const attempts = d.attempts + 1;
    if (attempt.ok && store.finishDelivered && attempt.status !== null) {
      result.delivered++;
      await recordSuccess({ id: d.id, last_status: attempt.status, duration_ms, claim: c.claim });
      return;
    }
    /** The row after this attempt: its new `status`, and when it is due again (null: not). */
    const record = (status: DeliveryOutcome['status'], dueAt: number | null): DeliveryOutcome => ({
      status,
      attempts,
      next_attempt_at: dueAt === null ? null : iso(dueAt),
      last_status: attempt.status,
      last_error: attempt.ok ? null : attempt.error,
      last_attempt_at: iso(at),
      delivered_at: status === 'delivered' ? iso(at) : null,
    });
    let outcome: DeliveryOutcome;
    let released: Promise<void> | undefined;
    if (attempt.ok) {
      outcome = record('delivered', null);
      result.delivered++;
    } else if (attempt.gone) {
      outcome = { ...record('disabled', null), disable_endpoint: attempt.status === 410 };
      result.failed++;
      // Its rows still queued here are not attempted (handed back for when it is re-enabled).
      released = releaseQueued(d.endpoint_id);
      logger.warn({ deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id }, 'webhook receiver answered 410 Gone: endpoint disabled');
    } else if (attempts > retrySchedule.length || attempt.permanent) {
      outcome = record('failed', null);
      result.failed++;
      logger.error(
        { deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id, error: attempt.error },
        'delivery failed after its last attempt (kept for hooks.delivery.replay)',
      );
    } else {
      const delay = Math.max(retrySchedule[attempts - 1]!, Math.min(attempt.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      outcome = record('pending', at + delay);
      result.retrying++;
      logger.warn(
        { deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id, error: attempt.error, retryInMs: delay },
        'delivery attempt failed; will retry',
      );
    }
    if (!(await store.finishDelivery(d.id, c.claim, { ...outcome, duration_ms }))) {
      logger.warn({ deliveryId: d.id }, 'delivery claim expired before the attempt was recorded; another worker may repeat it');
    }
    await released;
  }

  function claimDue(limit: number): Promise<ClaimedDelivery[]> {
    return store.claimDeliveries({ now: iso(now()), limit, lockMs, excludeEndpointIds: saturated() });
  }

  async function runOnce(): Promise<DeliveryRunResult> {
    const result: DeliveryRunResult = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
    const claimed = await claimDue(batchSize);
    result.attempted = claimed.length;
    const all = claimed.map((c) => schedule(c, result));
    dispatch();
    await Promise.all(all);
    return result;
  }

  /** Rows a started worker holds (queued or in flight), until each is recorded. */
  const pending = new Set<Promise<void>>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        sleeping = null;
        resolve();
      }, ms);
      sleeping = { timer, resolve };
    });
  }

  function interrupt(): void {
    if (!sleeping) return;
    clearTimeout(sleeping.timer);
    const { resolve } = sleeping;
    sleeping = null;
    resolve();
  }

  // A started worker never waits for a round: it tops its rows up whenever targets with spare capacity
  // run low, and otherwise sleeps until a commit wakes it, a target frees up, or the poll interval ends.
  async function poll(): Promise<void> {
    while (running) {
      wakeRequested = false;
      let claimed = 0;
      const active = activeHeld();
      if (active < lowWater) {
        try {
          const rows = await claimDue(batchSize - active);
          claimed = rows.length;
          const result: DeliveryRunResult = { attempted: rows.length, delivered: 0, retrying: 0, failed: 0 };
          for (const c of rows) {
            const p = schedule(c, result).finally(() => pending.delete(p));
            pending.add(p);
          }
          dispatch();
        } catch (err) {
          logger.error({ err }, 'delivery worker round failed (could not claim rows); retrying after the poll interval');
        }
      }
      if (!running) break;
      if (claimed > 0 && activeHeld() < lowWater) continue;
      if (!wakeRequested) await sleep(pollIntervalMs);
    }
  }

  function wake(): void {
    wakeRequested = true;
    interrupt();
  }

  // Retention: a started worker prunes every retention.intervalMs (the first run a minute after start,
  // or sooner for a shorter interval); one run at a time in this process, other instances skip its rows.
  let pruneTimer: ReturnType<typeof setTimeout> | null = null;
  let pruning: Promise<unknown> | null = null;
  let pruneAbort: AbortController | null = null;
  function schedulePrune(delay: number): void {
    const interval = config.retention.intervalMs;
    if (interval === null || !running) return;
    pruneTimer = setTimeout(() => {
      pruneAbort = new AbortController();
      pruning = runPrune(store, config.retention, now(), logger, { signal: pruneAbort.signal })
        .catch((err: unknown) => logger.error({ err }, 'retention pruning failed; retrying at the next interval'))
        .finally(() => {
          pruning = null;
          schedulePrune(interval);
        });
    }, delay);
    pruneTimer.unref?.();
  }

  return {
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      loop = poll();
      if (config.retention.intervalMs !== null) schedulePrune(Math.min(config.retention.intervalMs, 60_000));
    },
    async stop() {
      running = false;
      if (pruneTimer) clearTimeout(pruneTimer);
      pruneTimer = null;
      pruneAbort?.abort(); // a run in flight stops after its current batch
      await pruning;
      interrupt();
      await loop;
      loop = null;
      // Rows not started yet go back untouched; the attempts in flight end (each within timeoutMs).
      await Promise.all([...targets.keys()].map((id) => releaseQueued(id)));
      await Promise.all([...pending]);
      poster.close();
    },
    runOnce,
    wake,
    async replay(deliveryId) {
      const r = await store.resetDelivery(deliveryId, iso(now()));
      if (r === null) throw new SubscriptionWebhooksError('NOT_FOUND', `No delivery ${deliveryId}`);
      if (r === 'claimed') throw new SubscriptionWebhooksError('CONFLICT', `Delivery ${deliveryId} is being attempted right now; replay it afterwards`);
      return r;
    },
    get: (id) => store.getDelivery(id),
    list: (filter) => store.listDeliveries(filter),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
