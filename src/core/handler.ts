import { resolveConfig, type ResolvedConfig, type SubscriptionWebhooksConfig } from './config.js';
import { SubscriptionWebhooksError } from './errors.js';
import { EventBus } from '../events/bus.js';
import type { DomainEvent, Entitlement, NotificationSettings, Order, Provider, Subscription } from '../events/types.js';
import { resolveEntitlements } from './entitlements.js';
import { createOrdersApi, type OrdersApi } from './orders.js';
import { trustedRoots } from '../providers/apple/root-certificate.js';
import { defaultLogger, logRejection, type Logger } from './logger.js';
import {
  ADAPTER_SIDE,
  type AdapterSide,
  type CoreContext,
  type HandlerRequest,
  type HandlerResponse,
  type HandlerResult,
  type RouteModule,
  type RouteName,
} from './types.js';
import { logProcessed, outcomeRecorder } from './processed-log.js';
import { runPrune, type PruneReport } from './retention.js';
import { appleNotificationRoute, appleTransactionRoute } from '../providers/apple/route.js';
import { createAppleVerifier, type AppleVerifier } from '../providers/apple/verifier.js';
import { createAppStoreServerApi, unconfiguredAppStoreServerApi } from '../providers/apple/api.js';
import { createAppleApiHooks, type AppleApiHooks } from '../providers/apple/reconcile.js';
import { createAppleActions, type AppleActionHooks } from '../providers/apple/actions.js';
import type { JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload } from '../providers/apple/schemas.js';
import {
  createXsollaSubscriptionsApi,
  type ListUserSubscriptionsInput,
  type XsollaSubscriptionsApi,
  type XsollaUserSubscription,
  type XsollaUserSubscriptionsPage,
} from '../providers/xsolla/api.js';
import { xsollaRoute } from '../providers/xsolla/route.js';
import { createGooglePlay } from '../providers/google/wiring.js';
import { defaultStore } from '../store/default-store.js';
import { createNotificationSettingsApi, type NotificationSettingsApi } from '../notifications/settings.js';
import { createWebhookEndpointsApi, type WebhookEndpointsApi } from '../delivery/endpoints.js';
import { createSecretBox } from '../delivery/secrets.js';
import { createDeliveryWorker, type DeliveryWorker } from '../delivery/worker.js';
import { createLifecycle, createSweepSchedule, type LifecycleHooks } from './lifecycle.js';
import { checkAppleStatus } from '../providers/apple/status.js';
import type { Store, SubscriptionFilter } from '../store/types.js';

export type { RouteName, HeadersLike, HandlerRequest, HandlerResponse, HandlerResult } from './types.js';
export type { CreateOrderInput, OrdersApi } from './orders.js';

