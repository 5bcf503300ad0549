import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { SubscriptionWebhooksError, type ErrorCode } from '../../core/errors.js';
import type { JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload } from './schemas.js';
import { createAppleVerifier, type AppleVerifier, type VerifiedAppleNotification } from './verifier.js';
import { exponentialBackoff, parseRetryAfter, withRetries, type RetryPolicy } from '../../core/retry.js';

/** Environments the App Store Server API serves. */
export type AppStoreServerApiEnvironment = 'Production' | 'Sandbox';

/** Base URLs of the App Store Server API, as in Apple's documentation and its own library (3.x). */
export const APP_STORE_SERVER_API_URLS: Readonly<Record<AppStoreServerApiEnvironment, string>> = {
  Production: 'https://api.storekit.apple.com',
  Sandbox: 'https://api.storekit-sandbox.apple.com',
};

/** Options of {@link createAppStoreServerApi}. */
export interface AppStoreServerApiOptions {
  /** The private key's ID from App Store Connect (Users and Access → Integrations → In-App Purchase). Env `APPLE_KEY_ID`. */
  keyId: string;
  /** Your issuer ID from the same page. Env `APPLE_ISSUER_ID`. */
  issuerId: string;
  /** The `.p8` file's contents (PKCS#8 PEM), or a Node `KeyObject`. Env `APPLE_PRIVATE_KEY_PATH` names the file. */
  privateKey: string | KeyObject;
  /** Your app's bundle id: the token's `bid` claim, and checked in every signed response. */
  bundleId: string;
  /** Which App Store environment to talk to. */
  environment: AppStoreServerApiEnvironment;
  /** Overrides the base URL (a proxy, or a local stand-in in tests). @default {@link APP_STORE_SERVER_API_URLS}[environment] */
  baseUrl?: string;
  /** Your app's Apple ID, checked on Production notifications. */
  appAppleId?: number;
  /**
   * Verifies every signed field of the responses. @default a verifier for `bundleId`, `environment`
   * and `rootCertificates` (the bundled Apple Root CA - G3)
   */
  verifier?: AppleVerifier;
  /** Trusted roots for the default verifier. @default the bundled Apple Root CA - G3 */
  rootCertificates?: Uint8Array[];
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** How retries wait; inject a fake in tests. @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** Retries after a 429, a 5xx or a network failure (not counting the first attempt). @default 3 */
  maxRetries?: number;
  /** The longest single wait before a retry; a `retry-after` further away fails with `APPLE_API_RATE_LIMITED` at once. @default 60000 */
  maxRetryDelayMs?: number;
  /** Per-request timeout in ms. @default 30000 */
  timeoutMs?: number;
  /** Bearer token lifetime in seconds; Apple rejects more than 3600. @default 1800 */
  tokenLifetimeSeconds?: number;
  /** Clock in ms since epoch (token `iat`/`exp`, `retry-after` dates). @default Date.now */
  now?: () => number;
}

/** One delivery attempt Apple made for a notification. */
export interface SendAttempt {
  attemptDate: number;
  /** `SUCCESS`, `TIMED_OUT`, `TLS_ISSUE`, `CIRCULAR_REDIRECT`, `NO_RESPONSE`, `SOCKET_ISSUE`, `UNSUPPORTED_CHARSET`, `INVALID_RESPONSE`, `PREMATURE_CLOSE`, `UNSUCCESSFUL_HTTP_RESPONSE_CODE`, `OTHER`, or a newer value. */
  sendAttemptResult: string;
}

/** A verified notification from the history or the test-notification status. */
export interface NotificationHistoryItem {
  /** The notification exactly as Apple sent it: feed it to your route as `{ signedPayload }`. */
  signedPayload: string;
  /** The verified, decoded notification. */
  notification: VerifiedAppleNotification;
  sendAttempts: SendAttempt[];
}

/** Filters of {@link AppStoreServerApi.getNotificationHistory}. Apple keeps about 180 days of history. */
export interface NotificationHistoryRequest {
  /** Start of the window (inclusive): a Date or ms since epoch. */
  startDate: Date | number;
  /** End of the window (exclusive). @default now */
  endDate?: Date | number;
  /** Only this type (Apple allows this or `transactionId`, not both). */
  notificationType?: string;
  notificationSubtype?: string;
  /** Only notifications about this transaction's customer. */
  transactionId?: string;
  /** Only notifications Apple never delivered successfully. @default false */
  onlyFailures?: boolean;
}

/** One page of notification history. */
export interface NotificationHistoryPage {
  items: NotificationHistoryItem[];
  hasMore: boolean;
  /** Pass it back (with the same request) for the next page. */
  paginationToken: string | null;
}

/** The last transaction of one subscription in {@link SubscriptionStatuses}. */
export interface LastTransaction {
  /** 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked. */
  status: number;
  originalTransactionId: string;
  signedTransactionInfo: string;
  signedRenewalInfo: string;
  transaction: JWSTransactionDecodedPayload;
  renewalInfo: JWSRenewalInfoDecodedPayload;
}

/** Result of {@link AppStoreServerApi.getAllSubscriptionStatuses}. */
export interface SubscriptionStatuses {
  environment: string | null;
  bundleId: string | null;
  appAppleId: number | null;
  data: Array<{ subscriptionGroupIdentifier: string; lastTransactions: LastTransaction[] }>;
}

