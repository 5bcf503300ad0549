export { createSubscriptionWebhooks } from './core/handler.js';
export { hooks, bus, getDefaultHooks } from './core/default-instance.js';
import * as kit from './adapter-kit.js';
// Adapter plumbing lives in `subscription-webhooks/adapter-kit`; these aliases stay for one minor version.
/** The adapter kit's `readRawBody`. @deprecated use `readRawBody` from `subscription-webhooks/adapter-kit` */
export const readRawBody = kit.readRawBody;
/** The adapter kit's `readNodeBody`. @deprecated use `readNodeBody` from `subscription-webhooks/adapter-kit` */
export const readNodeBody = kit.readNodeBody;
/** The adapter kit's `DEFAULT_BODY_TIMEOUT_MS`. @deprecated use `DEFAULT_BODY_TIMEOUT_MS` from `subscription-webhooks/adapter-kit` */
export const DEFAULT_BODY_TIMEOUT_MS = kit.DEFAULT_BODY_TIMEOUT_MS;
/** The adapter kit's `NodeBodyOptions`. @deprecated use `NodeBodyOptions` from `subscription-webhooks/adapter-kit` */
export type NodeBodyOptions = kit.NodeBodyOptions;
/** The adapter kit's `ParsedBody`. @deprecated use `ParsedBody` from `subscription-webhooks/adapter-kit` */
export type ParsedBody = kit.ParsedBody;
export type { SubscriptionWebhooks, RouteName, HeadersLike, HandlerRequest, HandlerResponse, HandlerResult, CreateOrderInput } from './core/handler.js';
export type { SubscriptionWebhooksConfig, AppleEnvironment, UserNotification } from './core/config.js';
export { SubscriptionWebhooksError, isSubscriptionWebhooksError, ERROR_CODES, HTTP_STATUS_BY_CODE } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export { EventBus } from './events/bus.js';
export type { EventHandler, EventBusOptions, SubscribeOptions } from './events/bus.js';
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
  Entitlement,
  EntitlementChange,
  EntitlementReason,
  ConsentRescinded,
} from './events/types.js';
export type { LifecycleHooks, LifecycleSweepOptions, LifecycleSweepResult } from './core/lifecycle.js';
export { memoryStore } from './store/memory.js';
export { isDatabaseUnavailable } from './store/sql-common.js';
export type {
  Store,
  StoreTransaction,
  InboxRecord,
  NotificationReads,
  SubscriptionFilter,
  EntitlementGrantRecord,
  ClaimedSubscription,
  SweepDueQuery,
  PruneOptions,
  PruneCounts,
} from './store/types.js';
export type { PruneReport } from './core/retention.js';
export type { Logger } from './core/logger.js';
export { createAppleVerifier } from './providers/apple/verifier.js';
export type { AppleVerifier, AppleVerifierOptions, VerifiedAppleNotification } from './providers/apple/verifier.js';
export { createXsollaSubscriptionsApi } from './providers/xsolla/api.js';
export type {
  XsollaSubscriptionsApi,
  XsollaSubscriptionsApiOptions,
  ListUserSubscriptionsInput,
  XsollaUserSubscription,
  XsollaUserSubscriptionsPage,
} from './providers/xsolla/api.js';
export { verifyXsollaSignature } from './providers/xsolla/signature.js';
import { xsollaSignature as xsollaSignatureHex } from './providers/xsolla/signature.js';
/** Xsolla's webhook signature of a body (lowercase hex). @deprecated use `signXsollaBody` from `subscription-webhooks/testing` (the whole header value) */
export const xsollaSignature = xsollaSignatureHex;
export type {
  XsollaNotification,
  XsollaUserValidation,
  XsollaSubscriptionNotification,
  XsollaTransactionNotification,
  XsollaOtherNotification,
} from './providers/xsolla/schemas.js';
export type { XsollaWireCode } from './providers/xsolla/route.js';
export type {
  ResponseBodyV2DecodedPayload,
  JWSTransactionDecodedPayload,
  JWSRenewalInfoDecodedPayload,
  JWSAppTransactionDecodedPayload,
} from './providers/apple/schemas.js';
export { createAppStoreServerApi, AppStoreServerApiError, APP_STORE_SERVER_API_URLS } from './providers/apple/api.js';
export type {
  AppStoreServerApi,
  AppStoreServerApiOptions,
  AppStoreServerApiEnvironment,
  NotificationHistoryRequest,
  NotificationHistoryPage,
  NotificationHistoryItem,
  SendAttempt,
  SubscriptionStatuses,
  LastTransaction,
  TransactionHistoryRequest,
  TransactionHistoryPage,
  ConsumptionRequest,
  ConsumptionDeliveryStatus,
  ConsumptionRefundPreference,
  ExtendReasonCode,
  ExtendRenewalDateRequest,
  ExtendRenewalDateResult,
  MassExtendRenewalDateRequest,
  MassExtendRenewalDateStatus,
  OrderLookupResult,
  RefundHistoryPage,
} from './providers/apple/api.js';
export { reconcileAppleNotifications } from './providers/apple/reconcile.js';
export { APPLE_APP_ACCOUNT_TOKEN_TARGET, APPLE_CONSUMPTION_TARGET } from './providers/apple/actions.js';
export { GOOGLE_ACKNOWLEDGE_TARGET } from './providers/google/actions.js';
export type { AppleActionHooks, ConsumptionInput, ConsumptionPolicy, ConsumptionRecord } from './providers/apple/actions.js';
export type {
  AppleApiHooks,
  ReconcileOptions,
  ReconcileResult,
  ReconcileFailure,
  ReconcileSchedule,
  ReconcileScheduleOptions,
  DeliveryAnswer,
} from './providers/apple/reconcile.js';
export type { NotificationSettingsApi, NotificationSetting, CreateNotificationSettingInput, UpdateNotificationSettingInput } from './notifications/settings.js';
export { DEFAULT_NOTIFIED_EVENTS, USER_EVENT_TYPES } from './notifications/event-names.js';
export { renderUserNotification } from './notifications/render.js';
export type { WebhookEndpointsApi, WebhookEndpoint, CreateWebhookEndpointInput, UpdateWebhookEndpointInput } from './delivery/endpoints.js';
export type { DeliveryWorker, DeliveryRunResult, WebhookDelivery } from './delivery/worker.js';
export type { WebhookEndpointDisabled, LibraryEventType } from './events/types.js';
export type {
  NotificationSettingRecord,
  WebhookEndpointRecord,
  DeliveryRecord,
  DeliveryStatus,
  DeliveryFilter,
  DeliveryOutcome,
  ClaimedDelivery,
} from './store/types.js';
export { createAdminDashboard } from './admin/dashboard.js';
export type { AdminDashboardOptions, AdminDashboardHandler, AdminRole, AdminAuthorization, AdminAuditEntry } from './admin/dashboard.js';
export { adminReadModel } from './admin/read-model.js';
export type {
  AdminReadModel,
  Page,
  PageRequest,
  Overview,
  NotificationSummary,
  NotificationDetail,
  SubscriptionDetail,
  SubscriptionSearchResult,
  DeliverySummary,
  BacklogRow,
  DeliveryDetail,
  OutcomeListFilter,
  NotificationStatus,
  NotificationOutcomeRecord,
  DeliveryAttemptRecord,
} from './admin/read-model.js';
