import { resolveConfig, type ResolvedConfig, type SubscriptionWebhooksConfig } from './config.js';
import { SubscriptionWebhooksError, type ErrorCode } from './errors.js';
import { EventBus } from './events/bus.js';
import type { DomainEvent, NotificationSettings, Order, Provider, Subscription } from './events/types.js';
import { randomId, randomUUID } from './ids.js';
import { defaultLogger, type Logger } from './logger.js';
import { applyAppleNotification, type AppleInput } from './providers/apple/apply.js';
import { createAppleVerifier, type AppleVerifier } from './providers/apple/verifier.js';
import type { JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload } from './providers/apple/schemas.js';
import { memoryStore } from './store/memory.js';
import type { InboxRecord, Store, SubscriptionFilter } from './store/types.js';
import { z } from 'zod';

/** Routes the core handles. */
export type RouteName = 'apple' | 'appleTransaction';

/** Request headers: a Fetch `Headers`, or a Node-style record. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** What an adapter hands to {@link SubscriptionWebhooks.handle}. */
export interface HandlerRequest {
  headers: HeadersLike;
  /** The exact bytes of the body. Never a parsed object: signatures are over the raw bytes. */
  rawBody: string | Uint8Array;
  /** The authenticated user of your app, for the client transaction route. */
  userId?: string | null;
}

/** What the core answers; adapters write it back unchanged. */
export interface HandlerResponse {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

/** The result of {@link SubscriptionWebhooks.handle}: the HTTP answer and the events it committed. */
export interface HandlerResult {
  response: HandlerResponse;
  /** Events committed by this request (empty for duplicates and rejections). */
  events: DomainEvent[];
}

/** Input of `hooks.orders.create`. */
export interface CreateOrderInput {
  userId: string;
  productId: string;
  /** @default "apple" */
  provider?: Provider;
  amount?: number;
  currency?: string;
  metadata?: Record<string, unknown>;
  subscriptionData?: { notificationSettings?: NotificationSettings };
}

/** The object returned by {@link createSubscriptionWebhooks}. */
export interface SubscriptionWebhooks {
  /** Resolved route paths the adapters mount. */
  readonly routes: ResolvedConfig['routes'];
  /** Largest body accepted, in bytes. */
  readonly maxBodyBytes: number;
  readonly store: Store;
  readonly bus: EventBus;
  readonly logger: Logger;
  /**
   * Handle one provider request. Never throws: every failure becomes a response
   * (4xx for bad input, so the provider stops retrying; 5xx for our own failures, so it retries).
   * The provider gets 2xx only after the transaction has committed.
   */
  handle(route: RouteName, request: HandlerRequest): Promise<HandlerResult>;
  /** Orders (seed 003): create one before purchase; its `no` is the `appAccountToken` you pass to StoreKit. */
  orders: {
    create(input: CreateOrderInput): Promise<Order>;
    get(no: string): Promise<Order | null>;
  };
  subscriptions: {
    get(contractId: string, provider?: Provider): Promise<Subscription | null>;
    list(filter?: SubscriptionFilter): Promise<Subscription[]>;
  };
  apple: {
    /** Verify a StoreKit 2 `jwsRepresentation` (same code as the transaction inside a notification). */
    verifyTransaction(jws: string): Promise<JWSTransactionDecodedPayload>;
    verifyRenewalInfo(jws: string): Promise<JWSRenewalInfoDecodedPayload>;
  };
}

const notificationSettingsSchema = z.strictObject({
  self_handle: z.boolean(),
  include_events: z.array(z.string()).optional(),
  exclude_events: z.array(z.string()).optional(),
});
const createOrderSchema = z.strictObject({
  userId: z.string().min(1),
  productId: z.string().min(1),
  provider: z.enum(['apple', 'xsolla']).optional(),
  amount: z.number().int().nonnegative().optional(),
  currency: z.string().length(3).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  subscriptionData: z.strictObject({ notificationSettings: notificationSettingsSchema.optional() }).optional(),
});

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

function appleAnswer(status: number, message: string, data: Record<string, unknown>): HandlerResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ code: status, message, data }) };
}

