import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { z } from 'zod';
import { SubscriptionWebhooksError, type ErrorCode } from '../../core/errors.js';
import { exponentialBackoff, parseRetryAfter, withRetries, type RetryPolicy } from '../../core/retry.js';
import {
  productPurchaseSchema,
  subscriptionPurchaseV2Schema,
  voidedPurchasesListSchema,
  type ProductPurchase,
  type SubscriptionPurchaseV2,
  type VoidedPurchase,
} from './schemas.js';

/** The OAuth scope of the Play Developer API. */
export const ANDROID_PUBLISHER_SCOPE = 'https://www.googleapis.com/auth/androidpublisher';

/** Options of {@link createGooglePlayApi}. */
export interface GooglePlayApiOptions {
  packageName: string;
  /** The service account's `client_email`. */
  clientEmail: string;
  /** Its `private_key` (PKCS#8 PEM). */
  privateKey: string | KeyObject;
  /** Its `private_key_id` (the token's `kid`). */
  privateKeyId?: string;
  /** @default "https://oauth2.googleapis.com/token" */
  tokenUrl?: string;
  /** @default "https://androidpublisher.googleapis.com" */
  baseUrl?: string;
  /** Retries after a 429, a 5xx or a network failure (not counting the first attempt). @default 3 */
  maxRetries?: number;
  /** The longest single wait; a `Retry-After` further away fails at once. @default 30000 */
  maxRetryDelayMs?: number;
  /** Per-request timeout in ms. @default 15000 */
  timeoutMs?: number;
  /** @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The Play Developer API calls the library makes. */
export interface GooglePlayApi {
  /** `purchases.subscriptionsv2.get`. */
  getSubscription(purchaseToken: string): Promise<SubscriptionPurchaseV2>;
  /** `purchases.products.get`. */
  getProduct(productId: string, purchaseToken: string): Promise<ProductPurchase>;
  /** `purchases.subscriptions.acknowledge` (`productId` is the subscription's product id). */
  acknowledgeSubscription(productId: string, purchaseToken: string): Promise<void>;
  /** `purchases.products.acknowledge`. */
  acknowledgeProduct(productId: string, purchaseToken: string): Promise<void>;
  /**
   * `purchases.voidedpurchases.list` with `type=1` (subscriptions and one-time products) and
   * quantity-based partial refunds: one page of the purchases voided between `startTime` and `endTime`
   * (ms since epoch; Google keeps 30 days).
   */
  listVoidedPurchases(query: {
    startTime: number;
    endTime?: number;
    pageToken?: string;
  }): Promise<{ voidedPurchases: VoidedPurchase[]; nextPageToken?: string }>;
}

/** A Play Developer API failure: the HTTP status (null: no answer) and how long Google asked us to wait. */
export class GooglePlayApiError extends SubscriptionWebhooksError {
  readonly httpStatus: number | null;
  readonly retryAfterMs: number | null;
  constructor(code: ErrorCode, message: string, details: { httpStatus: number | null; retryAfterMs?: number | null }, options?: { cause?: unknown }) {
    super(code, message, options);
    this.httpStatus = details.httpStatus;
    this.retryAfterMs = details.retryAfterMs ?? null;
  }
}

/**
 * A Play Developer API client: a service-account JWT exchanged for an OAuth access token (cached until a
 * minute before it expires, one exchange for concurrent callers), per-request timeouts, and retries of
 * 429 (after `Retry-After`), 5xx and network failures with exponential backoff, at most `maxRetries` times.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` when the private key is not an RSA private key.
 */
export function createGooglePlayApi(options: GooglePlayApiOptions): GooglePlayApi {
  let key: KeyObject;
  try {
    key = typeof options.privateKey === 'string' ? createPrivateKey(options.privateKey) : options.privateKey;
  } catch (cause) {
    throw new SubscriptionWebhooksError('CONFIG_INVALID', "google.api: the service account key's private_key is not a PEM private key", { cause });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa')
    throw new SubscriptionWebhooksError('CONFIG_INVALID', 'google.api: the service account key must be an RSA private key');
  const pkg = encodeURIComponent(options.packageName);
  const baseUrl = (options.baseUrl ?? 'https://androidpublisher.googleapis.com').replace(/\/+$/, '');
  const tokenUrl = options.tokenUrl ?? 'https://oauth2.googleapis.com/token';
  const maxRetries = Math.max(0, Math.floor(options.maxRetries ?? 3));
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const retryPolicy: RetryPolicy = {
    maxRetries,
    maxDelayMs: maxRetryDelayMs,
    backoff: exponentialBackoff(500, maxRetryDelayMs, true),
    retryAfter: 'exact',
    timeoutMs,
    sleep: options.sleep,
  };

  let cached: { token: string; expiresAt: number } | null = null;
  let exchanging: Promise<string> | null = null;

  /**
   * Sends one request, retrying 429 / 5xx / network failures. `parse` turns a 2xx text into the result.
   * Shared by the token exchange and the API calls.
   */
  async function send<T>(
    what: string,
    request: () => Promise<RequestInit & { url: string }>,
    parse: (text: string, status: number) => T,
    onUnauthorized?: () => boolean,
  ): Promise<T> {
    return withRetries<T>(async (attempt) => {
      // The token exchange (inside request()) runs before the attempt's timeout starts: it has its own.
      const { url, ...init } = await request();
      let res: Response;
      let text: string;
      try {
        res = await doFetch(url, { ...init, signal: attempt.signal });
        text = await res.text();
      } catch (cause) {
        const error = () =>
          new GooglePlayApiError('GOOGLE_API_UNAVAILABLE', `Google Play Developer API unreachable (${what})`, { httpStatus: null }, { cause });
        return { ok: false, status: null, error };
      }
      if (res.ok) return { ok: true, value: parse(text, res.status) };
      const said = googleMessage(text);
      if (res.status === 401 && onUnauthorized?.()) return { again: true };
      const status = res.status;
      if (status === 429) {
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now(), { epochMillis: true });
        const error = () =>
          new GooglePlayApiError('GOOGLE_API_RATE_LIMITED', `Google Play Developer API rate limit (${what})${said}`, { httpStatus: 429, retryAfterMs });
        return { ok: false, status, retryAfterMs, error };
      }
      const error = (attempts: number) => {
        if (status >= 500) {
          const message = `Google Play Developer API failed with ${status} after ${attempts} attempts (${what})${said}`;
          return new GooglePlayApiError('GOOGLE_API_UNAVAILABLE', message, { httpStatus: status });
        }
        if (status === 401 || status === 403) {
          const message = `Google Play Developer API refused our service account (${status}, ${what})${said}: grant it access in Play Console → Users and permissions`;
          return new GooglePlayApiError('GOOGLE_API_UNAUTHORIZED', message, { httpStatus: status });
        }
        const code: ErrorCode = status === 404 || status === 410 ? 'GOOGLE_API_NOT_FOUND' : 'GOOGLE_API_ERROR';
        return new GooglePlayApiError(code, `Google Play Developer API answered ${status} (${what})${said}`, { httpStatus: status });
      };
      return { ok: false, status, error };
    }, retryPolicy);
  }

  async function accessToken(): Promise<string> {
    if (cached && cached.expiresAt - 60_000 > now()) return cached.token;
    exchanging ??= (async () => {
      const iat = Math.floor(now() / 1000);
      const assertion = await new SignJWT({ scope: ANDROID_PUBLISHER_SCOPE })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(options.privateKeyId ? { kid: options.privateKeyId } : {}) })
        .setIssuer(options.clientEmail)
        .setAudience(tokenUrl)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 3600)
        .sign(key);
      const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
      return send(
        'OAuth token',
        async () => ({ url: tokenUrl, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body }),
        (text) => {
          const t = safeJson(text) as { access_token?: unknown; expires_in?: unknown } | null;
          if (typeof t?.access_token !== 'string')
            throw new GooglePlayApiError('GOOGLE_API_ERROR', 'The OAuth token endpoint answered no access_token', { httpStatus: 200 });
          const lifetime = typeof t.expires_in === 'number' && t.expires_in > 0 ? t.expires_in * 1000 : 3_600_000;
          cached = { token: t.access_token, expiresAt: now() + lifetime };
          return t.access_token;
        },
      );
    })()
      .catch((err: unknown) => {
        // invalid_grant and the like: the key is wrong or revoked, which no retry fixes.
        if (err instanceof GooglePlayApiError && err.httpStatus !== null && err.httpStatus >= 400 && err.httpStatus < 500 && err.httpStatus !== 429) {
          throw new GooglePlayApiError(
            'GOOGLE_API_UNAUTHORIZED',
            `The OAuth token endpoint refused the service account key (${err.message})`,
            { httpStatus: err.httpStatus },
            { cause: err },
          );
        }
        throw err;
      })
      .finally(() => {
        exchanging = null;
      });
    return exchanging;
  }

  async function call<T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T> | null): Promise<T> {
    let refreshed = false;
    const what = `${method} ${path.replace(/\/tokens\/[^/:]+/, '/tokens/…')}`;
    return send(
      what,
      async () => ({
        url: `${baseUrl}${path}`,
        method,
        headers: {
          authorization: `Bearer ${await accessToken()}`,
          accept: 'application/json',
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'POST' ? { body: '{}' } : {}),
      }),
      (text) => {
        if (!schema) return undefined as T;
        const parsed = schema.safeParse(safeJson(text));
        if (parsed.success) return parsed.data;
        const issue = parsed.error.issues[0]!;
        throw new GooglePlayApiError('GOOGLE_API_ERROR', `Unexpected answer from ${what}: \`${issue.path.join('.')}\` ${issue.message}`, { httpStatus: 200 });
      },
      () => {
        // A token revoked or expired early: one fresh token, then give up.
        if (refreshed) return false;
        refreshed = true;
        cached = null;
        return true;
      },
    );
  }

  const base = `/androidpublisher/v3/applications/${pkg}/purchases`;
  const t = (token: string) => encodeURIComponent(token);
  const p = (productId: string) => encodeURIComponent(productId);
  return {
    getSubscription: (token) => call('GET', `${base}/subscriptionsv2/tokens/${t(token)}`, subscriptionPurchaseV2Schema),
    getProduct: (productId, token) => call('GET', `${base}/products/${p(productId)}/tokens/${t(token)}`, productPurchaseSchema),
    acknowledgeSubscription: (productId, token) => call('POST', `${base}/subscriptions/${p(productId)}/tokens/${t(token)}:acknowledge`, null),
    acknowledgeProduct: (productId, token) => call('POST', `${base}/products/${p(productId)}/tokens/${t(token)}:acknowledge`, null),
    async listVoidedPurchases(query) {
      const q = new URLSearchParams({
        startTime: String(Math.floor(query.startTime)),
        type: '1',
        includeQuantityBasedPartialRefund: 'true',
        maxResults: '1000',
      });
      if (query.endTime !== undefined) q.set('endTime', String(Math.floor(query.endTime)));
      if (query.pageToken) q.set('token', query.pageToken);
      const page = await call('GET', `${base}/voidedpurchases?${q.toString()}`, voidedPurchasesListSchema);
      return {
        voidedPurchases: page.voidedPurchases ?? [],
        ...(page.tokenPagination?.nextPageToken ? { nextPageToken: page.tokenPagination.nextPageToken } : {}),
      };
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** Google's `{ error: { message } }`, as `: message` (at most 200 characters). */
function googleMessage(text: string): string {
  const e = safeJson(text) as { error?: { message?: unknown } | string; error_description?: unknown } | null;
  const m = typeof e?.error === 'object' ? e.error?.message : (e?.error_description ?? e?.error);
  return typeof m === 'string' && m ? `: ${m.slice(0, 200)}` : '';
}
