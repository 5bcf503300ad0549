import { getHeader, parseJsonObject, rawBodyText, rawSha256, readRawBody } from '../../core/body.js';
import { commitNotification } from '../../core/commit.js';
import type { CoreContext, HandlerRequest, HandlerResponse, HandlerResult, RouteModule } from '../../core/types.js';
import type { ResolvedConfig } from '../../core/config.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { InboxRecord } from '../../store/types.js';
import { applyXsollaNotification } from './apply.js';
import { parseXsollaNotification, type XsollaNotification } from './schemas.js';
import { verifyXsollaSignature } from './signature.js';

/** The Xsolla settings the route needs (the resolved `xsolla` config). */
export type XsollaRouteConfig = NonNullable<ResolvedConfig['xsolla']>;

/** The only error codes Xsolla's documentation defines for a webhook answer. */
export type XsollaWireCode = 'INVALID_SIGNATURE' | 'INVALID_USER' | 'INVALID_PARAMETER';

const NO_CONTENT: HandlerResponse = { status: 204, headers: {}, body: null };

/**
 * The Xsolla wire format for an error: `{ "error": { "code", "message" } }`. Our internal codes are
 * worded in Xsolla's vocabulary: `XSOLLA_SIGNATURE_INVALID` → `INVALID_SIGNATURE`, `USER_NOT_FOUND` →
 * `INVALID_USER`, any other 4xx (`BODY_INVALID`, `XSOLLA_PROJECT_MISMATCH`, `BODY_TOO_LARGE`) →
 * `INVALID_PARAMETER` with its own status. A 5xx keeps our code (`STORE_UNAVAILABLE`, `INTERNAL`, ...)
 * and a safe message, so Xsolla retries.
 */
export function xsollaErrorResponse(e: SubscriptionWebhooksError): HandlerResponse {
  let code: string;
  let message = e.message;
  if (e.status >= 500) {
    code = e.code;
    if (e.code === 'INTERNAL') message = 'Internal error';
    if (e.code === 'STORE_UNAVAILABLE') message = 'Storage unavailable, retry later';
  } else if (e.code === 'XSOLLA_SIGNATURE_INVALID') code = 'INVALID_SIGNATURE' satisfies XsollaWireCode;
  else if (e.code === 'USER_NOT_FOUND') code = 'INVALID_USER' satisfies XsollaWireCode;
  else code = 'INVALID_PARAMETER' satisfies XsollaWireCode;
  return { status: e.status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ error: { code, message } }) };
}

const sha256 = rawSha256;
const isoOf = (date: string | null | undefined) => (date ? new Date(date).toISOString() : null);

/**
 * The inbox id that makes a redelivery recognisable (Xsolla sends no notification id):
 * `payment` / `refund` → `<type>:<transaction.id>`; `partial_refund` → the same plus a body hash, since
 * one transaction may be partially refunded more than once; subscription types →
 * `<type>:<subscription_id>:<date_next_charge, or date_end for cancel_subscription>` (plus the plan for
 * `update_subscription`, whose plan may change without a new date), or a body hash when that date is
 * absent; anything else → `sha256:<hex of the raw body>`.
 */
export function xsollaNotificationId(n: XsollaNotification, rawBody: string | Uint8Array): string {
  if (n.kind === 'transaction') {
    const id = `${n.body.notification_type}:${String(n.body.transaction.id)}`;
    return n.body.notification_type === 'partial_refund' ? `${id}:${sha256(rawBody).slice(0, 32)}` : id;
  }
  if (n.kind === 'subscription') {
    const s = n.body.subscription;
    const type = n.body.notification_type;
    const date = isoOf(type === 'cancel_subscription' ? s.date_end : s.date_next_charge);
    const id = `${type}:${String(s.subscription_id)}`;
    if (!date) return `${id}:sha256:${sha256(rawBody).slice(0, 32)}`;
    return type === 'update_subscription' ? `${id}:${date}:${String(s.plan_id)}` : `${id}:${date}`;
  }
  return `sha256:${sha256(rawBody)}`;
}

