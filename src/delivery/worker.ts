import type { ResolvedConfig, UserNotification } from '../config.js';
import { SubscriptionWebhooksError } from '../errors.js';
import type { DomainEvent, Order, Subscription } from '../events/types.js';
import type { Logger } from '../logger.js';
import { localeFor, renderUserNotification } from '../notifications/render.js';
import type { ClaimedDelivery, DeliveryFilter, DeliveryOutcome, DeliveryRecord, Store } from '../store/types.js';
import { NOTIFIER_ENDPOINT_ID } from './outbox.js';
import { createWebhookPoster } from './http-post.js';
import { signatureHeader } from './sign.js';

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
  /** Stops polling and waits for the attempts in flight. */
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

const MAX_RETRY_AFTER_MS = 86_400_000;
const ERROR_TEXT_LIMIT = 500;

/** `retry-after` as seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
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

type Attempt = { ok: true; status: number | null } | { ok: false; status: number | null; error: string; retryAfterMs: number | null; gone?: boolean };

/** Builds the worker on a store (one per `createSubscriptionWebhooks`). */
export function createDeliveryWorker(store: Store, config: ResolvedConfig, logger: Logger): DeliveryWorker & { wake(): void } {
  const { retrySchedule, timeoutMs, concurrency, batchSize, pollIntervalMs, now } = config.delivery;
  // A claim must outlive the slowest round it covers, or another worker could take the row meanwhile.
  const lockMs = (Math.ceil(batchSize / concurrency) + 1) * timeoutMs + 30_000;
  let running = false;
  let loop: Promise<void> | null = null;
  let sleeping: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  let wakeRequested = false;
  const poster = createWebhookPoster(ERROR_TEXT_LIMIT);

  async function post(c: ClaimedDelivery): Promise<Attempt> {
    const endpoint = c.endpoint!;
    const id = c.delivery.event_id;
    const timestamp = Math.floor(now() / 1000);
    const secrets = [endpoint.secret];
    if (endpoint.previous_secret && endpoint.previous_secret_expires_at && Date.parse(endpoint.previous_secret_expires_at) > now()) secrets.push(endpoint.previous_secret);
    try {
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
          error: `HTTP ${res.status}${res.text ? `: ${res.text.slice(0, ERROR_TEXT_LIMIT)}` : ''}`,
          retryAfterMs: parseRetryAfter(res.retryAfter, now()),
          gone: res.status === 410,
        };
      });
    } catch (err) {
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

  async function attemptOne(c: ClaimedDelivery, result: DeliveryRunResult, gone: Set<string>, delivered?: { id: string; last_status: number }[]): Promise<void> {
    const d = c.delivery;
    if (gone.has(d.endpoint_id)) {
      // Disabled by a 410 earlier in this round: hand the row back untouched for when it is re-enabled.
      const { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at } = d;
      await store.finishDelivery(d.id, c.claim, { status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at });
      result.attempted--;
      return;
    }
    let attempt: Attempt;
    if (d.endpoint_id === NOTIFIER_ENDPOINT_ID) attempt = await notify(c);
    else if (!c.endpoint) attempt = { ok: false, status: null, error: 'endpoint deleted', retryAfterMs: null, gone: true };
    else attempt = await post(c);
    const at = now();
    const attempts = d.attempts + 1;
    let outcome: DeliveryOutcome;
    if (attempt.ok && delivered && attempt.status !== null) {
      // Recorded with the rest of the round in one statement (see runOnce).
      delivered.push({ id: d.id, last_status: attempt.status });
      result.delivered++;
      return;
    }
    if (attempt.ok) {
      outcome = { status: 'delivered', attempts, next_attempt_at: null, last_status: attempt.status, last_error: null, last_attempt_at: iso(at), delivered_at: iso(at) };
      result.delivered++;
    } else if (attempt.gone) {
      outcome = { status: 'disabled', attempts, next_attempt_at: null, last_status: attempt.status, last_error: attempt.error, last_attempt_at: iso(at), delivered_at: null, disable_endpoint: attempt.status === 410 };
      result.failed++;
      gone.add(d.endpoint_id);
      logger.warn({ deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id }, 'webhook receiver answered 410 Gone: endpoint disabled');
    } else if (attempts > retrySchedule.length) {
      outcome = { status: 'failed', attempts, next_attempt_at: null, last_status: attempt.status, last_error: attempt.error, last_attempt_at: iso(at), delivered_at: null };
      result.failed++;
      logger.error({ deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id, error: attempt.error }, 'delivery failed after its last attempt (kept for hooks.delivery.replay)');
    } else {
      const delay = Math.max(retrySchedule[attempts - 1]!, Math.min(attempt.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      outcome = { status: 'pending', attempts, next_attempt_at: iso(at + delay), last_status: attempt.status, last_error: attempt.error, last_attempt_at: iso(at), delivered_at: null };
      result.retrying++;
      logger.warn({ deliveryId: d.id, endpointId: d.endpoint_id, eventId: d.event_id, error: attempt.error, retryInMs: delay }, 'delivery attempt failed; will retry');
    }
    if (!(await store.finishDelivery(d.id, c.claim, outcome))) {
      logger.warn({ deliveryId: d.id }, 'delivery claim expired before the attempt was recorded; another worker may repeat it');
    }
  }

  async function runOnce(): Promise<DeliveryRunResult> {
    const result: DeliveryRunResult = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
    const claimed = await store.claimDeliveries({ now: iso(now()), limit: batchSize, lockMs });
    result.attempted = claimed.length;
    const gone = new Set<string>();
    // Successes of the round are recorded together when the store can (one UPDATE instead of one per
    // row). Until then the rows stay claimed, so a crash in between means those deliveries are made
    // again after the claim lapses: at least once, with the same webhook-id, as for any crash mid-attempt.
    const delivered: { id: string; last_status: number }[] | undefined = store.finishDelivered ? [] : undefined;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, claimed.length) }, async () => {
        while (next < claimed.length) {
          const c = claimed[next++]!;
          try {
            await attemptOne(c, result, gone, delivered);
          } catch (err) {
            // The claim lapses and the row is attempted again later.
            logger.error({ err, deliveryId: c.delivery.id }, 'could not record a delivery attempt');
          }
        }
      }),
    );
    if (delivered && delivered.length > 0) {
      const recorded = await store.finishDelivered!(delivered, claimed[0]!.claim, iso(now()));
      if (recorded < delivered.length) logger.warn({ delivered: delivered.length, recorded }, 'some claims expired before their deliveries were recorded; another worker may repeat them');
    }
    return result;
  }

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

  async function poll(): Promise<void> {
    while (running) {
      let attempted = 0;
      wakeRequested = false;
      try {
        attempted = (await runOnce()).attempted;
      } catch (err) {
        logger.error({ err }, 'delivery worker round failed; retrying after the poll interval');
      }
      if (running && attempted === 0 && !wakeRequested) await sleep(pollIntervalMs);
    }
  }

  return {
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      loop = poll();
    },
    async stop() {
      running = false;
      interrupt();
      await loop;
      loop = null;
      poster.close();
    },
    runOnce,
    wake() {
      wakeRequested = true;
      interrupt();
    },
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