/** Query of {@link AppStoreServerApi.getTransactionHistory} (Get Transaction History, v2). */
export interface TransactionHistoryRequest {
  /** The `revision` of the previous page. */
  revision?: string;
  startDate?: Date | number;
  endDate?: Date | number;
  productId?: string[];
  /** `AUTO_RENEWABLE`, `NON_RENEWABLE`, `CONSUMABLE`, `NON_CONSUMABLE`. */
  productType?: string[];
  /** @default "ASCENDING" */
  sort?: 'ASCENDING' | 'DESCENDING';
  subscriptionGroupIdentifier?: string[];
  inAppOwnershipType?: 'FAMILY_SHARED' | 'PURCHASED';
  revoked?: boolean;
}

/** One page of transaction history. */
export interface TransactionHistoryPage {
  revision: string | null;
  hasMore: boolean;
  environment: string | null;
  bundleId: string | null;
  appAppleId: number | null;
  signedTransactions: string[];
  /** `signedTransactions`, verified and decoded, in the same order. */
  transactions: JWSTransactionDecodedPayload[];
}

/** Apple's `deliveryStatus` (Send Consumption Information): did the purchase reach the customer and work? */
export type ConsumptionDeliveryStatus =
  'DELIVERED' | 'UNDELIVERED_QUALITY_ISSUE' | 'UNDELIVERED_WRONG_ITEM' | 'UNDELIVERED_SERVER_OUTAGE' | 'UNDELIVERED_OTHER';

/** Apple's `refundPreference`: what you would like the App Store to decide. */
export type ConsumptionRefundPreference = 'DECLINE' | 'GRANT_FULL' | 'GRANT_PRORATED';

/**
 * The body of Send Consumption Information (Apple's `ConsumptionRequest`, the current, string-valued
 * schema of `PUT /inApps/v2/transactions/consumption/{transactionId}`). Apple uses it, with its own data,
 * to decide the customer's refund request; send it only when the customer consented.
 */
export interface ConsumptionRequest {
  /** Required, and must be `true`: Apple rejects anything else (send nothing when the customer did not consent). */
  customerConsented: boolean;
  /** Required: whether the purchase was delivered and works. */
  deliveryStatus: ConsumptionDeliveryStatus;
  /** Required: whether you offered a free sample, trial or description of the content before the purchase. */
  sampleContentProvided: boolean;
  /**
   * How much of the purchase the customer used, in thousandths of a percent (0 to 100000; 50000 = 50 %).
   * Must be 0 (or absent) when `deliveryStatus` is not `DELIVERED`; leave it out for a prorated subscription refund.
   */
  consumptionPercentage?: number;
  /** Your preference; optional. `GRANT_PRORATED` is for subscriptions (Apple computes the share). */
  refundPreference?: ConsumptionRefundPreference;
}

/** Apple's `extendReasonCode`: 0 undeclared, 1 customer satisfaction, 2 other, 3 service issue or outage. */
export type ExtendReasonCode = 0 | 1 | 2 | 3;

/** Body of {@link AppStoreServerApi.extendSubscriptionRenewalDate}. */
export interface ExtendRenewalDateRequest {
  /** Days to add, 1 to 90 (Apple allows two extensions per subscription per year, 180 days in all). */
  extendByDays: number;
  extendReasonCode: ExtendReasonCode;
  /** Your id for this extension (at most 128 characters); a retry with the same id is not applied twice. @default a random UUID */
  requestIdentifier?: string;
}

/** Result of {@link AppStoreServerApi.extendSubscriptionRenewalDate}. */
export interface ExtendRenewalDateResult {
  /** The id sent (yours, or the generated one). */
  requestIdentifier: string;
  /** True when Apple extended the subscription. */
  success: boolean;
  /** The new expiration date, ms since epoch (null when Apple did not say). */
  effectiveDate: number | null;
  originalTransactionId: string | null;
  webOrderLineItemId: string | null;
}

/** Body of {@link AppStoreServerApi.extendRenewalDateForAllActiveSubscribers}. */
export interface MassExtendRenewalDateRequest extends ExtendRenewalDateRequest {
  /** The auto-renewable subscription product whose active subscribers get the extension. */
  productId: string;
  /** Only these storefronts (ISO 3166-1 alpha-3, e.g. `USA`); absent: every storefront. */
  storefrontCountryCodes?: string[];
}

/** Result of {@link AppStoreServerApi.getRenewalDateExtensionStatus}. */
export interface MassExtendRenewalDateStatus {
  requestIdentifier: string;
  /** True once Apple processed every subscriber; the counts and `completeDate` are set only then. */
  complete: boolean;
  /** ms since epoch */
  completeDate: number | null;
  succeededCount: number | null;
  failedCount: number | null;
}

/** Result of {@link AppStoreServerApi.lookUpOrderId}. */
export interface OrderLookupResult {
  /** Apple's `OrderLookupStatus`: 0 the order id is valid, 1 it is invalid or holds no purchase of this app. */
  status: number;
  /** True when `status` is 0. */
  valid: boolean;
  signedTransactions: string[];
  /** `signedTransactions`, verified and decoded, in the same order. */
  transactions: JWSTransactionDecodedPayload[];
}

