import { z } from 'zod';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import { exponentialBackoff, parseRetryAfter, withRetries, type AttemptContext, type AttemptResult } from '../../core/retry.js';

/** One subscription of the user, as `GET /api/user/v1/projects/{projectId}/subscriptions` returns it. */
export interface XsollaUserSubscription {
  id: number;
  plan_id: number;
  plan_external_id: string | null;
  plan_name: string | null;
  plan_description: string | null;
  product_id: number | null;
  product_external_id: string | null;
  product_name: string | null;
  product_description: string | null;
  /** e.g. `active`, `canceled`, `non_renewing`, `freeze`. */
  status: string;
  date_create: Date;
  date_next_charge: Date | null;
  date_last_charge: Date | null;
  /** `amount` is the decimal string Xsolla sends (`"0.2500"`), never a float. */
  charge: { amount: string; currency: string } | null;
  period: { value: number; unit: string } | null;
}

/** One page of {@link XsollaSubscriptionsApi.listUserSubscriptions}. */
export interface XsollaUserSubscriptionsPage {
  items: XsollaUserSubscription[];
  /** More items follow: ask again with `offset + items.length`. */
  has_more: boolean;
}

/** Input of {@link XsollaSubscriptionsApi.listUserSubscriptions}. */
export interface ListUserSubscriptionsInput {
  /** The user's Xsolla Login JWT (the client's token), sent as `Authorization: Bearer <userJwt>`. */
  userJwt: string;
  /** Items per page. @default 15 */
  limit?: number;
  /** Index of the first item (from 0). @default 0 */
  offset?: number;
  /** Interface language, ISO 639-1. @default "en" */
  locale?: string;
  /** Per-attempt timeout in ms. @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Aborts the call (no retry after an abort). */
  signal?: AbortSignal;
}

