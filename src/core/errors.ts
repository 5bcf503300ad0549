/**
 * Every error code the library can raise. Stable: safe to match on in your code and logs.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'BODY_NOT_RAW',
  'BODY_TOO_LARGE',
  'BODY_INVALID',
  'BODY_TIMEOUT',
  'METHOD_NOT_ALLOWED',
  'JWS_MALFORMED',
  'JWS_ALG_UNSUPPORTED',
  'CERT_CHAIN_INVALID',
  'CERT_OID_MISSING',
  'SIGNATURE_INVALID',
  'BUNDLE_ID_MISMATCH',
  'APP_APPLE_ID_MISMATCH',
  'ENVIRONMENT_REJECTED',
  'XSOLLA_SIGNATURE_INVALID',
  'XSOLLA_PROJECT_MISMATCH',
  'XSOLLA_UNAUTHORIZED',
  'XSOLLA_UNAVAILABLE',
  'XSOLLA_RESPONSE_INVALID',
  'USER_NOT_FOUND',
  'SUBSCRIPTION_OWNED_BY_OTHER_USER',
  'STORE_UNAVAILABLE',
  'WEBHOOK_SIGNATURE_INVALID',
  'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
  'WEBHOOK_URL_NOT_ALLOWED',
  'NOT_FOUND',
  'CONFLICT',
  'INVALID_ARGUMENT',
  'INTERNAL',
  'APPLE_API_ERROR',
  'APPLE_API_UNAUTHORIZED',
  'APPLE_API_NOT_FOUND',
  'APPLE_API_RATE_LIMITED',
  'APPLE_API_UNAVAILABLE',
  'GOOGLE_AUTH_MISSING',
  'GOOGLE_TOKEN_INVALID',
  'GOOGLE_TOKEN_EXPIRED',
  'GOOGLE_AUDIENCE_MISMATCH',
  'GOOGLE_SERVICE_ACCOUNT_MISMATCH',
  'GOOGLE_PACKAGE_MISMATCH',
  'GOOGLE_JWKS_UNAVAILABLE',
  'GOOGLE_API_ERROR',
  'GOOGLE_API_UNAUTHORIZED',
  'GOOGLE_API_NOT_FOUND',
  'GOOGLE_API_RATE_LIMITED',
  'GOOGLE_API_UNAVAILABLE',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one table that maps an error code to the HTTP status a provider is answered with.
 * 4xx means "this request will never succeed, do not retry"; 5xx means "our fault, retry".
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 500,
  BODY_NOT_RAW: 500,
  BODY_TOO_LARGE: 413,
  BODY_INVALID: 400,
  BODY_TIMEOUT: 408,
  METHOD_NOT_ALLOWED: 405,
  JWS_MALFORMED: 400,
  JWS_ALG_UNSUPPORTED: 400,
  CERT_CHAIN_INVALID: 400,
  CERT_OID_MISSING: 400,
  SIGNATURE_INVALID: 400,
  BUNDLE_ID_MISMATCH: 400,
  APP_APPLE_ID_MISMATCH: 400,
  ENVIRONMENT_REJECTED: 400,
  XSOLLA_SIGNATURE_INVALID: 400,
  XSOLLA_PROJECT_MISMATCH: 400,
  // The three below come from the Xsolla API client (never from a webhook answer): the status is informative.
  XSOLLA_UNAUTHORIZED: 401,
  XSOLLA_UNAVAILABLE: 503,
  XSOLLA_RESPONSE_INVALID: 502,
  USER_NOT_FOUND: 400,
  // The client transaction route: the purchase belongs to another signed-in user (no details are given).
  SUBSCRIPTION_OWNED_BY_OTHER_USER: 409,
  STORE_UNAVAILABLE: 500,
  WEBHOOK_SIGNATURE_INVALID: 400,
  WEBHOOK_TIMESTAMP_OUT_OF_RANGE: 400,
  // Webhook endpoint URLs refused for SSRF reasons (http: or private/loopback hosts in production).
  WEBHOOK_URL_NOT_ALLOWED: 400,
  // API methods (settings, webhook endpoints, deliveries): the id does not exist / a unique value is taken.
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID_ARGUMENT: 400,
  INTERNAL: 500,
  // App Store Server API failures (our outbound calls): an upstream problem, never the caller's input.
  APPLE_API_ERROR: 502,
  APPLE_API_UNAUTHORIZED: 502,
  APPLE_API_NOT_FOUND: 404,
  APPLE_API_RATE_LIMITED: 503,
  APPLE_API_UNAVAILABLE: 503,
  // Google Play push (Pub/Sub): who sent it. 401 for a token that can never authenticate this push.
  GOOGLE_AUTH_MISSING: 401,
  GOOGLE_TOKEN_INVALID: 401,
  GOOGLE_TOKEN_EXPIRED: 401,
  GOOGLE_AUDIENCE_MISMATCH: 401,
  GOOGLE_SERVICE_ACCOUNT_MISMATCH: 403,
  GOOGLE_PACKAGE_MISMATCH: 400,
  // Google's key set or the Play Developer API could not be reached: ours to retry (Pub/Sub redelivers).
  GOOGLE_JWKS_UNAVAILABLE: 503,
  GOOGLE_API_ERROR: 502,
  GOOGLE_API_UNAUTHORIZED: 502,
  GOOGLE_API_NOT_FOUND: 404,
  GOOGLE_API_RATE_LIMITED: 503,
  GOOGLE_API_UNAVAILABLE: 503,
};

const ERROR_BRAND = Symbol.for('subscription-webhooks.error');

/**
 * The single error class of the library. Match on `code`, never on `message`.
 *
 * @example
 * try { await hooks.apple.verifyTransaction(jws) }
 * catch (e) { if (e instanceof SubscriptionWebhooksError && e.code === 'SIGNATURE_INVALID') ... }
 */
export class SubscriptionWebhooksError extends Error {
  /**
   * `instanceof` works across copies of this package in one process (its ESM and CJS builds, or a
   * bundler that loads it twice through a symlink): errors carry a global brand, not only a prototype.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== SubscriptionWebhooksError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[ERROR_BRAND] === true;
  }
  /** @internal */
  readonly [ERROR_BRAND] = true;
  override readonly name = 'SubscriptionWebhooksError';
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** The HTTP status this error is answered with (see {@link HTTP_STATUS_BY_CODE}). */
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = HTTP_STATUS_BY_CODE[code];
  }
}
// The static method above refers to the class, so the bundler renames its inner binding
// (`_SubscriptionWebhooksError`); keep the name users see in stack traces and `inspect`.
Object.defineProperty(SubscriptionWebhooksError, 'name', { value: 'SubscriptionWebhooksError' });

/**
 * `error`, answered with `status` instead of its code's (a client route's 401 `USER_NOT_FOUND`: sign in first).
 * @internal
 */
export function withStatus(error: SubscriptionWebhooksError, status: number): SubscriptionWebhooksError {
  Object.defineProperty(error, 'status', { value: status, enumerable: true });
  return error;
}

/** True when `value` is a {@link SubscriptionWebhooksError}, optionally with the given code. */
export function isSubscriptionWebhooksError(value: unknown, code?: ErrorCode): value is SubscriptionWebhooksError {
  return value instanceof SubscriptionWebhooksError && (code === undefined || value.code === code);
}