/** One page of {@link AppStoreServerApi.getRefundHistory} (Get Refund History, v2). */
export interface RefundHistoryPage {
  /** Pass it back for the next page; keep the last one to fetch only newer refunds later. */
  revision: string | null;
  hasMore: boolean;
  signedTransactions: string[];
  /** `signedTransactions`, verified and decoded (ascending `revocationDate`). */
  transactions: JWSTransactionDecodedPayload[];
}

/**
 * The App Store Server API client returned by {@link createAppStoreServerApi} (and `hooks.apple.api`).
 * Every method rejects with {@link AppStoreServerApiError} for HTTP failures, or with the verifier's codes
 * (`SIGNATURE_INVALID`, `CERT_CHAIN_INVALID`, …) when a signed field does not verify.
 */
export interface AppStoreServerApi {
  readonly environment: AppStoreServerApiEnvironment;
  readonly baseUrl: string;
  /** `POST /inApps/v1/notifications/test`: asks Apple to send a TEST notification to your configured URL. */
  requestTestNotification(): Promise<{ testNotificationToken: string }>;
  /** `GET /inApps/v1/notifications/test/{testNotificationToken}`: what Apple sent and how your server answered. */
  getTestNotificationStatus(testNotificationToken: string): Promise<NotificationHistoryItem>;
  /** `POST /inApps/v1/notifications/history`: one page (up to 20) of notifications Apple sent or tried to send. */
  getNotificationHistory(request: NotificationHistoryRequest, paginationToken?: string | null): Promise<NotificationHistoryPage>;
  /** `GET /inApps/v1/subscriptions/{transactionId}`: the status of every subscription of the customer. */
  getAllSubscriptionStatuses(transactionId: string, options?: { status?: number[] }): Promise<SubscriptionStatuses>;
  /** `GET /inApps/v1/transactions/{transactionId}`: one transaction. */
  getTransactionInfo(transactionId: string): Promise<{ signedTransactionInfo: string; transaction: JWSTransactionDecodedPayload }>;
  /** `GET /inApps/v2/history/{transactionId}`: one page (up to 20) of the customer's transactions. */
  getTransactionHistory(transactionId: string, request?: TransactionHistoryRequest): Promise<TransactionHistoryPage>;
  /**
   * `PUT /inApps/v2/transactions/consumption/{transactionId}`: answers a `CONSUMPTION_REQUEST` (within
   * 12 hours of it). Checked before sending: `customerConsented` true, the enums, `consumptionPercentage`
   * 0 to 100000 and 0 unless `DELIVERED`.
   * @example await api.sendConsumptionInformation(transactionId, { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true, consumptionPercentage: 25000 });
   * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` for a body Apple would refuse
   */
  sendConsumptionInformation(transactionId: string, request: ConsumptionRequest): Promise<void>;
  /**
   * `PUT /inApps/v1/transactions/{originalTransactionId}/appAccountToken`: sets (or replaces) the UUID that
   * Apple then carries as `appAccountToken` in the subscription's later transactions and notifications.
   * @example await api.setAppAccountToken('2000000123456789', order.no);
   * @throws {SubscriptionWebhooksError} `INVALID_ARGUMENT` when the token is not a UUID
   */
  setAppAccountToken(originalTransactionId: string, appAccountToken: string): Promise<void>;
  /**
   * `PUT /inApps/v1/subscriptions/extend/{originalTransactionId}`: moves one active subscription's renewal date.
   * Apple answers 403 (`APPLE_API_ERROR`, `apiErrorCode` 4030004 ineligible, 4030005 too many extensions) when it cannot.
   * @example await api.extendSubscriptionRenewalDate('2000000123456789', { extendByDays: 7, extendReasonCode: 3 });
   */
  extendSubscriptionRenewalDate(originalTransactionId: string, request: ExtendRenewalDateRequest): Promise<ExtendRenewalDateResult>;
  /**
   * `POST /inApps/v1/subscriptions/extend/mass`: extends every eligible active subscriber of a product;
   * Apple works through them over hours (RENEWAL_EXTENSION / RENEWAL_EXTENDED notifications). Check with
   * {@link AppStoreServerApi.getRenewalDateExtensionStatus}.
   * @example const { requestIdentifier } = await api.extendRenewalDateForAllActiveSubscribers({ productId: 'pro.monthly', extendByDays: 3, extendReasonCode: 3 });
   */
  extendRenewalDateForAllActiveSubscribers(request: MassExtendRenewalDateRequest): Promise<{ requestIdentifier: string }>;
  /**
   * `GET /inApps/v1/subscriptions/extend/mass/{productId}/{requestIdentifier}`: progress of a mass extension.
   * @example const { complete, succeededCount, failedCount } = await api.getRenewalDateExtensionStatus('pro.monthly', requestIdentifier);
   */
  getRenewalDateExtensionStatus(productId: string, requestIdentifier: string): Promise<MassExtendRenewalDateStatus>;
  /**
   * `GET /inApps/v1/lookup/{orderId}`: the purchases of the order id on the customer's App Store receipt
   * (e.g. `MK5TTTVWJH`), verified. An unknown order id is `{ valid: false }`, not an error.
   * @example const { valid, transactions } = await api.lookUpOrderId('MK5TTTVWJH');
   */
  lookUpOrderId(orderId: string): Promise<OrderLookupResult>;
  /**
   * `GET /inApps/v2/refund/lookup/{transactionId}`: one page (up to 20) of the customer's refunded purchases,
   * from any of their transaction ids, verified.
   * @example let page = await api.getRefundHistory(id); while (page.hasMore) page = await api.getRefundHistory(id, page.revision);
   */
  getRefundHistory(transactionId: string, revision?: string | null): Promise<RefundHistoryPage>;
}

