import type { Logger } from './logger.js';
import type { HandlerResult, RouteName } from './types.js';
import type { Provider } from '../events/types.js';
import type { NotificationOutcomeRecord, Store } from '../store/types.js';
import { randomId } from './ids.js';

const PROVIDER_BY_ROUTE: Record<RouteName, string> = {
  apple: 'apple',
  appleTransaction: 'apple',
  xsolla: 'xsolla',
  google: 'google',
  googlePurchase: 'google',
};

/** What the Apple routes answer in `data` (the Xsolla route answers 204 without a body). */
interface AnswerData {
  notificationType?: string;
  subtype?: string;
  notificationUUID?: string;
  userId?: string | null;
  transactionId?: string;
  duplicate?: boolean;
  stale?: boolean;
}

function answerData(body: unknown): AnswerData {
  if (typeof body !== 'string' || body.length === 0) return {};
  try {
    const parsed = JSON.parse(body) as { data?: AnswerData };
    return parsed && typeof parsed.data === 'object' && parsed.data !== null ? parsed.data : {};
  } catch {
    return {};
  }
}

/**
 * The success line, one per accepted request, at info: provider, type/subtype, notification id, user,
 * transaction, result (`processed`, `duplicate`, `stale` (past the retention window, not applied), or `answered` when nothing was recorded, e.g. Xsolla's
 * `user_validation`), HTTP status and duration. Rejections are logged elsewhere (warn / error).
 * @example
 * logProcessed(logger, 'apple', result, 12.3); // info { provider: 'apple', notificationType: 'SUBSCRIBED', …, result: 'processed', durationMs: 12 } 'apple SUBSCRIBED/INITIAL_BUY processed in 12 ms'
 */
export function logProcessed(logger: Logger, route: RouteName, result: HandlerResult, durationMs: number): void {
  const data = answerData(result.response.body);
  const first = result.events[0];
  const object = result.events.map((e) => e.data.object as { user_id?: string | null; trade_no?: string | null }).find((o) => o && (o.user_id || o.trade_no));
  const notificationType = first?.source.notification_type ?? data.notificationType;
  const subtype = first?.source.subtype ?? data.subtype;
  const outcome = data.stale ? 'stale' : data.duplicate ? 'duplicate' : result.events.length > 0 ? 'processed' : 'answered';
  const fields = {
    provider: first?.provider ?? PROVIDER_BY_ROUTE[route] ?? route,
    route,
    notificationType,
    subtype,
    notificationId: first?.source.notification_id ?? data.notificationUUID,
    userId: data.userId ?? object?.user_id ?? undefined,
    transactionId: data.transactionId ?? object?.trade_no ?? undefined,
    result: outcome,
    status: result.response.status,
    durationMs: Math.round(durationMs),
  };
  const what = [notificationType ?? route, subtype].filter(Boolean).join('/');
  logger.info(fields, `${fields.provider} ${what} ${outcome} in ${fields.durationMs} ms`);
}

/** Most duplicate/stale/rejected records one process writes per minute (a flood is summarised by the logger instead). */
const OUTCOMES_PER_MINUTE = 600;

/**
 * Records what came of a request that added no inbox row (a duplicate, a stale notification, a 4xx rejection) in the
 * store, for the admin dashboard: at most {@link OUTCOMES_PER_MINUTE} per minute per process; a store without
 * `recordNotificationOutcome` records nothing; a failure to record is logged and never changes the answer.
 */
export function outcomeRecorder(store: Store, logger: Logger, now: () => number) {
  let windowStart = 0;
  let used = 0;
  async function write(row: Omit<NotificationOutcomeRecord, 'id' | 'received_at'>): Promise<void> {
    if (!store.recordNotificationOutcome) return;
    const t = now();
    if (t - windowStart >= 60_000) [windowStart, used] = [t, 0];
    if (++used > OUTCOMES_PER_MINUTE) return;
    try {
      await store.recordNotificationOutcome({ id: randomId('nout'), received_at: new Date(t).toISOString(), ...row });
    } catch (err) {
      logger.warn({ err, outcome: row.outcome, code: row.code }, 'could not record the outcome of a request (the answer is unchanged)');
    }
  }
  return {
    /** After a handled request: records a duplicate or a stale one. */
    handled(route: RouteName, result: HandlerResult): Promise<void> {
      if (result.response.status >= 400 || result.events.length > 0) return Promise.resolve();
      const data = answerFields(result.response.body);
      const outcome = data.stale ? 'stale' : data.duplicate ? 'duplicate' : null;
      if (!outcome) return Promise.resolve();
      return write({
        provider: (PROVIDER_BY_ROUTE[route] ?? route) as Provider,
        outcome,
        code: outcome.toUpperCase(),
        status: result.response.status,
        notification_id: str(data.notificationUUID ?? data.messageId ?? data.transactionId),
        notification_type: str(data.notificationType),
        reason: null,
      });
    },
    /** After a rejected request (4xx; our own failures are not recorded: the store may be what failed). */
    rejected(route: RouteName, code: string, status: number, message: string): Promise<void> {
      if (status < 400 || status >= 500) return Promise.resolve();
      return write({
        provider: (PROVIDER_BY_ROUTE[route] ?? route) as Provider,
        outcome: 'rejected',
        code,
        status,
        notification_id: null,
        notification_type: null,
        reason: message,
      });
    },
  };
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

/** The answer's `data` (Apple), or the answer itself (Google's push answer has no `data`). */
function answerFields(body: unknown): Record<string, unknown> {
  const data = answerData(body) as Record<string, unknown>;
  if (Object.keys(data).length > 0 || typeof body !== 'string') return data;
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
