/**
 * The receiving side of our outbound webhooks: verify a delivery (Standard Webhooks) and route it to
 * handlers, in the shape of Payment Kit's `api/routes/payment/callback.js`. The framework-free core is
 * src/callback-core.ts; this entry adds the `.express()` / `.koa()` wrappers.
 * @module subscription-webhooks/callback
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bodyText, BODY_FIX, callbackErrorAnswer, createCallbackCore, type CallbackRequest, type CallbackRouteOptions } from '../src/callback-core.js';
import { DEFAULT_BODY_TIMEOUT_MS, readNodeBody } from '../src/adapter-kit.js';

export { verifyWebhook } from '../src/callback-core.js';
export type { VerifyWebhookOptions, CallbackRequest, CallbackHandler, CallbackHandlers, CallbackRouteOptions, HeadersLike } from '../src/callback-core.js';

/** The minimal Express request/response used by {@link CallbackRoute.express} (Express 4 and 5 fit). */
export type ExpressLikeRequest = IncomingMessage & { body?: unknown; rawBody?: string | Uint8Array };
/** The minimal Koa context used by {@link CallbackRoute.koa}. */
export interface KoaLikeContext {
  req: IncomingMessage;
  request: { headers: IncomingMessage['headers']; body?: unknown; rawBody?: string };
  status: number;
  body: unknown;
  /** Sets a response header (Koa's `ctx.set`); used for `connection: close` after a 408/413. */
  set?(field: string, value: string): unknown;
}

/** What {@link createCallbackRoute} returns. */
export interface CallbackRoute {
  /**
   * Verify, run the handlers, answer `{ code: 'OK' }` (`duplicate: true` for a replay of an accepted
   * `webhook-id`: no handler runs). Rejects (with the error's `status`) on a bad signature, a throwing
   * handler, or 409 `CONFLICT` while the same id is being handled.
   */
  post(req: CallbackRequest): Promise<{ code: 'OK'; duplicate?: true }>;
  /** Express 4/5 handler: `app.post('/api/payment/callback', route.express())`. Mount it before `express.json()`, or give it `express.raw()`. */
  express(): (req: ExpressLikeRequest, res: ServerResponse, next?: (err?: unknown) => void) => Promise<void>;
  /** Koa handler: `router.post('/api/payment/callback', route.koa())`. Works with or without koa-bodyparser (uses `ctx.request.rawBody`). */
  koa(): (ctx: KoaLikeContext, next?: () => Promise<unknown>) => Promise<void>;
}

/** A parsed body (an object) means a JSON parser ran first; raw bytes and strings are what we verify. */
const isRaw = (v: unknown): v is string | Uint8Array => typeof v === 'string' || v instanceof Uint8Array;

/** 408 and 413 are answered without reading the rest of the body. */
const leavesBodyUnread = (status: number) => status === 408 || status === 413;

/**
 * A callback route in the shape of Payment Kit's `api/routes/payment/callback.js`: `{ post: async (req) => ({ code: 'OK' }) }`,
 * verifying the signature before any handler runs.
 *
 * @example
 * ```js
 * // api/routes/payment/callback.js
 * const { createCallbackRoute } = require('subscription-webhooks/callback');
 * module.exports = createCallbackRoute({
 *   secret: process.env.PAYMENT_WEBHOOK_SECRET,
 *   on: {
 *     'manual.notification': async (event) => sendCustomEmail(event.data.object.data),
 *     'customer.subscription.renewed': async (event) => extendAccess(event.data.object),
 *   },
 * });
 * // Express: app.post('/api/payment/callback', module.exports.express())
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` when a `secret` is missing or not `whsec_` + base64 of at least 24 bytes
 * (a password, a trailing newline, a short key: none could ever verify), or `on` is not an object
 */
export function createCallbackRoute<R extends CallbackRequest = CallbackRequest>(options: CallbackRouteOptions<R>): CallbackRoute {
  const { post } = createCallbackCore(options);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;

  async function rawFrom(stream: IncomingMessage, ...candidates: unknown[]): Promise<string | Uint8Array> {
    for (const c of candidates) if (isRaw(c)) return c;
    // Something already consumed the stream (a JSON body parser): the exact bytes are gone.
    if (candidates.some((c) => c !== undefined && c !== null) || stream.readableEnded) return bodyText(undefined);
    // Capped in size (413 BODY_TOO_LARGE) and time (408 BODY_TIMEOUT); on either the stream is paused, not read further.
    return readNodeBody(stream, {}, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs, fix: BODY_FIX });
  }

  return {
    post,
    express() {
      return async (req, res) => {
        let answer: { status: number; body: unknown };
        try {
          const rawBody = await rawFrom(req, req.rawBody, req.body);
          answer = { status: 200, body: await post({ headers: req.headers, rawBody, body: req.body }) };
        } catch (err) {
          options.onError?.(err);
          answer = callbackErrorAnswer(err);
        }
        res.statusCode = answer.status;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        // After a 408/413 the rest of the body is never read, so the connection cannot be reused.
        if (leavesBodyUnread(answer.status)) res.setHeader('connection', 'close');
        res.end(JSON.stringify(answer.body));
      };
    },
    koa() {
      return async (ctx) => {
        try {
          const rawBody = await rawFrom(ctx.req, ctx.request.rawBody, ctx.request.body);
          ctx.body = await post({ headers: ctx.request.headers, rawBody, body: ctx.request.body });
          ctx.status = 200;
        } catch (err) {
          options.onError?.(err);
          const a = callbackErrorAnswer(err);
          ctx.status = a.status;
          ctx.body = a.body;
          if (leavesBodyUnread(a.status)) ctx.set?.('connection', 'close');
        }
      };
    },
  };
}