/** Options of {@link createXsollaSubscriptionsApi}. */
export interface XsollaSubscriptionsApiOptions {
  /** Your Xsolla project id. */
  projectId: number;
  /** @default "https://subscriptions.xsolla.com" */
  baseUrl?: string;
  /** Per-attempt timeout in ms. @default 10000 */
  timeoutMs?: number;
  /** Retries after a 429, a 5xx, a network error or a timeout. @default 3 */
  maxRetries?: number;
  /** First retry delay; doubles each retry. A `Retry-After` header wins when it is longer. @default 500 */
  retryDelayMs?: number;
  /** Longest delay between two attempts. @default 8000 */
  maxRetryDelayMs?: number;
  /** How to wait between attempts (inject in tests). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Xsolla's user-subscriptions API, for one project. */
export interface XsollaSubscriptionsApi {
  /**
   * One page of the user's subscriptions.
   * @throws SubscriptionWebhooksError `XSOLLA_UNAUTHORIZED` (401/403), `XSOLLA_UNAVAILABLE` (429/5xx/network/timeout after the retries),
   * `XSOLLA_RESPONSE_INVALID` (a body that is not the documented shape), `INVALID_ARGUMENT` (bad input, or another 4xx)
   */
  listUserSubscriptions(input: ListUserSubscriptionsInput): Promise<XsollaUserSubscriptionsPage>;
  /**
   * Every subscription of the user, page after page while `has_more` is true (`limit` is the page size).
   * @throws SubscriptionWebhooksError as {@link XsollaSubscriptionsApi.listUserSubscriptions}
   */
  iterateUserSubscriptions(input: ListUserSubscriptionsInput): AsyncGenerator<XsollaUserSubscription, void, undefined>;
}

const date = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO 8601 date-time' })
  .transform((s) => new Date(s));
// A number can only be rendered back; String(n) gives the shortest form that round-trips.
const decimal = z.union([
  z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a decimal amount'),
  z
    .number()
    .finite()
    .transform((n) => String(n)),
]);
const text = z
  .string()
  .nullish()
  .transform((v) => v ?? null);

const itemSchema = z.looseObject({
  id: z.number().int(),
  plan_id: z.number().int(),
  plan_external_id: text,
  plan_name: text,
  plan_description: text,
  product_id: z
    .number()
    .int()
    .nullish()
    .transform((v) => v ?? null),
  product_external_id: text,
  product_name: text,
  product_description: text,
  status: z.string(),
  date_create: date,
  date_next_charge: date.nullish().transform((v) => v ?? null),
  date_last_charge: date.nullish().transform((v) => v ?? null),
  charge: z
    .looseObject({ amount: decimal, currency: z.string() })
    .nullish()
    .transform((v) => (v ? { amount: v.amount, currency: v.currency } : null)),
  period: z
    .looseObject({ value: z.number(), unit: z.string() })
    .nullish()
    .transform((v) => (v ? { value: v.value, unit: v.unit } : null)),
});
const pageSchema = z.looseObject({ items: z.array(itemSchema), has_more: z.boolean() });

/** A failure worth retrying (429, 5xx, no answer): `XSOLLA_UNAVAILABLE` when the retries run out. */
function retryable(reason: string, status: number | null, cause?: unknown, retryAfterMs: number | null = null): AttemptResult<never> {
  const error = (attempts: number) =>
    new SubscriptionWebhooksError('XSOLLA_UNAVAILABLE', `Xsolla subscriptions API unavailable after ${attempts} attempt(s): ${reason}`, {
      cause: new Error(reason, { cause }),
    });
  return { ok: false, status, retryAfterMs, error };
}

/**
 * A client for Xsolla's user-subscriptions API (`GET {baseUrl}/api/user/v1/projects/{projectId}/subscriptions`).
 * `hooks.xsolla` is one, built from the `xsolla` config.
 *
 * @example
 * ```ts
 * const api = createXsollaSubscriptionsApi({ projectId: 123456 });
 * const page = await api.listUserSubscriptions({ userJwt, limit: 5 });
 * for await (const sub of api.iterateUserSubscriptions({ userJwt })) console.log(sub.plan_external_id, sub.status);
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` when `projectId` or `baseUrl` is invalid.
 */
export function createXsollaSubscriptionsApi(options: XsollaSubscriptionsApiOptions): XsollaSubscriptionsApi {
  if (!Number.isInteger(options.projectId) || options.projectId <= 0) {
    throw new SubscriptionWebhooksError('CONFIG_INVALID', 'Xsolla subscriptions API: `projectId` must be your numeric project id');
  }
  const baseUrl = (options.baseUrl ?? 'https://subscriptions.xsolla.com').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) throw new SubscriptionWebhooksError('CONFIG_INVALID', 'Xsolla subscriptions API: `baseUrl` must be an http(s) URL');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxRetries = options.maxRetries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 8_000;
  const doFetch = options.fetch ?? globalThis.fetch;

  const bad = (message: string) => new SubscriptionWebhooksError('INVALID_ARGUMENT', `xsolla.listUserSubscriptions: ${message}`);