function toError(err: unknown): SubscriptionWebhooksError {
  if (err instanceof SubscriptionWebhooksError) return err;
  return new SubscriptionWebhooksError('INTERNAL', 'Internal error', { cause: err });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes and size-checks the raw body; rejects parsed objects with a message naming the fix. */
export function readRawBody(rawBody: unknown, maxBytes: number): string {
  if (typeof rawBody === 'string') {
    if (Buffer.byteLength(rawBody, 'utf8') > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
    return rawBody;
  }
  if (rawBody instanceof Uint8Array) {
    if (rawBody.byteLength > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
    try {
      return decoder.decode(rawBody);
    } catch (cause) {
      throw new SubscriptionWebhooksError('BODY_INVALID', 'Body is not valid UTF-8', { cause });
    }
  }
  throw new SubscriptionWebhooksError(
    'BODY_NOT_RAW',
    'The request body was already parsed; signatures are over the exact raw bytes. Mount the subscription-webhooks routes before any body parser (express.json(), koa-bodyparser), or pass the raw body as a string or Uint8Array.',
  );
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new SubscriptionWebhooksError('BODY_INVALID', 'Body is not valid JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SubscriptionWebhooksError('BODY_INVALID', 'Body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v.length === 0) throw new SubscriptionWebhooksError('BODY_INVALID', `Body must have a non-empty string "${name}"`);
  return v;
}

/**
 * Creates the webhook receiver. Validates `config` once (zod) and fails fast.
 *
 * @example
 * ```ts
 * import { createSubscriptionWebhooks } from 'subscription-webhooks';
 * import { prismaStore } from 'subscription-webhooks/prisma';
 *
 * export const hooks = createSubscriptionWebhooks({
 *   apple: { bundleId: 'com.example.app', appAppleId: 1234567890 },
 *   store: prismaStore(prisma),
 * });
 * hooks.bus.subscribe('customer.subscription.renewed', async (event) => { ... });
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` naming the offending key.
 */
export function createSubscriptionWebhooks(config?: SubscriptionWebhooksConfig): SubscriptionWebhooks {
  const resolved = resolveConfig(config);
  const logger = config?.logger ?? defaultLogger();
  let store = config?.store;
  if (!store) {
    store = memoryStore();
    if (process.env.NODE_ENV === 'production') {
      logger.warn(
        { code: 'memory-store-in-production' },
        'subscription-webhooks is using the in-memory store: orders, subscriptions and events are lost on restart. Pass `store: prismaStore(prisma)`.',
      );
    }
  }
  const bus = new EventBus(logger);
  let verifier: AppleVerifier | null = null;
  const apple = resolved.apple;
  if (apple) {
    verifier = createAppleVerifier({
      bundleId: apple.bundleId,
      appAppleId: apple.appAppleId,
      environments: apple.environments,
      rootCertificates: apple.rootCertificates,
      strictNested: apple.strictNested,
    });
  }
  const requireVerifier = (): AppleVerifier => {
    if (!verifier) throw new SubscriptionWebhooksError('CONFIG_INVALID', 'Apple is not configured: pass `apple: { bundleId }` or set APPLE_BUNDLE_ID');
    return verifier;
  };
  const theStore = store;

  /** Inbox write + state change + outbox, in one transaction; then the bus, after commit. */
  async function commit(inbox: InboxRecord, input: AppleInput) {
    const outcome = await theStore.transaction(async (tx) => {
      if (!(await tx.insertNotification(inbox))) return { duplicate: true as const };
      const applied = await applyAppleNotification(tx, input, logger);
      await tx.insertEvents(applied.events);
      return { duplicate: false as const, ...applied };
    });
    if (!outcome.duplicate) await bus.publish(outcome.events);
    return outcome;
  }

  async function handleApple(request: HandlerRequest) {
    const body = parseJsonObject(readRawBody(request.rawBody, resolved.maxBodyBytes));
    const signedPayload = stringField(body, 'signedPayload');
    const verified = await requireVerifier().verifyNotification(signedPayload);
    const p = verified.payload;
    const inbox: InboxRecord = {
      provider: 'apple',
      notification_id: p.notificationUUID,
      notification_type: p.notificationType,
      subtype: p.subtype ?? null,
      environment: verified.environment,
      signed_at: new Date(p.signedDate).toISOString(),
      received_at: new Date().toISOString(),
      raw_body: typeof request.rawBody === 'string' ? request.rawBody : Buffer.from(request.rawBody).toString('utf8'),
      payload: p,
    };
    const decoded: Record<string, unknown> = {
      ...p,
      data: p.data ? { ...p.data, transactionInfo: verified.transaction, renewalInfo: verified.renewalInfo } : undefined,
    };
    const outcome = await commit(inbox, {
      notificationId: p.notificationUUID,
      notificationType: p.notificationType,
      subtype: p.subtype ?? null,
      effectiveDate: p.signedDate,
      environment: verified.environment,
      transaction: verified.transaction,
      renewalInfo: verified.renewalInfo,
      decoded: JSON.parse(JSON.stringify(decoded)) as Record<string, unknown>,
    });
    const data = {
      processed: true,
      notificationType: p.notificationType,
      notificationUUID: p.notificationUUID,
      userId: outcome.duplicate ? null : outcome.userId,
      transactionId: verified.transaction?.transactionId ?? null,
      ...(outcome.duplicate ? { duplicate: true } : {}),
    };
    if (outcome.duplicate) {
      const sub = verified.transaction ? await theStore.getSubscription('apple', verified.transaction.originalTransactionId) : null;
      data.userId = sub?.user_id ?? null;
    }
    return {
      response: appleAnswer(200, outcome.duplicate ? 'Notification already processed' : 'Notification processed', data),
      events: outcome.duplicate ? [] : outcome.events,
    };
  }

  async function handleAppleTransaction(request: HandlerRequest) {
    const body = parseJsonObject(readRawBody(request.rawBody, resolved.maxBodyBytes));
    const jws = stringField(body, 'signedTransaction');
    const t = await requireVerifier().verifyTransaction(jws);
    const notificationId = `tx:${t.transactionId}`;
    const inbox: InboxRecord = {
      provider: 'apple',
      notification_id: notificationId,
      notification_type: 'CLIENT_TRANSACTION',
      subtype: null,
      environment: t.environment ?? null,
      signed_at: t.signedDate !== undefined ? new Date(t.signedDate).toISOString() : null,
      received_at: new Date().toISOString(),
      raw_body: typeof request.rawBody === 'string' ? request.rawBody : Buffer.from(request.rawBody).toString('utf8'),
      payload: t,
    };
    // A client may fetch a transaction long after it happened: order it by purchase, not by signing date,
    // so it can never make a later server notification look stale.
    const outcome = await commit(inbox, {
      notificationId,
      notificationType: 'CLIENT_TRANSACTION',
      subtype: null,
      effectiveDate: t.purchaseDate ?? t.signedDate ?? Date.now(),
      environment: t.environment ?? null,
      transaction: t,
      decoded: JSON.parse(JSON.stringify({ transactionInfo: t })) as Record<string, unknown>,
      userId: request.userId ?? undefined,
    });
    const sub = outcome.duplicate ? await theStore.getSubscription('apple', t.originalTransactionId) : outcome.subscription;
    const data = {
      processed: true,
      transactionId: t.transactionId,
      originalTransactionId: t.originalTransactionId,
      productId: t.productId,
      userId: sub?.user_id ?? (outcome.duplicate ? null : outcome.userId),
      status: sub?.status ?? null,
      expiresDate: sub?.current_period_end ?? null,
      ...(outcome.duplicate ? { duplicate: true } : {}),
    };
    return {
      response: appleAnswer(200, outcome.duplicate ? 'Transaction already processed' : 'Transaction processed', data),
      events: outcome.duplicate ? [] : outcome.events,
    };
  }

  async function handle(route: RouteName, request: HandlerRequest): Promise<HandlerResult> {
    try {
      if (route === 'apple') return await handleApple(request);
      if (route === 'appleTransaction') return await handleAppleTransaction(request);
      throw new SubscriptionWebhooksError('CONFIG_INVALID', `Unknown route "${String(route)}"`);
    } catch (err) {
      const e = toError(err);
      const log = e.status >= 500 ? logger.error : logger.warn;
      log.call(logger, { code: e.code, route, err: e.cause ?? e }, `rejected: ${e.message}`);
      // Only our stable codes leave the server; internal details stay in the log.
      const message = e.code === 'INTERNAL' ? 'Internal error' : e.code === 'STORE_UNAVAILABLE' ? 'Storage unavailable, retry later' : e.message;
      return { response: appleAnswer(e.status, message, { processed: false, error: e.code satisfies ErrorCode }), events: [] };
    }
  }

  return {
    routes: resolved.routes,
    maxBodyBytes: resolved.maxBodyBytes,
    store: theStore,
    bus,
    logger,
    handle,
    orders: {
      async create(input) {
        const parsed = createOrderSchema.safeParse(input);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `orders.create: \`${issue.path.join('.') || 'input'}\` ${issue.message}`);
        }
        const i = parsed.data;
        const now = new Date().toISOString();
        const order: Order = {
          id: randomId('ord'),
          no: randomUUID(),
          trade_no: null,
          origin_no: null,
          status: 'pending',
          user_id: i.userId,
          product_id: i.productId,
          provider: i.provider ?? 'apple',
          amount: i.amount ?? null,
          currency: i.currency ?? null,
          paid_at: null,
          metadata: i.metadata ?? {},
          subscription_data: i.subscriptionData?.notificationSettings ? { notification_settings: i.subscriptionData.notificationSettings } : null,
          created: now,
          updated: now,
        };
        await theStore.transaction((tx) => tx.saveOrder(order));
        return order;
      },
      get: (no) => theStore.getOrderByNo(no),
    },
    subscriptions: {
      get: (contractId, provider = 'apple') => theStore.getSubscription(provider, contractId),
      list: (filter) => theStore.listSubscriptions(filter),
    },
    apple: {
      verifyTransaction: (jws) => requireVerifier().verifyTransaction(jws),
      verifyRenewalInfo: (jws) => requireVerifier().verifyRenewalInfo(jws),
    },
  };
}
