/**
 * The receiving side of our outbound webhooks, framework-free: verify a delivery (Standard Webhooks) and
 * route it to handlers. `subscription-webhooks/callback` (adapters/callback.ts) adds the Express and Koa wrappers.
 */
import { getHeader, readRawBody } from './core/body.js';
import type { HeadersLike } from './core/types.js';
import { signatureMatches, webhookSignature } from './delivery/sign.js';
import { SubscriptionWebhooksError } from './core/errors.js';
import type { DomainEvent, EventType } from './events/types.js';
import type { Store } from './store/types.js';

export type { HeadersLike } from './core/types.js';

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** Largest accepted distance between `webhook-timestamp` and now, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** The receiver's clock in ms since epoch (tests). @default Date.now() */
  now?: number;
}

/** How to give the route the raw body (part of `BODY_NOT_RAW` messages). */
export const BODY_FIX =
  "Use route.express() / route.koa(), or give the raw body (express.raw({ type: 'application/json' }), koa-bodyparser's ctx.request.rawBody).";

const SECRET_PREFIX = 'whsec_';
/** The Standard Webhooks minimum key size (our own secrets are 32 bytes: {@link generateWebhookSecret}). */
const MIN_SECRET_BYTES = 24;
const SECRET_FORM = `"${SECRET_PREFIX}" followed by the standard base64 (A-Z a-z 0-9 + /, "=" padded) of at least ${MIN_SECRET_BYTES} bytes, with no whitespace`;

/** Why a secret can never verify a delivery, or null when it is a usable `whsec_<base64>` secret. Never echoes the secret. */
function secretProblem(secret: unknown): string | null {
  if (typeof secret !== 'string') return `is a ${secret === null ? 'null' : typeof secret}, not a string`;
  if (secret.length === 0) return 'is empty';
  if (secret !== secret.trim()) return 'has leading or trailing whitespace (a newline from the env file?)';
  if (!secret.startsWith(SECRET_PREFIX)) return `does not start with "${SECRET_PREFIX}" (a password or another provider's key?)`;
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (b64.length === 0) return `is "${SECRET_PREFIX}" alone`;
  // Canonical base64 only: what Buffer (and the standardwebhooks package) encode. Buffer.from() would
  // silently skip stray characters and decode a different key than the sender's.
  const key = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.toString('base64') !== b64) return 'is not valid base64 after the prefix';
  if (key.length < MIN_SECRET_BYTES) return `is a ${key.length}-byte key`;
  return null;
}

/**
 * The secrets as a non-empty list, each a usable `whsec_…` secret.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` naming the expected form
 */
function checkedSecrets(secret: unknown, where: string): string[] {
  const secrets: unknown[] = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...(secret as unknown[])] : [secret];
  if (secrets.length === 0)
    throw new SubscriptionWebhooksError('CONFIG_INVALID', `${where}: \`secret\` is an empty list; give the endpoint's secret: ${SECRET_FORM}`);
  secrets.forEach((s, i) => {
    const problem = secretProblem(s);
    if (problem) {
      const which = secrets.length > 1 ? `secret #${i + 1} of ${secrets.length}` : 'the secret';
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        `${where}: ${which} ${problem}; a webhook secret is ${SECRET_FORM} (as hooks.webhookEndpoints.create() returns it)`,
      );
    }
  });
  return secrets as string[];
}

/** The body as text; `BODY_NOT_RAW` (with {@link BODY_FIX}) for a parsed body. */
export function bodyText(rawBody: unknown): string {
  return readRawBody(rawBody, Number.POSITIVE_INFINITY, `The webhook body was already parsed; the signature is over the exact raw bytes. ${BODY_FIX}`);
}

