import type { ResolvedConfig } from './config.js';
import type { EventBus } from '../events/bus.js';
import type { DomainEvent } from '../events/types.js';
import type { Logger } from './logger.js';
import type { Store } from '../store/types.js';

/** Routes the core handles. */
export type RouteName = 'apple' | 'appleTransaction' | 'xsolla' | 'google' | 'googlePurchase';

/** Request headers: a Fetch `Headers`, or a Node-style record. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** What an adapter hands to `hooks.handle`. */
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

/** The result of `hooks.handle`: the HTTP answer and the events it committed. */
export interface HandlerResult {
  response: HandlerResponse;
  /** Events committed by this request (empty for duplicates and rejections). */
  events: DomainEvent[];
}

/** What every route module and API module gets from `createSubscriptionWebhooks` (internal). */
export interface CoreContext {
  config: ResolvedConfig;
  store: Store;
  bus: EventBus;
  logger: Logger;
  /** Called after a commit that enqueued outbound deliveries (wakes a started delivery worker). */
  onDeliveriesEnqueued?: () => void;
}

/**
 * One route: how it handles a request, and how it words an error in its provider's wire format.
 * `handle` may throw; the dispatcher turns the error into `errorResponse(error)`.
 */
export interface RouteModule {
  handle(request: HandlerRequest): Promise<HandlerResult>;
  errorResponse(error: import('./errors.js').SubscriptionWebhooksError): HandlerResponse;
}

/** Where a {@link SubscriptionWebhooks} object keeps what only adapters use (read through `subscription-webhooks/adapter-kit`). @internal */
export const ADAPTER_SIDE: unique symbol = Symbol.for('subscription-webhooks.adapterSide');

/** What adapters need of an instance: the routes to mount, the body limit, errors in each route's wire format. @internal */
export interface AdapterSide {
  readonly mounts: ReadonlyArray<{ path: string; route: RouteName }>;
  readonly maxBodyBytes: number;
  errorResponse(route: RouteName, error: unknown, options?: { log?: boolean }): HandlerResponse;
}