/**
 * An App Store Server API failure. `code` is one of `APPLE_API_UNAUTHORIZED` (401: key id, issuer id,
 * private key or bundle id wrong), `APPLE_API_NOT_FOUND` (404), `APPLE_API_RATE_LIMITED` (429 after the
 * retries, or a `retry-after` beyond `maxRetryDelayMs`), `APPLE_API_UNAVAILABLE` (5xx or network failure
 * after the retries) or `APPLE_API_ERROR` (any other status, or a body that does not match Apple's schema).
 *
 * @example
 * try { await api.getTransactionInfo(id) }
 * catch (e) { if (e instanceof AppStoreServerApiError && e.apiErrorCode === 4040010) { ...transaction not found } }
 */
export class AppStoreServerApiError extends SubscriptionWebhooksError {
  /** Apple's HTTP status; `null` when no answer came (network failure, timeout). */
  readonly httpStatus: number | null;
  /** Apple's numeric `errorCode` (e.g. 4290000 rate limit exceeded), when the body had one. */
  readonly apiErrorCode: number | null;
  /** Apple's `errorMessage`, when the body had one. */
  readonly apiErrorMessage: string | null;
  /** How long Apple asked us to wait (from `retry-after`), in ms. */
  readonly retryAfterMs: number | null;
  /** `METHOD /path` of the failed call. */
  readonly endpoint: string;

  constructor(
    code: ErrorCode,
    message: string,
    details: { httpStatus: number | null; apiErrorCode?: number | null; apiErrorMessage?: string | null; retryAfterMs?: number | null; endpoint: string },
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.httpStatus = details.httpStatus;
    this.apiErrorCode = details.apiErrorCode ?? null;
    this.apiErrorMessage = details.apiErrorMessage ?? null;
    this.retryAfterMs = details.retryAfterMs ?? null;
    this.endpoint = details.endpoint;
  }
}

const sendAttemptSchema = z.looseObject({ attemptDate: z.number(), sendAttemptResult: z.string() });
const signedItemSchema = z.looseObject({ signedPayload: z.string().min(1), sendAttempts: z.array(sendAttemptSchema).optional() });
const schemas = {
  sendTest: z.looseObject({ testNotificationToken: z.string().min(1) }),
  checkTest: signedItemSchema,
  history: z.looseObject({
    paginationToken: z.string().optional(),
    hasMore: z.boolean().optional(),
    notificationHistory: z.array(signedItemSchema).optional(),
  }),
  statuses: z.looseObject({
    environment: z.string().optional(),
    bundleId: z.string().optional(),
    appAppleId: z.number().optional(),
    data: z
      .array(
        z.looseObject({
          subscriptionGroupIdentifier: z.string(),
          lastTransactions: z.array(
            z.looseObject({ status: z.number(), originalTransactionId: z.string(), signedTransactionInfo: z.string(), signedRenewalInfo: z.string() }),
          ),
        }),
      )
      .optional(),
  }),
  transactionInfo: z.looseObject({ signedTransactionInfo: z.string().min(1) }),
  transactionHistory: z.looseObject({
    revision: z.string().optional(),
    hasMore: z.boolean().optional(),
    bundleId: z.string().optional(),
    appAppleId: z.number().optional(),
    environment: z.string().optional(),
    signedTransactions: z.array(z.string()).optional(),
  }),
  error: z.looseObject({ errorCode: z.number().optional(), errorMessage: z.string().optional() }),
  /** 200/202 with no body (or one we do not need). */
  empty: z.unknown(),
  extend: z.looseObject({
    originalTransactionId: z.string().optional(),
    webOrderLineItemId: z.string().optional(),
    success: z.boolean(),
    effectiveDate: z.number().optional(),
  }),
  massExtend: z.looseObject({ requestIdentifier: z.string().min(1) }),
  massExtendStatus: z.looseObject({
    requestIdentifier: z.string().min(1),
    complete: z.boolean(),
    completeDate: z.number().optional(),
    succeededCount: z.number().optional(),
    failedCount: z.number().optional(),
  }),
  orderLookup: z.looseObject({ status: z.number().int(), signedTransactions: z.array(z.string()).optional() }),
  refundHistory: z.looseObject({ revision: z.string().optional(), hasMore: z.boolean().optional(), signedTransactions: z.array(z.string()).optional() }),
};

