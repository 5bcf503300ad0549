import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { rawNotificationHistory, type AppStoreServerApi, type NotificationHistoryRequest, type RawNotificationHistoryPage } from './api.js';

/** Options of `hooks.apple.reconcile`. */
export interface ReconcileOptions {
  /**
   * Start of the window: a Date, ms since epoch, an ISO date, or a duration back from now such as
   * `"7d"`, `"12h"`, `"30m"`. Apple keeps about 180 days of history.
   */
  since: Date | number | string;
  /** End of the window, same forms as `since`. @default now */
  until?: Date | number | string;
  /** Only notifications Apple never delivered successfully (cheaper; misses ones we got but failed to commit). @default false */
  onlyFailures?: boolean;
}

/** One history entry the handler did not accept. */
export interface ReconcileFailure {
  /** The notification's UUID when it could be read, else `null`. */
  notificationUUID: string | null;
  /** The HTTP status the route answered. */
  status: number;
  /** The error code the route answered, e.g. `STORE_UNAVAILABLE`. */
  error: string;
}

/** Result of a reconcile run. */
export interface ReconcileResult {
  /** History entries walked. */
  seen: number;
  /** Entries that were new to us and are now committed (events emitted). */
  processed: number;
  /** Entries we already had (nothing emitted). */
  duplicates: number;
  /** Entries the route rejected; see `failures`. */
  failed: number;
  failures: ReconcileFailure[];
}

/** What happened to one history entry fed to a route: the route's HTTP answer. */
export interface DeliveryAnswer {
  status: number;
  body: string | null;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Reads a point in time: a Date, ms since epoch, an ISO date, or a duration back from `now` (`"7d"`, `"90m"`).
 * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` for anything else.
 * @example toTimestamp('7d') // Date.now() - 7 days
 */
export function toTimestamp(value: Date | number | string, now: number = Date.now()): number {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
    if (m) return now - Number(m[1]) * UNITS[m[2]!]!;
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return t;
  }
  throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `not a date or a duration such as "7d": ${JSON.stringify(value)}`);
}

/** Reads a duration (`"1h"`, `"15m"`, or ms). @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` */
export function toDurationMs(value: number | string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
    if (m && Number(m[1]) > 0) return Number(m[1]) * UNITS[m[2]!]!;
  }
  throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `not a positive duration such as "1h" or a number of ms: ${JSON.stringify(value)}`);
}

function readAnswer(answer: DeliveryAnswer): { duplicate: boolean; error: string | null } {
  let data: { duplicate?: unknown; stale?: unknown; error?: unknown } | undefined;
  try {
    data = (JSON.parse(answer.body ?? 'null') as { data?: typeof data } | null)?.data;
  } catch {
    data = undefined;
  }
  // A stale notification (past the retention window) was acknowledged without being applied: not processed now.
  if (answer.status >= 200 && answer.status < 300) return { duplicate: data?.duplicate === true || data?.stale === true, error: null };
  return { duplicate: false, error: typeof data?.error === 'string' ? data.error : `HTTP_${answer.status}` };
}

function peekUuid(signedPayload: string): string | null {
  try {
    const payload = JSON.parse(Buffer.from(signedPayload.split('.')[1] ?? '', 'base64url').toString('utf8')) as { notificationUUID?: unknown };
    return typeof payload.notificationUUID === 'string' ? payload.notificationUUID : null;
  } catch {
    return null;
  }
}

/**
 * Walks Apple's notification history for the window and hands each `signedPayload` to `deliver`,
 * exactly as Apple would have POSTed it (`{ "signedPayload": "..." }`). `hooks.apple.reconcile` delivers
 * in process through `hooks.handle('apple', …)`; the CLI delivers over HTTP to a running server. The
 * route's inbox deduplicates, so any number of runs, from any number of instances, commit each notification once.
 *
 * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` for a bad window, or the API's codes
 * (`APPLE_API_*`) when a history page cannot be fetched; failures of single entries are counted instead.
 * @example
 * const r = await reconcileAppleNotifications({ api, deliver: (rawBody) => post(url, rawBody) }, { since: '7d' });
 */
export async function reconcileAppleNotifications(
  deps: { api: AppStoreServerApi; deliver: (rawBody: string) => Promise<DeliveryAnswer>; logger?: Logger; now?: () => number },
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const now = deps.now?.() ?? Date.now();
  if (!options || options.since === undefined) throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'reconcile: `since` is required, e.g. { since: "7d" }');
  const startDate = toTimestamp(options.since, now);
  const endDate = options.until === undefined ? now : toTimestamp(options.until, now);
  if (startDate >= endDate) throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'reconcile: `since` must be before `until`');
  const request: NotificationHistoryRequest = { startDate, endDate, onlyFailures: options.onlyFailures === true };
  // Ours fetches without verifying: the route verifies each entry, so one bad entry counts as failed instead of aborting the walk.
  const fetchPage =
    rawNotificationHistory(deps.api) ??
    (async (req: NotificationHistoryRequest, token: string | null): Promise<RawNotificationHistoryPage> => {
      const page = await deps.api.getNotificationHistory(req, token);
      return {
        items: page.items.map((i) => ({ signedPayload: i.signedPayload, sendAttempts: i.sendAttempts })),
        hasMore: page.hasMore,
        paginationToken: page.paginationToken,
      };
    });

  const result: ReconcileResult = { seen: 0, processed: 0, duplicates: 0, failed: 0, failures: [] };
  let token: string | null = null;
  do {
    const page = await fetchPage(request, token);
    for (const item of page.items) {
      result.seen += 1;
      let answer: DeliveryAnswer;
      try {
        answer = await deps.deliver(JSON.stringify({ signedPayload: item.signedPayload }));
      } catch (err) {
        answer = { status: 0, body: JSON.stringify({ data: { error: (err as { code?: string }).code ?? 'DELIVERY_FAILED' } }) };
      }
      const { duplicate, error } = readAnswer(answer);
      if (error !== null) {
        result.failed += 1;
        result.failures.push({ notificationUUID: peekUuid(item.signedPayload), status: answer.status, error });
      } else if (duplicate) result.duplicates += 1;
      else result.processed += 1;
    }
    token = page.hasMore ? page.paginationToken : null;
  } while (token);
  deps.logger?.info({ ...result, failures: undefined, startDate, endDate }, 'apple reconcile finished');
  return result;
}