/**
 * Verifies one outbound webhook (Standard Webhooks) and returns the event it carries.
 * The signature is checked first, then the timestamp, so only authentic requests report a clock problem.
 *
 * @param secret - the endpoint's `whsec_…` secret; during a rotation pass both, `[newSecret, oldSecret]`
 * @param headers - the request headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * @param rawBody - the body exactly as received
 * @example
 * ```ts
 * app.post('/api/payment/callback', express.raw({ type: 'application/json' }), (req, res) => {
 *   const event = verifyWebhook(process.env.WEBHOOK_SECRET!, req.headers, req.body);
 *   res.json({ code: 'OK' });
 * });
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` (a secret that is not `whsec_` + base64 of at least 24 bytes, checked
 * before the request), `WEBHOOK_SIGNATURE_INVALID` (missing headers, no matching `v1` signature),
 * `WEBHOOK_TIMESTAMP_OUT_OF_RANGE` (more than 5 minutes off), `BODY_NOT_RAW`, `BODY_INVALID` (not JSON)
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: HeadersLike,
  rawBody: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): DomainEvent {
  // The secret first: a secret that can never verify is the deployment's fault (500), not the sender's (400).
  const secrets = checkedSecrets(secret, 'verifyWebhook');
  const body = bodyText(rawBody);
  const id = getHeader(headers, 'webhook-id');
  const ts = getHeader(headers, 'webhook-timestamp');
  const sig = getHeader(headers, 'webhook-signature');
  if (!id || !ts || !sig) throw new SubscriptionWebhooksError('WEBHOOK_SIGNATURE_INVALID', 'Missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d{1,15}$/.test(ts)) throw new SubscriptionWebhooksError('WEBHOOK_SIGNATURE_INVALID', 'webhook-timestamp is not a number of seconds');
  const timestamp = Number(ts);
  const expected = secrets.map((s) => webhookSignature(s, id, timestamp, body));
  if (!signatureMatches(sig, expected)) throw new SubscriptionWebhooksError('WEBHOOK_SIGNATURE_INVALID', 'No webhook-signature matches the secret');
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSec = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSec - timestamp) > tolerance) {
    throw new SubscriptionWebhooksError(
      'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
      `webhook-timestamp is ${nowSec - timestamp} s away from now (tolerance ${tolerance} s)`,
    );
  }
  try {
    return JSON.parse(body) as DomainEvent;
  } catch (cause) {
    throw new SubscriptionWebhooksError('BODY_INVALID', 'Webhook body is not valid JSON', { cause });
  }
}

/** A request as {@link CallbackRoute.post} reads it: headers plus the raw body (`rawBody`, or `body` when it is a string/bytes). */
export interface CallbackRequest {
  headers: HeadersLike;
  rawBody?: string | Uint8Array;
  body?: unknown;
}

/** A handler for one event type; its request is the one given to `post`. Throwing makes the route answer non-2xx (redelivery). */
export type CallbackHandler<T extends EventType = EventType, R = CallbackRequest> = (event: DomainEvent<T>, req: R) => unknown;

/** Handlers by event type; `'*'` runs after the specific one, for every event. */
export type CallbackHandlers<R = CallbackRequest> = { [T in EventType]?: CallbackHandler<T, R> } & { '*'?: CallbackHandler<EventType, R> };

/** Options of {@link createCallbackRoute}. */
export interface CallbackRouteOptions<R = CallbackRequest> {
  /** The endpoint's `whsec_…` secret, or several during a rotation. */
  secret: string | readonly string[];
  on: CallbackHandlers<R>;
  /** @default 300 */
  toleranceSeconds?: number;
  /** Largest body read by the `.express()` / `.koa()` wrappers from the stream. @default 1048576 */
  maxBodyBytes?: number;
  /**
   * Longest wait, in ms, for the `.express()` / `.koa()` wrappers to receive the whole body from the stream;
   * a slower client gets 408 `BODY_TIMEOUT` (with `connection: close`) and no handler runs. A body parser
   * mounted before the route reads the body itself, under its own limits.
   * @default 10000
   */
  bodyTimeoutMs?: number;
  /** Called with errors that turn into a non-2xx answer (bad signatures, throwing handlers). */
  onError?: (error: unknown) => void;
  /**
   * Replay protection: a `webhook-id` whose handlers already succeeded is answered 200
   * `{ code: 'OK', duplicate: true }` without running them again, for twice `toleranceSeconds` (the
   * longest a captured request stays within the timestamp check). Ids are kept in memory (an LRU of
   * `replayCacheSize`) unless a `store` is given: then in its `sw_webhook_receipts` table, shared by
   * every instance (memoryStore, prismaStore, pgStore and sqliteStore implement it). The same id
   * arriving while its handlers still run is answered 409 `CONFLICT`, so the sender retries it later.
   */
  store?: Pick<Store, 'hasWebhookReceipt' | 'recordWebhookReceipt'>;
  /** Ids remembered in memory when no `store` is given. @default 10000 */
  replayCacheSize?: number;
}

/** The framework-free part of a callback route: what the `.express()` / `.koa()` wrappers call. */
export interface CallbackCore {
  /**
   * Verify, run the handlers, answer `{ code: 'OK' }` (`duplicate: true` for a replay of an accepted
   * `webhook-id`: no handler runs). Rejects (with the error's `status`) on a bad signature, a throwing
   * handler, or 409 `CONFLICT` while the same id is being handled.
   */
  post(req: CallbackRequest): Promise<{ code: 'OK'; duplicate?: true }>;
}

