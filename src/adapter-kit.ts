/**
 * The adapter kit: what the framework adapters (`subscription-webhooks/express`, `/koa`, `/next`, `/fetch`,
 * `/callback`) share, framework-free: the request flow (user → raw body → core), the route lookup, errors
 * answered in the route's own wire format, and the Node body reader. Published as
 * `subscription-webhooks/adapter-kit` for adapters of other frameworks.
 * @module subscription-webhooks/adapter-kit
 */
import type { IncomingMessage } from 'node:http';
import { SubscriptionWebhooksError, withStatus } from './core/errors.js';
import type { SubscriptionWebhooks } from './core/handler.js';
import { ADAPTER_SIDE, type AdapterSide, type HandlerResponse, type HeadersLike, type RouteName } from './core/types.js';

export { readRawBody } from './core/body.js';
export type { HandlerRequest, HandlerResponse, HandlerResult, HeadersLike, RouteName } from './core/types.js';

/** Default cap on the time to receive a whole body: a slow-loris client gets 408 instead of holding a socket. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** Where a framework may have left the body: Express's `req.body`, Koa's `ctx.request.body` / `rawBody`. */
export interface ParsedBody {
  body?: unknown;
  rawBody?: unknown;
}

/** Limits and wording of {@link readNodeBody}. */
export interface NodeBodyOptions {
  /** Largest body accepted, in bytes (413 `BODY_TOO_LARGE` beyond). */
  maxBytes: number;
  /** Longest wait for the whole body, in ms (408 `BODY_TIMEOUT` beyond). */
  timeoutMs: number;
  /** How to fix `BODY_NOT_RAW` in this framework (goes into the error message). */
  fix: string;
}

/**
 * Reads a Node request's exact bytes, capped at `maxBytes` (413 `BODY_TOO_LARGE`) and `timeoutMs` (408
 * `BODY_TIMEOUT`). A body a parser kept as a Buffer or string is the raw body and is used as is; a
 * consumed stream means the raw bytes are gone, which `BODY_NOT_RAW` reports with the fix. On an error
 * the stream is paused, not destroyed: the 408/413 can still be written on the socket (answer it with
 * `connection: close`, the rest of the body is never read). What every Node adapter and the
 * `subscription-webhooks/callback` wrappers read bodies with.
 *
 * @throws SubscriptionWebhooksError (rejects) `BODY_TOO_LARGE`, `BODY_TIMEOUT`, `BODY_NOT_RAW`, `BODY_INVALID` (client aborted)
 */
export function readNodeBody(req: IncomingMessage, parsed: ParsedBody, options: NodeBodyOptions): Promise<string | Uint8Array> {
  for (const v of [parsed.rawBody, parsed.body]) if (typeof v === 'string' || v instanceof Uint8Array) return Promise.resolve(v);
  // body-parser marks a body it consumed with `_body`; a stream that already ended has nothing left to read.
  if ((req as { _body?: unknown })._body === true || req.readableEnded) {
    return Promise.reject(new SubscriptionWebhooksError('BODY_NOT_RAW', `The request body was already consumed by a body parser. ${options.fix}`));
  }
  const { maxBytes } = options;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done).off('aborted', onAborted);
      // Stop reading but keep the socket: the answer (408/413) still has to be written on it.
      if (err) req.pause();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(tooLarge(maxBytes));
      else chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onAborted = () => done(new SubscriptionWebhooksError('BODY_INVALID', 'The client aborted the request'));
    const timer = setTimeout(() => done(new SubscriptionWebhooksError('BODY_TIMEOUT', `Body not received within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', done).on('aborted', onAborted);
  });
}

const tooLarge = (maxBytes: number) => new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);

/** Who is calling a client route (Apple transactions, Google purchase tokens): your session's user id, or null/undefined to answer 401. */
export type GetUserId<Req> = (req: Req) => string | null | undefined | Promise<string | null | undefined>;

/** One request as every adapter sees it: headers, a way to read the raw body, and the user (if any). */
export interface AdapterRequest {
  headers: HeadersLike;
  readBody(): Promise<string | Uint8Array>;
  getUserId?: () => ReturnType<GetUserId<unknown>>;
}

/**
 * The whole adapter flow, framework-free: user → raw body → core. Never throws; errors raised before
 * the core ran (reading the body) are logged and answered like the core's own.
 */
export async function handleRequest(hooks: SubscriptionWebhooks, route: RouteName, req: AdapterRequest): Promise<HandlerResponse> {
  try {
    let userId: string | null | undefined;
    if ((route === 'appleTransaction' || route === 'googlePurchase') && req.getUserId) {
      userId = await req.getUserId();
      // 401 in the route's own wire format (the error code says what is missing: a signed-in user).
      if (!userId) return errorResponse(hooks, route, withStatus(new SubscriptionWebhooksError('USER_NOT_FOUND', 'Sign in first'), 401));
    }
    const rawBody = await req.readBody();
    return (await hooks.handle(route, { headers: req.headers, rawBody, userId })).response;
  } catch (err) {
    // Logged as the core logs its own: 413/408 at warn, a flood summarised per code; anything else at error.
    return errorResponse(hooks, route, err, true);
  }
}

/** The mounted route for a POST path (a trailing slash is ignored). */
export function routeFor(hooks: SubscriptionWebhooks, path: string): RouteName | undefined {
  const p = path.length > 1 ? path.replace(/\/$/, '') : path;
  return mountsOf(hooks).find((m) => m.path === p)?.route;
}

/** The answer for an error raised outside the core (body reading, method), in the route's own wire format. */
export function errorResponse(hooks: SubscriptionWebhooks, route: RouteName, err: unknown, log = false): HandlerResponse {
  const response = sideOf(hooks).errorResponse(route, err, { log });
  // After 408/413 the rest of the body is never read, so the connection cannot be reused.
  const headers: Record<string, string> = { ...response.headers };
  if (response.status === 408 || response.status === 413) headers.connection = 'close';
  if (response.status === 405) headers.allow = 'POST';
  return { ...response, headers };
}

/** 405 for a mounted path called with another method than POST. */
export const methodNotAllowed = (hooks: SubscriptionWebhooks, route: RouteName): HandlerResponse =>
  errorResponse(hooks, route, new SubscriptionWebhooksError('METHOD_NOT_ALLOWED', 'Use POST'));

/** The adapter side of an instance (an object made by an older copy of the package has only the deprecated members). */
function sideOf(hooks: SubscriptionWebhooks): AdapterSide {
  return hooks[ADAPTER_SIDE] ?? hooks;
}

/** The routes to mount (POST only): one entry per configured route, path → route name. */
export function mountsOf(hooks: SubscriptionWebhooks): ReadonlyArray<{ path: string; route: RouteName }> {
  return sideOf(hooks).mounts;
}

/** The largest request body the instance accepts, in bytes (`maxBodyBytes`; beyond it, 413 `BODY_TOO_LARGE`). */
export function maxBodyBytesOf(hooks: SubscriptionWebhooks): number {
  return sideOf(hooks).maxBodyBytes;
}