/** The object returned by {@link createSubscriptionWebhooks}. */
export interface SubscriptionWebhooks {
  /** Resolved route paths. */
  readonly routes: ResolvedConfig['routes'];
  /**
   * The routes adapters mount (POST only): one entry per configured route, path → route name.
   * @deprecated use `mountsOf(hooks)` from `subscription-webhooks/adapter-kit`; `routes` has the paths
   */
  readonly mounts: ReadonlyArray<{ path: string; route: RouteName }>;
  /**
   * Largest body accepted, in bytes.
   * @deprecated use `maxBodyBytesOf(hooks)` from `subscription-webhooks/adapter-kit`
   */
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
  /**
   * Words an error in the wire format of `route` (Apple's `{ code, message, data }`, Xsolla's `{ error }`).
   * For adapters, whose own failures (body too large or too slow, wrong method) happen before `handle`.
   * With `{ log: true }` the error is logged as `handle` logs its own: 4xx at warn (a flood summarised
   * per code), 5xx at error.
   * @deprecated use `errorResponse(hooks, route, error)` from `subscription-webhooks/adapter-kit`
   */
  errorResponse(route: RouteName, error: unknown, options?: { log?: boolean }): HandlerResponse;
  /** @internal What adapters read through `subscription-webhooks/adapter-kit`. */
  readonly [ADAPTER_SIDE]: AdapterSide;
  /** Orders (seed 003): create one before purchase; its `no` is the `appAccountToken` you pass to StoreKit. */
  orders: OrdersApi;
  /** Notification settings (seed 000): who sends user notifications, the library's `notifier` or your app (`manual.notification`). */
  settings: NotificationSettingsApi;
  /** Outbound webhook endpoints: every committed event they subscribe to is POSTed, signed (Standard Webhooks). */
  webhookEndpoints: WebhookEndpointsApi;
  /** The outbox worker that delivers to webhook endpoints and to `notifier`, with retries; once started it also runs `lifecycle.sweep` every `lifecycle.intervalMs`. */
  delivery: DeliveryWorker;
  /** Storage upkeep (see docs/retention.md). */
  maintenance: {
    /**
     * Prunes what the `retention` config says is past its time, in small batches (each kind at most
     * `retention.batchSize` rows per statement), until nothing is left or `maxBatches` ran; safe while
     * other instances prune or serve. A started delivery worker does this every `retention.intervalMs`.
     * `now` (ms or Date) defaults to the configured clock (`delivery.now`).
     * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` for a `now` that is not a date or a `maxBatches` that is not a positive integer.
     * @example
     * ```ts
     * const report = await hooks.maintenance.prune(); // { rawBodies: 120, notifications: 0, events: 340, deliveries: 340, receipts: 0, batches: 1, complete: true, durationMs: 41 }
     * ```
     */
    prune(options?: { now?: number | Date; maxBatches?: number }): Promise<PruneReport>;
  };
  /** Time-driven events: `customer.subscription.trial_will_end`, and `past_due` for renewals that never arrived. */
  lifecycle: LifecycleHooks;
  subscriptions: {
    /**
     * The subscription with this contract id (Apple's original transaction id, Xsolla's subscription id, Google's
     * purchase token). Without `provider`, every provider is looked up: the one match, or null.
     * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` when, without `provider`, several providers know the id.
     */
    get(contractId: string, provider?: Provider): Promise<Subscription | null>;
    list(filter?: SubscriptionFilter): Promise<Subscription[]>;
  };
  /**
   * What a user may use right now, from the `products` config and the subscriptions' state: one read of
   * the store (indexed by user). Empty when `products` is not configured.
   */
  entitlements: {
    /**
     * One entry per entitlement the user has or had (`active` says whether it counts now, `reason` why).
     * Several subscriptions granting one entitlement: an active one wins, then the latest `expires_at`.
     * @example
     * ```ts
     * const [pro] = await hooks.entitlements.list(userId); // { entitlement: 'pro', active: true, expires_at: '2026-…', reason: 'active', … }
     * ```
     * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` when `userId` is not a non-empty string.
     */
    list(userId: string): Promise<Entitlement[]>;
    /**
     * Whether `userId` may use `entitlement` now.
     * @example
     * ```ts
     * if (!(await hooks.entitlements.has(req.user.id, 'pro'))) return res.status(402).end();
     * ```
     * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` when either argument is not a non-empty string.
     */
    has(userId: string, entitlement: string): Promise<boolean>;
  };
  apple: {
    /** Verify a StoreKit 2 `jwsRepresentation` (same code as the transaction inside a notification). */
    verifyTransaction(jws: string): Promise<JWSTransactionDecodedPayload>;
    verifyRenewalInfo(jws: string): Promise<JWSRenewalInfoDecodedPayload>;
  } & AppleApiHooks &
    AppleActionHooks;
  /** Xsolla's user-subscriptions API for the configured project (`xsolla.apiBaseUrl`). */
  xsolla: {
    /**
     * One page of the user's subscriptions: `GET /api/user/v1/projects/{projectId}/subscriptions`,
     * retried with backoff on 429/5xx/timeouts. Dates are `Date`s, amounts decimal strings.
     *
     * @example
     * ```ts
     * const { items, has_more } = await hooks.xsolla.listUserSubscriptions({ userJwt, limit: 5, locale: 'de' });
     * ```
     * @throws SubscriptionWebhooksError `XSOLLA_UNAUTHORIZED` (401/403), `XSOLLA_UNAVAILABLE` (after the retries),
     * `XSOLLA_RESPONSE_INVALID`, `INVALID_ARGUMENT`, `CONFIG_INVALID` when Xsolla is not configured.
     */
    listUserSubscriptions(input: ListUserSubscriptionsInput): Promise<XsollaUserSubscriptionsPage>;
    /**
     * Every subscription of the user, following `has_more` page after page.
     *
     * @example
     * ```ts
     * for await (const sub of hooks.xsolla.iterateUserSubscriptions({ userJwt })) if (sub.status === 'active') grant(sub.plan_external_id);
     * ```
     * @throws SubscriptionWebhooksError as `listUserSubscriptions`.
     */
    iterateUserSubscriptions(input: ListUserSubscriptionsInput): AsyncGenerator<XsollaUserSubscription, void, undefined>;
  };
}