/** Options of `hooks.apple.startReconcileSchedule`. */
export interface ReconcileScheduleOptions {
  /** Time between the end of one run and the start of the next: ms, or `"1h"`, `"15m"`. */
  every: number | string;
  /**
   * How far back each run looks. Overlapping windows are free (duplicates are skipped).
   * @default twice `every`, at least one hour
   */
  since?: number | string;
  /** @default false */
  onlyFailures?: boolean;
  /** Run once right away instead of after the first `every`. @default true */
  runImmediately?: boolean;
  /** Called after every run. */
  onResult?: (result: ReconcileResult) => void;
  /** Called when a run throws (e.g. Apple unreachable); the schedule keeps going. @default logs a warning */
  onError?: (error: unknown) => void;
}

/** The handle returned by `startReconcileSchedule`. */
export interface ReconcileSchedule {
  /** Stops the timer and resolves once a run in progress has finished. */
  stop(): Promise<void>;
  /** Starts a run now (or joins the one in progress). */
  runNow(): Promise<ReconcileResult | undefined>;
}

/**
 * Runs `reconcile` on a timer for apps without a job scheduler. Runs never overlap; the timer is
 * `unref`'d so it never keeps the process alive.
 *
 * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` for a bad `every` or `since`.
 * @example
 * const schedule = startReconcileSchedule((o) => hooks.apple.reconcile(o), { every: '1h', onResult: (r) => log.info(r) });
 * process.on('SIGTERM', () => schedule.stop());
 */
export function startReconcileSchedule(
  reconcile: (options: ReconcileOptions) => Promise<ReconcileResult>,
  options: ReconcileScheduleOptions,
  logger?: Logger,
): ReconcileSchedule {
  const every = toDurationMs(options.every);
  const lookBack = options.since === undefined ? Math.max(2 * every, 3_600_000) : toDurationMs(options.since);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running: Promise<ReconcileResult | undefined> | null = null;
  let stopped = false;

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void runNow(), every);
    timer.unref?.();
  };
  function runNow(): Promise<ReconcileResult | undefined> {
    if (running) return running;
    if (timer) clearTimeout(timer);
    timer = null;
    // `running` is cleared before onResult, so a runNow() from inside it (or right after) starts a fresh run.
    running = (async () => {
      try {
        const result = await reconcile({ since: Date.now() - lookBack, onlyFailures: options.onlyFailures === true });
        running = null;
        schedule();
        options.onResult?.(result);
        return result;
      } catch (error) {
        running = null;
        schedule();
        if (options.onError) options.onError(error);
        else logger?.warn({ err: error }, `apple reconcile failed: ${(error as Error).message}`);
        return undefined;
      }
    })();
    return running;
  }
  if (options.runImmediately === false) schedule();
  else void runNow();
  return {
    runNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}

/** What `createSubscriptionWebhooks` adds under `hooks.apple` for the App Store Server API. */
export interface AppleApiHooks {
  /** The App Store Server API client; rejects with `CONFIG_INVALID` when no API key is configured. */
  api: AppStoreServerApi;
  /**
   * Walks Apple's notification history and feeds each notification through `hooks.handle('apple', …)`,
   * the path a live notification takes: safe to run any time, from any number of instances.
   * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT`, `CONFIG_INVALID`, or `APPLE_API_*` when a page cannot be fetched.
   * @example const { processed } = await hooks.apple.reconcile({ since: '7d' });
   */
  reconcile(options: ReconcileOptions): Promise<ReconcileResult>;
  /**
   * Runs `reconcile` every `every` (first run at once) until `stop()`.
   * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` for a bad `every` or `since`.
   * @example const schedule = hooks.apple.startReconcileSchedule({ every: '1h' }); await schedule.stop();
   */
  startReconcileSchedule(options: ReconcileScheduleOptions): ReconcileSchedule;
}

/** @internal Builds {@link AppleApiHooks} over the handler; used by `createSubscriptionWebhooks`. */
export function createAppleApiHooks(api: AppStoreServerApi, handle: (rawBody: string) => Promise<DeliveryAnswer>, logger: Logger): AppleApiHooks {
  const reconcile = (options: ReconcileOptions) => reconcileAppleNotifications({ api, deliver: handle, logger }, options);
  return {
    api,
    reconcile,
    startReconcileSchedule: (options) => startReconcileSchedule(reconcile, options, logger),
  };
}
