import type { ResolvedConfig } from '../../core/config.js';
import type { ActionAttempt, ActionTargets } from '../../delivery/action-targets.js';
import { newDelivery } from '../../delivery/outbox.js';
import { SubscriptionWebhooksError, isSubscriptionWebhooksError } from '../../core/errors.js';
import type { DomainEvent, Order, Subscription } from '../../events/types.js';
import type { Logger } from '../../core/logger.js';
import type { DeliveryRecord, Store } from '../../store/types.js';
import { AppStoreServerApiError, consumptionBody, type AppStoreServerApi, type ConsumptionRequest } from './api.js';

/**
 * Calls to Apple that follow a commit. Each is a delivery row (the outbox the webhooks use): written in
 * the commit's transaction, attempted by `hooks.delivery` after it (never inside it, never before it),
 * retried on the delivery schedule, and kept when the process dies. The row's `endpoint_id` names the
 * action; its `event_id` is the commit's `provider.notification.received` event, whose body says what
 * the action is about.
 */
export const APPLE_APP_ACCOUNT_TOKEN_TARGET = 'apple.app_account_token';
/** See {@link APPLE_APP_ACCOUNT_TOKEN_TARGET}: the answer to one `CONSUMPTION_REQUEST`. */
export const APPLE_CONSUMPTION_TARGET = 'apple.consumption';

/** Apple reads consumption answers for 12 hours after its request. */
export const CONSUMPTION_WINDOW_MS = 12 * 3_600_000;

/** What `apple.consumption` is called with, once per committed `CONSUMPTION_REQUEST`. */
export interface ConsumptionInput {
  /** The order of the transaction the customer asked a refund for. */
  order: Order;
  /** Its subscription, for an auto-renewable one. */
  subscription: Subscription | null;
  /** The app's user, when known. */
  userId: string | null;
  /** The decoded notification (`data.transactionInfo` is the transaction, `data.consumptionRequestReason` why). */
  notification: Record<string, unknown>;
}

/** The `apple.consumption` policy: the body to send, or `null` to send nothing. */
export type ConsumptionPolicy = (input: ConsumptionInput) => Promise<ConsumptionRequest | null> | ConsumptionRequest | null;

/** What the order's `metadata.apple_consumption` records after the automatic answer. */
export interface ConsumptionRecord {
  /** The body sent to Apple; `null` when the policy chose to send nothing. */
  sent: Record<string, unknown> | null;
  /** ISO 8601: when Apple accepted it (or when the policy declined). */
  at: string;
  /** The CONSUMPTION_REQUEST's notificationUUID. */
  notification_id: string;
}

/** `hooks.apple` calls that change something at Apple. */
export interface AppleActionHooks {
  /**
   * Sets the order's `no` as the `appAccountToken` of the purchase `originalTransactionId` at Apple, so that
   * its later transactions and notifications carry it (`PUT …/transactions/{id}/appAccountToken`). The client
   * transaction route does this on its own, after the commit, when it binds an ownerless purchase to a user.
   * @example await hooks.apple.setAppAccountToken('2000000123456789', order.no);
   * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` when `orderNo` is not a UUID, `NOT_FOUND` when there is
   * no such order, `CONFIG_INVALID` without API credentials, `APPLE_API_*` when Apple refuses.
   */
  setAppAccountToken(originalTransactionId: string, orderNo: string): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface TransactionRef {
  transactionId: string;
  originalTransactionId: string;
}

function transactionOf(value: unknown): TransactionRef | null {
  const t = value as Partial<TransactionRef> | null | undefined;
  return t && typeof t.transactionId === 'string' && typeof t.originalTransactionId === 'string'
    ? { transactionId: t.transactionId, originalTransactionId: t.originalTransactionId }
    : null;
}

/** The action rows of one Apple commit (inside its transaction). `events[0]` is its `provider.notification.received`. */
export function appleActionRows(events: readonly DomainEvent[], actions: { appAccountToken?: boolean; consumption?: boolean }, now: string): DeliveryRecord[] {
  const received = events[0];
  if (!received || received.type !== 'provider.notification.received') return [];
  const rows: DeliveryRecord[] = [];
  if (actions.appAccountToken) rows.push(newDelivery(APPLE_APP_ACCOUNT_TOKEN_TARGET, received.id, now));
  if (actions.consumption) rows.push(newDelivery(APPLE_CONSUMPTION_TARGET, received.id, now));
  return rows;
}

/** An error as the worker records it: Apple's 4xx (other than 401 and 429) and bad input are final; the rest is retried. */
function failed(err: unknown): ActionAttempt {
  const e = err as Error;
  const message = String(e?.message ?? err).slice(0, 500);
  if (err instanceof AppStoreServerApiError) {
    const s = err.httpStatus;
    const permanent = s !== null && s >= 400 && s < 500 && s !== 401 && s !== 429;
    return { ok: false, error: `${err.code}: ${message}`, retryAfterMs: err.retryAfterMs, permanent };
  }
  if (isSubscriptionWebhooksError(err, 'INVALID_ARGUMENT') || isSubscriptionWebhooksError(err, 'NOT_FOUND'))
    return { ok: false, error: `${err.code}: ${message}`, retryAfterMs: null, permanent: true };
  return { ok: false, error: isSubscriptionWebhooksError(err) ? `${err.code}: ${message}` : message, retryAfterMs: null, permanent: false };
}

/**
 * The Apple actions of one `createSubscriptionWebhooks`: the public hook, and the delivery targets.
 * `workerApi` makes one HTTP attempt per delivery attempt (no retries of its own, a timeout below the
 * worker's), so an attempt the worker gave up on is never still running when the next one starts.
 */
export function createAppleActions(deps: { store: Store; config: ResolvedConfig; logger: Logger; api: AppStoreServerApi; workerApi: AppStoreServerApi }): {
  hooks: AppleActionHooks;
  targets: ActionTargets;
} {
  const { store, config, logger } = deps;
  const now = () => config.delivery.now();

  async function setToken(api: AppStoreServerApi, originalTransactionId: string, orderNo: string): Promise<void> {
    if (typeof orderNo !== 'string' || !UUID.test(orderNo))
      throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'orderNo must be the no of an order (a UUID) to use it as the appAccountToken');
    if (!(await store.getOrderByNo(orderNo))) throw new SubscriptionWebhooksError('NOT_FOUND', `No order ${orderNo}`);
    await api.setAppAccountToken(originalTransactionId, orderNo);
  }

