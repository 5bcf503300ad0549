export { createSubscriptionWebhooks, readRawBody } from './handler.js';
export type {
  SubscriptionWebhooks,
  RouteName,
  HeadersLike,
  HandlerRequest,
  HandlerResponse,
  HandlerResult,
  CreateOrderInput,
} from './handler.js';
export type { SubscriptionWebhooksConfig, AppleEnvironment, UserNotification } from './config.js';
export { SubscriptionWebhooksError, isSubscriptionWebhooksError, ERROR_CODES, HTTP_STATUS_BY_CODE } from './errors.js';
export type { ErrorCode } from './errors.js';
export { EventBus } from './events/bus.js';
export type { EventHandler } from './events/bus.js';
export { EVENT_TYPES } from './events/types.js';
export type {
  DomainEvent,
  EventType,
  EventObjectMap,
  Subscription,
  SubscriptionStatus,
  Order,
  OrderStatus,
  Provider,
  NotificationSettings,
  ManualNotification,
} from './events/types.js';
export { memoryStore } from './store/memory.js';
export type { Store, StoreTransaction, InboxRecord, SubscriptionFilter } from './store/types.js';
export type { Logger } from './logger.js';
export { createAppleVerifier } from './providers/apple/verifier.js';
export type { AppleVerifier, AppleVerifierOptions, VerifiedAppleNotification } from './providers/apple/verifier.js';
export type {
  ResponseBodyV2DecodedPayload,
  JWSTransactionDecodedPayload,
  JWSRenewalInfoDecodedPayload,
} from './providers/apple/schemas.js';