/**
 * The provider date of an Xsolla notification (the inbox's `signed_at`, which the retention's freshness
 * rule and dedup-key pruning go by): a payment's `payment_date`, a refund's `date`; for subscription
 * types the date its inbox id carries (`date_next_charge`, `date_end` for `cancel_subscription`), no
 * earlier than the event itself. Null when the body has none (such keys are never pruned). One inbox id
 * always carries one date: the id is built from the same transaction or date, or hashes the whole body.
 */
export function xsollaProviderDate(n: XsollaNotification): string | null {
  if (n.kind === 'transaction') return isoOf(n.body.transaction.payment_date ?? n.body.transaction.date);
  if (n.kind === 'subscription')
    return isoOf(n.body.notification_type === 'cancel_subscription' ? n.body.subscription.date_end : n.body.subscription.date_next_charge);
  return null;
}

/**
 * `POST /api/xsolla/webhooks`: Xsolla webhooks. Verifies `Authorization: Signature <sha1(rawBody +
 * secretKey)>`, checks `settings.project_id`, answers `user_validation` through `userExists`, and
 * commits every other notification (inbox + state + events) before answering 204.
 */
export function xsollaRoute(ctx: CoreContext, xsolla: () => XsollaRouteConfig): RouteModule {
  return {
    errorResponse: xsollaErrorResponse,
    async handle(request: HandlerRequest): Promise<HandlerResult> {
      const config = xsolla();
      const text = readRawBody(request.rawBody, ctx.config.maxBodyBytes);
      verifyXsollaSignature(getHeader(request.headers, 'authorization'), request.rawBody, config.secretKey);
      const body = parseJsonObject(text);
      const settings = body.settings as { project_id?: unknown } | undefined;
      if (settings && typeof settings === 'object' && settings.project_id !== undefined && Number(settings.project_id) !== config.projectId) {
        throw new SubscriptionWebhooksError(
          'XSOLLA_PROJECT_MISMATCH',
          `settings.project_id ${String(settings.project_id)} is not this project (${config.projectId})`,
        );
      }
      const parsed = parseXsollaNotification(body);
      if (!parsed.success) throw new SubscriptionWebhooksError('BODY_INVALID', `\`${parsed.path}\` ${parsed.message}`);
      const n = parsed.notification;

      // A question, not an event: Xsolla asks it several times per payment. Nothing is recorded.
      if (n.kind === 'user_validation') {
        const userId = String(n.body.user.id);
        const exists = config.userExists ? await config.userExists(userId) : true;
        if (exists !== true) throw new SubscriptionWebhooksError('USER_NOT_FOUND', `User ${userId} not found`);
        return { response: NO_CONTENT, events: [] };
      }

      const notificationId = xsollaNotificationId(n, request.rawBody);
      const transaction = n.kind === 'transaction' ? n.body.transaction : n.kind === 'other' ? n.body.transaction : undefined;
      const dryRun = transaction?.dry_run === 1 || transaction?.dry_run === true;
      const receivedAt = new Date().toISOString();
      const inbox: InboxRecord = {
        provider: 'xsolla',
        notification_id: notificationId,
        notification_type: n.body.notification_type,
        subtype: null,
        environment: transaction ? (dryRun ? 'Sandbox' : 'Production') : null,
        signed_at: xsollaProviderDate(n),
        received_at: new Date(ctx.config.delivery.now()).toISOString(),
        raw_body: rawBodyText(request.rawBody),
        raw_sha256: sha256(request.rawBody),
        payload: body,
      };
      const outcome = await commitNotification(ctx, inbox, (tx) =>
        applyXsollaNotification(
          tx,
          {
            notificationId,
            notificationType: n.body.notification_type,
            subscription: n.kind === 'subscription' ? n.body : undefined,
            transaction: n.kind === 'transaction' ? n.body : undefined,
            decoded: body,
            dryRun,
            receivedAt,
            now: Date.now(),
          },
          ctx.logger,
        ),
      );
      return { response: NO_CONTENT, events: outcome.duplicate ? [] : outcome.events };
    },
  };
}
