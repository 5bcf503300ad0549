import type { Logger } from './logger.js';
import type { HandlerResult, RouteName } from './types.js';

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
