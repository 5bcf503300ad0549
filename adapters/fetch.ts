import { createAdminDashboard, getDefaultHooks, type AdminDashboardOptions, type RouteName, type SubscriptionWebhooks } from '../src/index.js';
import { DEFAULT_BODY_TIMEOUT_MS, handleRequest, maxBodyBytesOf, methodNotAllowed, routeFor, type GetUserId } from '../src/adapter-kit.js';
import { readWebBody, toWebResponse } from './web-bridge.js';

/** Options of {@link fetchHandler} and {@link fetchRouteHandler}. */
export interface FetchOptions {
  /** Who is calling the client transaction route: your session's user id, or null/undefined to answer 401. */
  getUserId?: GetUserId<Request>;
  /**
   * Longest wait for the whole body, in ms; slower clients get 408 `BODY_TIMEOUT`.
   * @default 10000
   */
  bodyTimeoutMs?: number;
}

/**
 * A Web-standard handler for every route in `mountsOf(hooks)`, routed by the request's path: 404 for
 * other paths, 405 for another method than POST. For Hono, Bun, Deno, Workers-style servers.
 *
 * @example
 * ```ts
 * import { fetchHandler } from 'subscription-webhooks/fetch';
 * const handle = fetchHandler(hooks);
 * Bun.serve({ fetch: handle });                    // or Deno.serve(handle)
 * app.post('/api/*', (c) => handle(c.req.raw));    // Hono
 * ```
 */
export function fetchHandler(hooks: SubscriptionWebhooks = getDefaultHooks(), options: FetchOptions = {}): (request: Request) => Promise<Response> {
  return async (request) => {
    const route = routeFor(hooks, new URL(request.url).pathname);
    if (!route) return new Response('Not Found', { status: 404 });
    return fetchRouteHandler(hooks, route, options)(request);
  };
}

/**
 * A Web-standard handler for one route, whatever the path (the framework routes).
 *
 * @example
 * ```ts
 * export const POST = fetchRouteHandler(hooks, 'apple');
 * ```
 */
export function fetchRouteHandler(hooks: SubscriptionWebhooks, route: RouteName, options: FetchOptions = {}): (request: Request) => Promise<Response> {
  const { getUserId, bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS } = options;
  return async (request) => {
    if (request.method !== 'POST') return toWebResponse(methodNotAllowed(hooks, route));
    const response = await handleRequest(hooks, route, {
      headers: request.headers,
      readBody: () => readWebBody(request, maxBodyBytesOf(hooks), bodyTimeoutMs),
      getUserId: getUserId && (() => getUserId(request)),
    });
    return toWebResponse(response);
  };
}

/**
 * The admin dashboard as a Web-standard handler for every path under `basePath` (GET pages and
 * `/api/...`, POST actions). `authorize` gets the `Request`.
 *
 * @example
 * ```ts
 * import { adminDashboard } from 'subscription-webhooks/fetch';
 * const admin = adminDashboard(hooks, { basePath: '/admin/subscriptions', authorize: (req) => (isAdmin(req) ? 'read' : 'denied') });
 * app.all('/admin/subscriptions/*', (c) => admin(c.req.raw)); // Hono
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` without `authorize` (see {@link AdminDashboardOptions.allowUnauthenticated})
 */
export function adminDashboard(
  hooks: SubscriptionWebhooks,
  options: AdminDashboardOptions<Request> & { basePath: string },
): (request: Request) => Promise<Response> {
  const dashboard = createAdminDashboard(hooks, options);
  return (request) => dashboard.handle(request, request, options.basePath);
}