/**
 * Which webhook ids were accepted within the replay window: in memory (insertion-ordered map, oldest
 * evicted first) or in the store's receipt table; plus the ids being handled right now in this process.
 */
function replayGuard(store: Pick<Store, 'hasWebhookReceipt' | 'recordWebhookReceipt'> | undefined, size: number, windowMs: number) {
  if (store && (typeof store.hasWebhookReceipt !== 'function' || typeof store.recordWebhookReceipt !== 'function')) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'createCallbackRoute: `store` must implement hasWebhookReceipt and recordWebhookReceipt (memoryStore, prismaStore, pgStore and sqliteStore do)',
    );
  }
  if (!Number.isInteger(size) || size < 1)
    throw new SubscriptionWebhooksError('CONFIG_INVALID', 'createCallbackRoute: `replayCacheSize` must be a positive integer');
  const accepted = new Map<string, number>();
  const inFlight = new Set<string>();
  return {
    async seen(id: string): Promise<boolean> {
      const now = Date.now();
      if (store) return store.hasWebhookReceipt!(id, new Date(now - windowMs).toISOString());
      const at = accepted.get(id);
      return at !== undefined && at >= now - windowMs;
    },
    begin(id: string): boolean {
      if (inFlight.has(id)) return false;
      inFlight.add(id);
      return true;
    },
    end(id: string): void {
      inFlight.delete(id);
    },
    async accept(id: string): Promise<void> {
      const now = Date.now();
      if (store) return store.recordWebhookReceipt!(id, new Date(now).toISOString(), new Date(now - windowMs).toISOString());
      accepted.delete(id);
      accepted.set(id, now);
      for (const [old, at] of accepted) {
        if (accepted.size <= size && at >= now - windowMs) break;
        accepted.delete(old);
      }
    },
  };
}

/** The answer for an error: its status and `{ code, message }` (a handler's own error stays in the app's logs; the sender only learns to retry). */
export function callbackErrorAnswer(err: unknown): { status: number; body: { code: string; message: string } } {
  const e = err instanceof SubscriptionWebhooksError ? err : null;
  return { status: e?.status ?? 500, body: { code: e?.code ?? 'INTERNAL', message: e?.message ?? 'Handler failed' } };
}

/**
 * Checks the options once and returns the route's framework-free core (`post`). See `createCallbackRoute`
 * (`subscription-webhooks/callback`), which adds the Express and Koa wrappers.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` when a `secret` is missing or not `whsec_` + base64 of at least 24 bytes, or `on` is not an object
 */
export function createCallbackCore<R extends CallbackRequest = CallbackRequest>(options: CallbackRouteOptions<R>): CallbackCore {
  const secrets = checkedSecrets(options.secret, 'createCallbackRoute');
  if (typeof options.on !== 'object' || options.on === null)
    throw new SubscriptionWebhooksError('CONFIG_INVALID', 'createCallbackRoute: `on` must map event types to handlers');
  const handlers = options.on as Record<string, CallbackHandler<EventType, R> | undefined>;
  const windowMs = 2 * (options.toleranceSeconds ?? 300) * 1000;
  const receipts = replayGuard(options.store, options.replayCacheSize ?? 10_000, windowMs);

  async function post(req: CallbackRequest): Promise<{ code: 'OK'; duplicate?: true }> {
    const raw = req.rawBody ?? req.body;
    const event = verifyWebhook(secrets, req.headers, raw as string | Uint8Array, { toleranceSeconds: options.toleranceSeconds });
    const id = getHeader(req.headers, 'webhook-id')!;
    if (await receipts.seen(id)) return { code: 'OK', duplicate: true };
    if (!receipts.begin(id)) throw new SubscriptionWebhooksError('CONFLICT', `webhook ${id} is being handled right now; retry it later`);
    try {
      // Own handlers only: an event type naming an Object.prototype member ("constructor", "__proto__") has none.
      if (Object.hasOwn(handlers, event.type)) await handlers[event.type]?.(event, req as R);
      await handlers['*']?.(event, req as R);
      // Accepted only once every handler succeeded: a failure leaves the id free for the sender's retry.
      await receipts.accept(id);
    } finally {
      receipts.end(id);
    }
    return { code: 'OK' };
  }

  return { post };
}