const DELIVERY_STATUSES: readonly ConsumptionDeliveryStatus[] = [
  'DELIVERED',
  'UNDELIVERED_QUALITY_ISSUE',
  'UNDELIVERED_WRONG_ITEM',
  'UNDELIVERED_SERVER_OUTAGE',
  'UNDELIVERED_OTHER',
];
const REFUND_PREFERENCES: readonly ConsumptionRefundPreference[] = ['DECLINE', 'GRANT_FULL', 'GRANT_PRORATED'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function invalid(message: string): never {
  throw new SubscriptionWebhooksError('INVALID_ARGUMENT', message);
}

/**
 * The consumption body exactly as Apple's schema allows it (unknown keys dropped), or `INVALID_ARGUMENT`.
 * @internal exported for the automatic answer to CONSUMPTION_REQUEST
 */
export function consumptionBody(request: ConsumptionRequest): Record<string, unknown> {
  if (typeof request !== 'object' || request === null) invalid('consumption request must be an object');
  if (request.customerConsented !== true)
    invalid('customerConsented must be true: Apple refuses consumption data the customer did not consent to (send nothing instead)');
  if (!DELIVERY_STATUSES.includes(request.deliveryStatus)) invalid(`deliveryStatus must be one of ${DELIVERY_STATUSES.join(', ')}`);
  if (typeof request.sampleContentProvided !== 'boolean') invalid('sampleContentProvided must be a boolean');
  const body: Record<string, unknown> = {
    customerConsented: true,
    deliveryStatus: request.deliveryStatus,
    sampleContentProvided: request.sampleContentProvided,
  };
  if (request.consumptionPercentage !== undefined) {
    const p = request.consumptionPercentage;
    if (!Number.isInteger(p) || p < 0 || p > 100_000) invalid('consumptionPercentage must be an integer from 0 to 100000 (thousandths of a percent)');
    if (request.deliveryStatus !== 'DELIVERED' && p !== 0) invalid('consumptionPercentage must be 0 when deliveryStatus is not DELIVERED');
    body.consumptionPercentage = p;
  }
  if (request.refundPreference !== undefined) {
    if (!REFUND_PREFERENCES.includes(request.refundPreference)) invalid(`refundPreference must be one of ${REFUND_PREFERENCES.join(', ')}`);
    body.refundPreference = request.refundPreference;
  }
  return body;
}

function extendFields(request: ExtendRenewalDateRequest): { extendByDays: number; extendReasonCode: number; requestIdentifier: string } {
  if (typeof request !== 'object' || request === null) invalid('extension request must be an object');
  const { extendByDays, extendReasonCode } = request;
  if (!Number.isInteger(extendByDays) || extendByDays < 1 || extendByDays > 90) invalid('extendByDays must be an integer from 1 to 90');
  if (![0, 1, 2, 3].includes(extendReasonCode))
    invalid('extendReasonCode must be 0 (undeclared), 1 (customer satisfaction), 2 (other) or 3 (service issue or outage)');
  const requestIdentifier = request.requestIdentifier ?? randomUUID();
  if (typeof requestIdentifier !== 'string' || requestIdentifier === '' || requestIdentifier.length > 128)
    invalid('requestIdentifier must be a non-empty string of at most 128 characters');
  return { extendByDays, extendReasonCode, requestIdentifier };
}

/** Unverified history page: reconcile verifies each payload on the handler path instead, so one bad item fails alone. */
export interface RawNotificationHistoryPage {
  items: Array<{ signedPayload: string; sendAttempts: SendAttempt[] }>;
  hasMore: boolean;
  paginationToken: string | null;
}

const rawHistory = new WeakMap<AppStoreServerApi, (request: NotificationHistoryRequest, token: string | null) => Promise<RawNotificationHistoryPage>>();

/** @internal The unverified page fetcher of an API created here; `undefined` for a user-supplied implementation. */
export function rawNotificationHistory(api: AppStoreServerApi) {
  return rawHistory.get(api);
}

const ms = (d: Date | number) => (d instanceof Date ? d.getTime() : d);

function fail(code: ErrorCode, message: string): never {
  throw new SubscriptionWebhooksError(code, message);
}

function loadKey(privateKey: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (cause) {
    throw new SubscriptionWebhooksError('CONFIG_INVALID', 'apple.api.privateKey is not a PEM private key (the contents of your AuthKey_XXXXXXXXXX.p8)', {
      cause,
    });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    fail('CONFIG_INVALID', 'apple.api.privateKey must be a P-256 (ES256) private key, as App Store Connect issues');
  }
  return key;
}

/**
 * Creates an App Store Server API client: ES256 bearer tokens (`kid`, `iss`, `iat`, `exp`,
 * `aud: "appstoreconnect-v1"`, `bid`) reused until a minute before they expire, responses checked
 * against zod schemas, every signed field verified, Apple's `{ errorCode, errorMessage }` surfaced as
 * {@link AppStoreServerApiError}. A 429 waits for `retry-after`; a 5xx or a network failure is retried
 * with exponential backoff (500 ms doubling, jittered), at most `maxRetries` times.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * const api = createAppStoreServerApi({
 *   keyId: process.env.APPLE_KEY_ID!, issuerId: process.env.APPLE_ISSUER_ID!,
 *   privateKey: readFileSync(process.env.APPLE_PRIVATE_KEY_PATH!, 'utf8'),
 *   bundleId: 'com.example.app', environment: 'Sandbox',
 * });
 * const { transaction } = await api.getTransactionInfo('2000000123456789');
 *
 * @throws {SubscriptionWebhooksError} `CONFIG_INVALID` for a missing id, a key that is not a P-256 private key,
 * an unknown environment or a token lifetime over 3600 s.
 */
export function createAppStoreServerApi(options: AppStoreServerApiOptions): AppStoreServerApi {
  for (const name of ['keyId', 'issuerId', 'bundleId'] as const) {
    if (typeof options?.[name] !== 'string' || options[name] === '') fail('CONFIG_INVALID', `apple.api: ${name} is required`);
  }
  const { keyId, issuerId, bundleId, environment } = options;
  if (environment !== 'Production' && environment !== 'Sandbox') fail('CONFIG_INVALID', 'apple.api: environment must be "Production" or "Sandbox"');
  const key = loadKey(options.privateKey);
  const baseUrl = (options.baseUrl ?? APP_STORE_SERVER_API_URLS[environment]).replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const maxRetries = Math.max(0, Math.floor(options.maxRetries ?? 3));
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const lifetime = options.tokenLifetimeSeconds ?? 1800;
  if (!(lifetime > 60 && lifetime <= 3600)) fail('CONFIG_INVALID', 'apple.api: tokenLifetimeSeconds must be between 61 and 3600');
  const verifier =
    options.verifier ??
    createAppleVerifier({ bundleId, appAppleId: options.appAppleId, environments: [environment], rootCertificates: options.rootCertificates });

  let cached: { token: string; exp: number } | null = null;
  let signing: Promise<string> | null = null;
  async function bearer(): Promise<string> {
    const nowSec = Math.floor(now() / 1000);
    if (cached && cached.exp - 60 > nowSec) return cached.token;
    // One token for concurrent callers instead of a burst of signatures.
    signing ??= new SignJWT({ bid: bundleId })
      .setProtectedHeader({ alg: 'ES256', kid: keyId, typ: 'JWT' })
      .setIssuer(issuerId)
      .setIssuedAt(nowSec)
      .setExpirationTime(nowSec + lifetime)
      .setAudience('appstoreconnect-v1')
      .sign(key)
      .then((token) => {
        cached = { token, exp: nowSec + lifetime };
        return token;
      })
      .finally(() => {
        signing = null;
      });
    return signing;
  }

  const backoff = exponentialBackoff(500, maxRetryDelayMs, true);
  const retryPolicy: RetryPolicy = { maxRetries, maxDelayMs: maxRetryDelayMs, backoff, retryAfter: 'exact', timeoutMs, sleep: options.sleep };

  async function call<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    schema: z.ZodType<T>,
    init: { query?: Array<[string, string]>; body?: unknown } = {},
  ): Promise<T> {
    const endpoint = `${method} ${path}`;
    const query = new URLSearchParams(init.query ?? []).toString();
    const url = `${baseUrl}${path}${query ? `?${query}` : ''}`;
    let refreshed = false;
    return withRetries<T>(async ({ signal }) => {
      const headers: Record<string, string> = { authorization: `Bearer ${await bearer()}`, accept: 'application/json' };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await doFetch(url, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), signal });
      } catch (cause) {
        const error = () =>
          new AppStoreServerApiError('APPLE_API_UNAVAILABLE', `App Store Server API unreachable (${endpoint})`, { httpStatus: null, endpoint }, { cause });
        return { ok: false, status: null, error };
      }
      const text = await res.text().catch(() => '');
      let json: unknown = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (res.ok) {
        const parsed = schema.safeParse(json);
        if (parsed.success) return { ok: true, value: parsed.data };
        throw new AppStoreServerApiError(
          'APPLE_API_ERROR',
          `Unexpected response body from ${endpoint}`,
          { httpStatus: res.status, endpoint },
          { cause: parsed.error },
        );
      }
      const apple = schemas.error.safeParse(json);
      const details = {
        httpStatus: res.status,
        apiErrorCode: apple.success ? (apple.data.errorCode ?? null) : null,
        apiErrorMessage: apple.success ? (apple.data.errorMessage ?? null) : null,
        endpoint,
      };
      const said = details.apiErrorCode !== null ? `: ${details.apiErrorCode} ${details.apiErrorMessage ?? ''}`.trimEnd() : '';
      if (res.status === 401) {
        // A token signed just before a clock jump or a key rotation: one fresh token, then give up.
        if (!refreshed) {
          refreshed = true;
          cached = null;
          return { again: true };
        }
        throw new AppStoreServerApiError(
          'APPLE_API_UNAUTHORIZED',
          `App Store Server API rejected our token (401, ${endpoint}): check APPLE_KEY_ID, APPLE_ISSUER_ID, the private key and the bundle id`,
          details,
        );
      }
      const status = res.status;
      if (status === 429) {
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now(), { epochMillis: true });
        const error = () =>
          new AppStoreServerApiError('APPLE_API_RATE_LIMITED', `App Store Server API rate limit exceeded (${endpoint})${said}`, { ...details, retryAfterMs });
        return { ok: false, status, retryAfterMs, error };
      }
      const error = (attempts: number) => {
        if (status >= 500) {
          const message = `App Store Server API failed with ${status} after ${attempts} attempts (${endpoint})${said}`;
          return new AppStoreServerApiError('APPLE_API_UNAVAILABLE', message, details);
        }
        const code: ErrorCode = status === 404 ? 'APPLE_API_NOT_FOUND' : 'APPLE_API_ERROR';
        return new AppStoreServerApiError(code, `App Store Server API answered ${status} (${endpoint})${said}`, details);
      };
      return { ok: false, status, error };
    }, retryPolicy);
  }

  const attempts = (list: z.infer<typeof sendAttemptSchema>[] | undefined): SendAttempt[] =>
    (list ?? []).map((a) => ({ attemptDate: a.attemptDate, sendAttemptResult: a.sendAttemptResult }));

  async function fetchHistory(request: NotificationHistoryRequest, paginationToken: string | null): Promise<RawNotificationHistoryPage> {
    const body: Record<string, unknown> = { startDate: ms(request.startDate), endDate: ms(request.endDate ?? now()) };
    if (request.notificationType !== undefined) body.notificationType = request.notificationType;
    if (request.notificationSubtype !== undefined) body.notificationSubtype = request.notificationSubtype;
    if (request.transactionId !== undefined) body.transactionId = request.transactionId;
    if (request.onlyFailures) body.onlyFailures = true;
    const page = await call('POST', '/inApps/v1/notifications/history', schemas.history, {
      query: paginationToken ? [['paginationToken', paginationToken]] : [],
      body,
    });
    return {
      items: (page.notificationHistory ?? []).map((i) => ({ signedPayload: i.signedPayload, sendAttempts: attempts(i.sendAttempts) })),
      hasMore: page.hasMore === true,
      paginationToken: page.paginationToken ?? null,
    };
  }

  const seg = (id: string) => {
    if (typeof id !== 'string' || id === '') throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'transaction id / token must be a non-empty string');
    return encodeURIComponent(id);
  };

  const api: AppStoreServerApi = {
    environment,
    baseUrl,

    async requestTestNotification() {
      const r = await call('POST', '/inApps/v1/notifications/test', schemas.sendTest);
      return { testNotificationToken: r.testNotificationToken };
    },

    async getTestNotificationStatus(testNotificationToken) {
      const r = await call('GET', `/inApps/v1/notifications/test/${seg(testNotificationToken)}`, schemas.checkTest);
      return { signedPayload: r.signedPayload, notification: await verifier.verifyNotification(r.signedPayload), sendAttempts: attempts(r.sendAttempts) };
    },

    async getNotificationHistory(request, paginationToken = null) {
      const page = await fetchHistory(request, paginationToken);
      const items: NotificationHistoryItem[] = [];
      for (const item of page.items) items.push({ ...item, notification: await verifier.verifyNotification(item.signedPayload) });
      return { items, hasMore: page.hasMore, paginationToken: page.paginationToken };
    },

    async getAllSubscriptionStatuses(transactionId, options = {}) {
      const r = await call('GET', `/inApps/v1/subscriptions/${seg(transactionId)}`, schemas.statuses, {
        query: (options.status ?? []).map((s) => ['status', String(s)]),
      });
      const data: SubscriptionStatuses['data'] = [];
      for (const group of r.data ?? []) {
        const lastTransactions: LastTransaction[] = [];
        for (const t of group.lastTransactions) {
          lastTransactions.push({
            status: t.status,
            originalTransactionId: t.originalTransactionId,
            signedTransactionInfo: t.signedTransactionInfo,
            signedRenewalInfo: t.signedRenewalInfo,
            transaction: await verifier.verifyTransaction(t.signedTransactionInfo),
            renewalInfo: await verifier.verifyRenewalInfo(t.signedRenewalInfo),
          });
        }
        data.push({ subscriptionGroupIdentifier: group.subscriptionGroupIdentifier, lastTransactions });
      }
      return { environment: r.environment ?? null, bundleId: r.bundleId ?? null, appAppleId: r.appAppleId ?? null, data };
    },

    async getTransactionInfo(transactionId) {
      const r = await call('GET', `/inApps/v1/transactions/${seg(transactionId)}`, schemas.transactionInfo);
      return { signedTransactionInfo: r.signedTransactionInfo, transaction: await verifier.verifyTransaction(r.signedTransactionInfo) };
    },

    async getTransactionHistory(transactionId, request = {}) {
      const query: Array<[string, string]> = [];
      if (request.revision) query.push(['revision', request.revision]);
      if (request.startDate !== undefined) query.push(['startDate', String(ms(request.startDate))]);
      if (request.endDate !== undefined) query.push(['endDate', String(ms(request.endDate))]);
      for (const p of request.productId ?? []) query.push(['productId', p]);
      for (const p of request.productType ?? []) query.push(['productType', p]);
      if (request.sort) query.push(['sort', request.sort]);
      for (const g of request.subscriptionGroupIdentifier ?? []) query.push(['subscriptionGroupIdentifier', g]);
      if (request.inAppOwnershipType) query.push(['inAppOwnershipType', request.inAppOwnershipType]);
      if (request.revoked !== undefined) query.push(['revoked', String(request.revoked)]);
      const r = await call('GET', `/inApps/v2/history/${seg(transactionId)}`, schemas.transactionHistory, { query });
      const signedTransactions = r.signedTransactions ?? [];
      const transactions: JWSTransactionDecodedPayload[] = [];
      for (const jws of signedTransactions) transactions.push(await verifier.verifyTransaction(jws));
      return {
        revision: r.revision ?? null,
        hasMore: r.hasMore === true,
        environment: r.environment ?? null,
        bundleId: r.bundleId ?? null,
        appAppleId: r.appAppleId ?? null,
        signedTransactions,
        transactions,
      };
    },

    async sendConsumptionInformation(transactionId, request) {
      const body = consumptionBody(request);
      await call('PUT', `/inApps/v2/transactions/consumption/${seg(transactionId)}`, schemas.empty, { body });
    },

    async setAppAccountToken(originalTransactionId, appAccountToken) {
      if (typeof appAccountToken !== 'string' || !UUID.test(appAccountToken)) invalid('appAccountToken must be a UUID');
      await call('PUT', `/inApps/v1/transactions/${seg(originalTransactionId)}/appAccountToken`, schemas.empty, {
        body: { appAccountToken: appAccountToken.toLowerCase() },
      });
    },

    async extendSubscriptionRenewalDate(originalTransactionId, request) {
      const body = extendFields(request);
      const r = await call('PUT', `/inApps/v1/subscriptions/extend/${seg(originalTransactionId)}`, schemas.extend, { body });
      return {
        requestIdentifier: body.requestIdentifier,
        success: r.success,
        effectiveDate: r.effectiveDate ?? null,
        originalTransactionId: r.originalTransactionId ?? null,
        webOrderLineItemId: r.webOrderLineItemId ?? null,
      };
    },

    async extendRenewalDateForAllActiveSubscribers(request) {
      const fields = extendFields(request);
      if (typeof request.productId !== 'string' || request.productId === '') invalid('productId is required');
      const body: Record<string, unknown> = { ...fields, productId: request.productId };
      if (request.storefrontCountryCodes !== undefined) {
        const codes = request.storefrontCountryCodes;
        if (!Array.isArray(codes) || codes.length === 0 || !codes.every((c) => typeof c === 'string' && /^[A-Z]{3}$/.test(c))) {
          invalid('storefrontCountryCodes must be a non-empty list of ISO 3166-1 alpha-3 codes such as "USA" (omit it for every storefront)');
        }
        body.storefrontCountryCodes = codes;
      }
      const r = await call('POST', '/inApps/v1/subscriptions/extend/mass', schemas.massExtend, { body });
      return { requestIdentifier: r.requestIdentifier };
    },

    async getRenewalDateExtensionStatus(productId, requestIdentifier) {
      const r = await call('GET', `/inApps/v1/subscriptions/extend/mass/${seg(productId)}/${seg(requestIdentifier)}`, schemas.massExtendStatus);
      return {
        requestIdentifier: r.requestIdentifier,
        complete: r.complete,
        completeDate: r.completeDate ?? null,
        succeededCount: r.succeededCount ?? null,
        failedCount: r.failedCount ?? null,
      };
    },

    async lookUpOrderId(orderId) {
      const r = await call('GET', `/inApps/v1/lookup/${seg(orderId)}`, schemas.orderLookup);
      const signedTransactions = r.signedTransactions ?? [];
      const transactions: JWSTransactionDecodedPayload[] = [];
      for (const jws of signedTransactions) transactions.push(await verifier.verifyTransaction(jws));
      return { status: r.status, valid: r.status === 0, signedTransactions, transactions };
    },

    async getRefundHistory(transactionId, revision = null) {
      const r = await call('GET', `/inApps/v2/refund/lookup/${seg(transactionId)}`, schemas.refundHistory, { query: revision ? [['revision', revision]] : [] });
      const signedTransactions = r.signedTransactions ?? [];
      const transactions: JWSTransactionDecodedPayload[] = [];
      for (const jws of signedTransactions) transactions.push(await verifier.verifyTransaction(jws));
      return { revision: r.revision ?? null, hasMore: r.hasMore === true, signedTransactions, transactions };
    },
  };
  rawHistory.set(api, fetchHistory);
  return api;
}

/**
 * A stand-in for `hooks.apple.api` when no API key is configured: every call rejects with a
 * `CONFIG_INVALID` that names the missing settings.
 */
export function unconfiguredAppStoreServerApi(): AppStoreServerApi {
  const reject = () =>
    Promise.reject(
      new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        'The App Store Server API is not configured: pass `apple.api: { keyId, issuerId, privateKey }` or set APPLE_KEY_ID, APPLE_ISSUER_ID and APPLE_PRIVATE_KEY_PATH',
      ),
    );
  return {
    environment: 'Production',
    baseUrl: '',
    requestTestNotification: reject,
    getTestNotificationStatus: reject,
    getNotificationHistory: reject,
    getAllSubscriptionStatuses: reject,
    getTransactionInfo: reject,
    getTransactionHistory: reject,
    sendConsumptionInformation: reject,
    setAppAccountToken: reject,
    extendSubscriptionRenewalDate: reject,
    extendRenewalDateForAllActiveSubscribers: reject,
    getRenewalDateExtensionStatus: reject,
    lookUpOrderId: reject,
    getRefundHistory: reject,
  };
}
