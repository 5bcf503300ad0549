import { SubscriptionWebhooksError, type HandlerResponse, type HeadersLike, type RouteName, type SubscriptionWebhooks } from '../src/index.js';

// The default body timeout lives in the core, shared with `subscription-webhooks/callback`.
export { DEFAULT_BODY_TIMEOUT_MS } from '../src/index.js';

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
      if (!userId) return unauthorizedResponse();
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
  return hooks.mounts.find((m) => m.path === p)?.route;
}

/** The answer for an error raised outside the core (body reading, method), in the route's own wire format. */
export function errorResponse(hooks: SubscriptionWebhooks, route: RouteName, err: unknown, log = false): HandlerResponse {
  const response = hooks.errorResponse(route, err, { log });
  // After 408/413 the rest of the body is never read, so the connection cannot be reused.
  const headers: Record<string, string> = { ...response.headers };
  if (response.status === 408 || response.status === 413) headers.connection = 'close';
  if (response.status === 405) headers.allow = 'POST';
  return { ...response, headers };
}

/** 405 for a mounted path called with another method than POST. */
export const methodNotAllowed = (hooks: SubscriptionWebhooks, route: RouteName): HandlerResponse =>
  errorResponse(hooks, route, new SubscriptionWebhooksError('METHOD_NOT_ALLOWED', 'Use POST'));

function unauthorizedResponse(): HandlerResponse {
  const body = { code: 401, message: 'Sign in first', data: { processed: false, error: 'USER_NOT_FOUND' } };
  return { status: 401, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) };
}