  const readOrder = (tradeNo: string) => store.transaction((tx) => tx.getOrderByTradeNo('apple', tradeNo));

  /** The bound purchase's token: the no of its first purchase's order when we have it, else of the posted transaction's. */
  const gaveUp = (): ActionAttempt => ({ ok: false, error: 'the attempt timed out before the call to Apple: not sent', retryAfterMs: null, permanent: false });

  async function bindToken(event: DomainEvent, signal: AbortSignal): Promise<ActionAttempt> {
    const t = transactionOf((event.data.object as { transactionInfo?: unknown }).transactionInfo);
    if (!t) return { ok: false, error: 'the event holds no transaction', retryAfterMs: null, permanent: true };
    const order = (await readOrder(t.originalTransactionId)) ?? (await readOrder(t.transactionId));
    if (!order) return { ok: false, error: `no order for transaction ${t.transactionId}`, retryAfterMs: null, permanent: true };
    if (signal.aborted) return gaveUp();
    await setToken(deps.workerApi, t.originalTransactionId, order.no);
    logger.info({ originalTransactionId: t.originalTransactionId, orderNo: order.no }, 'appAccountToken set at Apple for a purchase bound to its user');
    return { ok: true };
  }

  async function answerConsumption(event: DomainEvent, signal: AbortSignal): Promise<ActionAttempt> {
    const policy = config.apple?.consumption;
    if (!policy) return { ok: false, error: 'no apple.consumption configured in this process', retryAfterMs: null, permanent: false };
    const notification = event.data.object as Record<string, unknown> & {
      notificationUUID?: string;
      signedDate?: number;
      data?: { transactionInfo?: unknown };
    };
    const t = transactionOf(notification.data?.transactionInfo);
    if (!t) return { ok: false, error: 'the CONSUMPTION_REQUEST holds no transaction', retryAfterMs: null, permanent: true };
    const requestedAt = typeof notification.signedDate === 'number' ? notification.signedDate : Date.parse(event.created);
    if (now() > requestedAt + CONSUMPTION_WINDOW_MS) {
      return { ok: false, error: "past Apple's 12-hour window for this CONSUMPTION_REQUEST: not sent", retryAfterMs: null, permanent: true };
    }
    const order = await readOrder(t.transactionId);
    if (!order) return { ok: false, error: `no order for transaction ${t.transactionId}`, retryAfterMs: null, permanent: true };
    const subscription = await store.getSubscription('apple', t.originalTransactionId);
    const answer = await policy({ order, subscription, userId: subscription?.user_id ?? order.user_id, notification });
    const body = answer === null || answer === undefined ? null : consumptionBody(answer);
    // A policy slower than the attempt timeout: the worker already recorded a failure and will retry.
    if (signal.aborted) return gaveUp();
    if (body) await deps.workerApi.sendConsumptionInformation(t.transactionId, body as unknown as ConsumptionRequest);
    const record: ConsumptionRecord = { sent: body, at: new Date(now()).toISOString(), notification_id: String(notification.notificationUUID ?? '') };
    try {
      await store.transaction(async (tx) => {
        const current = await tx.getOrderByTradeNo('apple', t.transactionId);
        if (current) await tx.saveOrder({ ...current, metadata: { ...current.metadata, apple_consumption: record }, updated: record.at });
      });
    } catch (err) {
      // Apple has the answer; the delivery row still records that it was sent.
      logger.error({ err, transactionId: t.transactionId }, 'consumption information sent, but could not be recorded on the order');
    }
    logger.info(
      { transactionId: t.transactionId, sent: body !== null },
      body ? 'consumption information sent to Apple' : 'apple.consumption chose to send nothing',
    );
    return { ok: true };
  }

  return {
    hooks: { setAppAccountToken: (originalTransactionId, orderNo) => setToken(deps.api, originalTransactionId, orderNo) },
    targets: {
      handles: (id) => id === APPLE_APP_ACCOUNT_TOKEN_TARGET || id === APPLE_CONSUMPTION_TARGET,
      async attempt(c, signal) {
        try {
          const event = JSON.parse(c.body) as DomainEvent | null;
          if (!event?.data) return { ok: false, error: `event ${c.delivery.event_id} not found`, retryAfterMs: null, permanent: true };
          return c.delivery.endpoint_id === APPLE_CONSUMPTION_TARGET ? await answerConsumption(event, signal) : await bindToken(event, signal);
        } catch (err) {
          return failed(err);
        }
      },
    },
  };
}