function toError(err: unknown): SubscriptionWebhooksError {
  if (err instanceof SubscriptionWebhooksError) return err;
  return new SubscriptionWebhooksError('INTERNAL', 'Internal error', { cause: err });
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
export function createSubscriptionWebhooks(
  config?: SubscriptionWebhooksConfig,
  /** @internal Benchmarks swap in another verifier to compare like with like. Not part of the public API. */
  internal?: { appleVerifier?: AppleVerifier },
): SubscriptionWebhooks {
  const resolved = resolveConfig(config);
  const logger = config?.logger ?? defaultLogger();
  // No store: SQLite on SUBSCRIPTION_WEBHOOKS_DATABASE_URL or ./subscription-webhooks.db when better-sqlite3 is installed (memory under NODE_ENV=test).
  const store = config?.store ?? defaultStore(logger);
  const bus = new EventBus(logger, config?.subscribers); // validated by resolveConfig; defaults applied by the bus
  let verifier: AppleVerifier | null = null;
  const apple = resolved.apple;
  if (apple && internal?.appleVerifier) verifier = internal.appleVerifier;
  else if (apple) {
    verifier = createAppleVerifier({
      bundleId: apple.bundleId,
      appAppleId: apple.appAppleId,
      environments: apple.environments,
      // The bundled Apple root is given here, where the verifier is composed (the config only names it).
      rootCertificates: trustedRoots(apple.rootCertificates),
      strictNested: apple.strictNested,
    });
  }
  const requireVerifier = (): AppleVerifier => {
    if (!verifier) throw new SubscriptionWebhooksError('CONFIG_INVALID', 'Apple is not configured: pass `apple: { bundleId }` or set APPLE_BUNDLE_ID');
    return verifier;
  };
  const theStore = store;
  if (resolved.products && typeof theStore.listEntitlementGrants !== 'function') {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      `Invalid subscription-webhooks config: \`products\` needs a store that keeps entitlements (${theStore.name} does not: ` +
        'memoryStore, prismaStore with the SwEntitlementGrant model of the current fragment, and pgStore do)',
    );
  }
  const listEntitlements = async (userId: string): Promise<Entitlement[]> => {
    if (typeof userId !== 'string' || userId.length === 0) throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'userId must be a non-empty string');
    if (!resolved.products || !theStore.listEntitlementGrants) return [];
    return resolveEntitlements(await theStore.listEntitlementGrants(userId), resolved.delivery.now(), resolved.entitlements.pastDueActive);
  };
  const requireXsolla = () => {
    if (!resolved.xsolla) {
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        'Xsolla is not configured: pass `xsolla: { projectId, secretKey }` or set XSOLLA_PROJECT_ID and XSOLLA_WEBHOOK_SECRET',
      );
    }
    return resolved.xsolla;
  };
  let xsollaApi: XsollaSubscriptionsApi | null = null;
  const requireXsollaApi = (): XsollaSubscriptionsApi => {
    const x = requireXsolla();
    xsollaApi ??= createXsollaSubscriptionsApi({ projectId: x.projectId, baseUrl: x.apiBaseUrl });
    return xsollaApi;
  };

  const google = createGooglePlay(resolved, logger);
  // Provider calls after a commit (Apple's appAccountToken and consumption answers, Google's acknowledgements)
  // are delivery targets; appleActions is set below.
  const delivery = createDeliveryWorker(
    theStore,
    resolved,
    logger,
    {
      handles: (id) => appleActions.targets.handles(id) || google.targets.handles(id),
      attempt: (c, signal) => (google.targets.handles(c.delivery.endpoint_id) ? google.targets : appleActions.targets).attempt(c, signal),
    },
    bus,
  );
  const ctx: CoreContext = { config: resolved, store: theStore, bus, logger, onDeliveriesEnqueued: () => delivery.wake() };
  const routeModules: Record<RouteName, RouteModule> = {
    apple: appleNotificationRoute(ctx, requireVerifier),
    appleTransaction: appleTransactionRoute(ctx, requireVerifier),
    xsolla: xsollaRoute(ctx, requireXsolla),
    google: google.route(ctx),
    googlePurchase: google.purchaseRoute(ctx),
  };

  const outcomes = outcomeRecorder(theStore, logger, resolved.delivery.now);
  async function handle(route: RouteName, request: HandlerRequest): Promise<HandlerResult> {
    const module = routeModules[route];
    try {
      if (!module) throw new SubscriptionWebhooksError('CONFIG_INVALID', `Unknown route "${String(route)}"`);
      const started = performance.now();
      const result = await module.handle(request);
      if (result.response.status < 400) logProcessed(logger, route, result, performance.now() - started);
      await outcomes.handled(route, result);
      return result;
    } catch (err) {
      const e = toError(err);
      // 4xx at warn, a flood summarised per code; 5xx at error, every one.
      logRejection(logger, e, { code: e.code, route, err: e.cause ?? e }, `rejected: ${e.message}`);
      const response = (module ?? routeModules.apple).errorResponse(e);
      await outcomes.rejected(route, e.code, response.status, e.message);
      return { response, events: [] };
    }
  }

  function errorResponse(route: RouteName, error: unknown, options: { log?: boolean } = {}): HandlerResponse {
    const e = toError(error);
    if (options.log) logRejection(logger, e, { code: e.code, route, err: e.cause ?? e }, `rejected: ${e.message}`);
    return (routeModules[route] ?? routeModules.apple).errorResponse(e);
  }

  const appleApi =
    apple?.api && verifier
      ? createAppStoreServerApi({ ...apple.api, bundleId: apple.bundleId, appAppleId: apple.appAppleId, verifier })
      : unconfiguredAppStoreServerApi();
  if (apple?.consumption && !apple.api) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'apple.consumption needs the App Store Server API: pass apple.api or set APPLE_KEY_ID, APPLE_ISSUER_ID and APPLE_PRIVATE_KEY_PATH',
    );
  }
  // The worker's client: one HTTP attempt per delivery attempt, ended before the worker's own timeout (the worker retries).
  const appleWorkerApi =
    apple?.api && verifier
      ? createAppStoreServerApi({
          ...apple.api,
          bundleId: apple.bundleId,
          appAppleId: apple.appAppleId,
          verifier,
          maxRetries: 0,
          timeoutMs: Math.max(100, Math.floor(resolved.delivery.timeoutMs * 0.9)),
        })
      : appleApi;
  const appleActions = createAppleActions({ store: theStore, config: resolved, logger, api: appleApi, workerApi: appleWorkerApi });
  // The lifecycle sweep asks Apple about overdue Apple subscriptions when the App Store Server API is configured
  // (one attempt per sweep, like the worker's calls: a failure is retried by a later sweep).
  const lifecycle = createLifecycle(ctx, {
    ...(apple?.api && verifier ? { apple: (sub: Subscription) => checkAppleStatus(ctx, appleWorkerApi, sub) } : {}),
    ...google.statusCheck(ctx),
  });
  const { intervalMs } = resolved.lifecycle;
  const sweepSchedule = intervalMs !== null && lifecycle.supported ? createSweepSchedule(() => lifecycle.sweep(), intervalMs, logger) : null;
  const appleApiHooks = createAppleApiHooks(
    appleApi,
    async (rawBody) => (await handle('apple', { headers: { 'content-type': 'application/json' }, rawBody })).response,
    logger,
  );

  const mounts: { path: string; route: RouteName }[] = [];
  if (apple) mounts.push({ path: resolved.routes.apple, route: 'apple' }, { path: resolved.routes.appleTransaction, route: 'appleTransaction' });
  if (resolved.xsolla) mounts.push({ path: resolved.routes.xsolla, route: 'xsolla' });
  if (resolved.google) mounts.push({ path: resolved.routes.google, route: 'google' });
  if (resolved.google?.api) mounts.push({ path: resolved.routes.googlePurchase, route: 'googlePurchase' });

  return {
    routes: resolved.routes,
    mounts,
    maxBodyBytes: resolved.maxBodyBytes,
    [ADAPTER_SIDE]: { mounts, maxBodyBytes: resolved.maxBodyBytes, errorResponse },
    store: theStore,
    bus,
    logger,
    handle,
    errorResponse,
    orders: createOrdersApi(theStore),
    settings: createNotificationSettingsApi(theStore),
    webhookEndpoints: createWebhookEndpointsApi(theStore, {
      allowPrivateUrls: resolved.allowPrivateUrls,
      now: resolved.delivery.now,
      resolve: resolved.dnsLookup,
      secrets: createSecretBox(resolved.secretKeys),
    }),
    delivery: {
      get running() {
        return delivery.running;
      },
      start() {
        delivery.start();
        sweepSchedule?.start();
      },
      async stop() {
        await sweepSchedule?.stop();
        await delivery.stop();
        await bus.drain(); // subscriber runs in flight (after_response), at most subscribers.timeoutMs
      },
      runOnce: delivery.runOnce,
      replay: delivery.replay,
      get: delivery.get,
      list: delivery.list,
    },
    maintenance: {
      async prune(options = {}) {
        const at = options.now === undefined ? resolved.delivery.now() : Number(options.now);
        if (!Number.isFinite(at)) throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'maintenance.prune: `now` must be a Date or ms since epoch');
        if (options.maxBatches !== undefined && !(Number.isInteger(options.maxBatches) && options.maxBatches > 0)) {
          throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'maintenance.prune: `maxBatches` must be a positive integer');
        }
        return runPrune(theStore, resolved.retention, at, logger, { maxBatches: options.maxBatches });
      },
    },
    lifecycle: { sweep: lifecycle.sweep },
    subscriptions: {
      async get(contractId, provider) {
        if (provider !== undefined) return theStore.getSubscription(provider, contractId);
        const providers = ['apple', 'xsolla', 'google'] as const;
        const found = (await Promise.all(providers.map((p) => theStore.getSubscription(p, contractId)))).filter((s) => s !== null);
        if (found.length > 1) {
          throw new SubscriptionWebhooksError(
            'INVALID_ARGUMENT',
            `subscriptions.get: ${found.map((s) => s.provider).join(' and ')} both have a subscription "${contractId}"; pass the provider`,
          );
        }
        return found[0] ?? null;
      },
      list: (filter) => theStore.listSubscriptions(filter),
    },
    entitlements: {
      list: listEntitlements,
      async has(userId, entitlement) {
        if (typeof entitlement !== 'string' || entitlement.length === 0)
          throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'entitlement must be a non-empty string');
        return (await listEntitlements(userId)).some((e) => e.entitlement === entitlement && e.active);
      },
    },
    apple: {
      verifyTransaction: (jws) => requireVerifier().verifyTransaction(jws),
      verifyRenewalInfo: (jws) => requireVerifier().verifyRenewalInfo(jws),
      ...appleApiHooks,
      ...appleActions.hooks,
    },
    xsolla: {
      listUserSubscriptions: async (input) => requireXsollaApi().listUserSubscriptions(input),
      async *iterateUserSubscriptions(input) {
        yield* requireXsollaApi().iterateUserSubscriptions(input);
      },
    },
  };
}