  /** One HTTP attempt: a parsed page, a failure to retry (429, 5xx, no answer), or a thrown final error. */
  async function attempt(
    url: string,
    userJwt: string,
    timeout: number,
    context: AttemptContext,
    signal: AbortSignal | undefined,
  ): Promise<AttemptResult<XsollaUserSubscriptionsPage>> {
    let status: number;
    let body: string;
    let retryAfter: string | null;
    try {
      const res = await doFetch(url, { method: 'GET', headers: { accept: 'application/json', authorization: `Bearer ${userJwt}` }, signal: context.signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      body = await res.text();
    } catch (cause) {
      if (signal?.aborted) throw new SubscriptionWebhooksError('XSOLLA_UNAVAILABLE', 'Xsolla subscriptions API call aborted', { cause });
      return retryable(context.timedOut() ? `timed out after ${timeout} ms` : `network error: ${(cause as Error).message}`, null, cause);
    }
    const detail = () => {
      try {
        const m = (JSON.parse(body) as { error?: { message?: unknown }; message?: unknown }) ?? {};
        const msg = m.error?.message ?? m.message;
        return typeof msg === 'string' ? `: ${msg}` : '';
      } catch {
        return '';
      }
    };
    if (status === 401 || status === 403)
      throw new SubscriptionWebhooksError('XSOLLA_UNAUTHORIZED', `Xsolla rejected the user token (HTTP ${status})${detail()}`);
    if (status === 429 || status >= 500) return retryable(`HTTP ${status}${detail()}`, status, undefined, parseRetryAfter(retryAfter, Date.now()));
    if (status < 200 || status >= 300) throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `Xsolla subscriptions API answered HTTP ${status}${detail()}`);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (cause) {
      throw new SubscriptionWebhooksError('XSOLLA_RESPONSE_INVALID', 'Xsolla subscriptions API answered a body that is not JSON', { cause });
    }
    const parsed = pageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SubscriptionWebhooksError(
        'XSOLLA_RESPONSE_INVALID',
        `Xsolla subscriptions API answered an unexpected shape: \`${issue.path.join('.')}\` ${issue.message}`,
      );
    }
    const page = {
      items: parsed.data.items.map((i) => ({
        id: i.id,
        plan_id: i.plan_id,
        plan_external_id: i.plan_external_id,
        plan_name: i.plan_name,
        plan_description: i.plan_description,
        product_id: i.product_id,
        product_external_id: i.product_external_id,
        product_name: i.product_name,
        product_description: i.product_description,
        status: i.status,
        date_create: i.date_create,
        date_next_charge: i.date_next_charge,
        date_last_charge: i.date_last_charge,
        charge: i.charge,
        period: i.period,
      })),
      has_more: parsed.data.has_more,
    };
    return { ok: true, value: page };
  }

  async function listUserSubscriptions(input: ListUserSubscriptionsInput): Promise<XsollaUserSubscriptionsPage> {
    if (typeof input?.userJwt !== 'string' || input.userJwt.trim() === '') throw bad("`userJwt` must be the user's token");
    const userJwt = input.userJwt.trim().replace(/^Bearer\s+/i, '');
    const limit = input.limit ?? 15;
    const offset = input.offset ?? 0;
    const locale = input.locale ?? 'en';
    if (!Number.isInteger(limit) || limit < 1) throw bad('`limit` must be a positive integer');
    if (!Number.isInteger(offset) || offset < 0) throw bad('`offset` must be a non-negative integer');
    if (!/^[a-z]{2}$/i.test(locale)) throw bad('`locale` must be a two-letter ISO 639-1 code');
    const query = new URLSearchParams({ locale: locale.toLowerCase(), limit: String(limit), offset: String(offset) });
    const url = `${baseUrl}/api/user/v1/projects/${encodeURIComponent(String(options.projectId))}/subscriptions?${query.toString()}`;

    const timeout = input.timeoutMs ?? timeoutMs;
    return withRetries((context) => attempt(url, userJwt, timeout, context, input.signal), {
      maxRetries,
      maxDelayMs: maxRetryDelayMs,
      backoff: exponentialBackoff(retryDelayMs, maxRetryDelayMs),
      retryAfter: 'at-least',
      timeoutMs: timeout,
      signal: input.signal,
      aborted: () => new SubscriptionWebhooksError('XSOLLA_UNAVAILABLE', 'Xsolla subscriptions API call aborted'),
      sleep: options.sleep,
    });
  }

  async function* iterateUserSubscriptions(input: ListUserSubscriptionsInput): AsyncGenerator<XsollaUserSubscription, void, undefined> {
    let offset = input.offset ?? 0;
    for (;;) {
      const page = await listUserSubscriptions({ ...input, offset });
      yield* page.items;
      // An empty page that claims more would loop forever.
      if (!page.has_more || page.items.length === 0) return;
      offset += page.items.length;
    }
  }

  return { listUserSubscriptions, iterateUserSubscriptions };
}
