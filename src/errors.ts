/**
 * Every error code the library can raise. Stable: safe to match on in your code and logs.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'BODY_NOT_RAW',
  'BODY_TOO_LARGE',
  'BODY_INVALID',
  'JWS_MALFORMED',
  'JWS_ALG_UNSUPPORTED',
  'CERT_CHAIN_INVALID',
  'CERT_OID_MISSING',
  'SIGNATURE_INVALID',
  'BUNDLE_ID_MISMATCH',
  'APP_APPLE_ID_MISMATCH',
  'ENVIRONMENT_REJECTED',
  'XSOLLA_SIGNATURE_INVALID',
  'USER_NOT_FOUND',
  'STORE_UNAVAILABLE',
  'WEBHOOK_SIGNATURE_INVALID',
  'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
  'INVALID_ARGUMENT',
  'INTERNAL',
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
  JWS_MALFORMED: 400,
  JWS_ALG_UNSUPPORTED: 400,
  CERT_CHAIN_INVALID: 400,
  CERT_OID_MISSING: 400,
  SIGNATURE_INVALID: 400,
  BUNDLE_ID_MISMATCH: 400,
  APP_APPLE_ID_MISMATCH: 400,
  ENVIRONMENT_REJECTED: 400,
  XSOLLA_SIGNATURE_INVALID: 400,
  USER_NOT_FOUND: 400,
  STORE_UNAVAILABLE: 500,
  WEBHOOK_SIGNATURE_INVALID: 400,
  WEBHOOK_TIMESTAMP_OUT_OF_RANGE: 400,
  INVALID_ARGUMENT: 400,
  INTERNAL: 500,
};

/**
 * The single error class of the library. Match on `code`, never on `message`.
 *
 * @example
 * try { await hooks.apple.verifyTransaction(jws) }
 * catch (e) { if (e instanceof SubscriptionWebhooksError && e.code === 'SIGNATURE_INVALID') ... }
 */
export class SubscriptionWebhooksError extends Error {
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

/** True when `value` is a {@link SubscriptionWebhooksError}, optionally with the given code. */
export function isSubscriptionWebhooksError(value: unknown, code?: ErrorCode): value is SubscriptionWebhooksError {
  return value instanceof SubscriptionWebhooksError && (code === undefined || value.code === code);
}
