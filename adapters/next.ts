import type { NextApiRequest, NextApiResponse } from 'next';
import type { NextRequest } from 'next/server.js';
import { createAdminDashboard, type AdminDashboardOptions, type RouteName, type SubscriptionWebhooks } from '../src/index.js';
import { fetchRouteHandler, type FetchOptions } from './fetch.js';
import { DEFAULT_BODY_TIMEOUT_MS, handleRequest, maxBodyBytesOf, methodNotAllowed, type GetUserId, readNodeBody } from '../src/adapter-kit.js';
import { writeNodeResponse } from './node-bridge.js';

/** The hooks, or a function returning them: nothing is created while `next build` evaluates route modules. */
export type HooksOrGetter = SubscriptionWebhooks | (() => SubscriptionWebhooks);
const resolve = (hooks: HooksOrGetter) => (typeof hooks === 'function' ? hooks() : hooks);

const FIX = 'Turn off Next.js body parsing for this API route: export const config = { api: { bodyParser: false } }.';

/**
 * Next.js App Router route handler for one route: `{ POST }` taking the Web `Request`. Use the Node.js
 * runtime and create `hooks` once, at module level (one store, one bus for the whole server); pass a
 * function returning them when their config (env, database) is only there at run time, not at build.
 *
 * @example
 * ```ts
 * // app/api/users/app-store-notifications/route.ts
 * import { nextRouteHandler } from 'subscription-webhooks/next';
 * import { hooks } from '@/lib/subscriptions';
 * export const runtime = 'nodejs';
 * export const { POST } = nextRouteHandler(hooks, 'apple');
 * ```
 */
export function nextRouteHandler(hooks: HooksOrGetter, route: RouteName, options: NextRouteOptions = {}): { POST: (request: Request) => Promise<Response> } {
  return { POST: (request) => fetchRouteHandler(resolve(hooks), route, options as FetchOptions)(request) };
}

/** Options of {@link nextRouteHandler}. */
export interface NextRouteOptions extends Omit<FetchOptions, 'getUserId'> {
  /**
   * Who is calling the client transaction route: your session's user id, or null/undefined to answer 401.
   * `req` is the `NextRequest` Next.js hands to route handlers (cookies, nextUrl, headers).
   */
  getUserId?: GetUserId<NextRequest>;
}

/** Options of {@link nextApiHandler}. */
export interface NextApiOptions {
  /** Who is calling the client transaction route: your session's user id, or null/undefined to answer 401. */
  getUserId?: GetUserId<NextApiRequest>;
  /**
   * Longest wait for the whole body, in ms; slower clients get 408 `BODY_TIMEOUT`.
   * @default 10000
   */
  bodyTimeoutMs?: number;
}

/**
 * Next.js Pages Router API route for one route. The raw body is needed, so turn Next's body parser off.
 *
 * @example
 * ```ts
 * // pages/api/users/app-store-notifications.ts
 * import { nextApiHandler } from 'subscription-webhooks/next';
 * import { hooks } from '@/lib/subscriptions';
 * export const config = { api: { bodyParser: false } };
 * export default nextApiHandler(hooks, 'apple');
 * ```
 */
export function nextApiHandler(
  hooks: HooksOrGetter,
  route: RouteName,
  options: NextApiOptions = {},
): (req: NextApiRequest, res: NextApiResponse) => Promise<void> {
  const { getUserId, bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS } = options;
  return async (req, res) => {
    const h = resolve(hooks);
    if (req.method !== 'POST') return writeNodeResponse(res, methodNotAllowed(h, route));
    const response = await handleRequest(h, route, {
      headers: req.headers,
      readBody: () => readNodeBody(req, req, { maxBytes: maxBodyBytesOf(h), timeoutMs: bodyTimeoutMs, fix: FIX }),
      getUserId: getUserId && (() => getUserId(req)),
    });
    writeNodeResponse(res, response);
  };
}

/**
 * The admin dashboard as App Router handlers for a catch-all route: put it at
 * `app/admin/subscriptions/[[...path]]/route.ts` and give that folder as `basePath`.
 *
 * @example
 * ```ts
 * // app/admin/subscriptions/[[...path]]/route.ts
 * import { adminDashboard } from 'subscription-webhooks/next';
 * export const runtime = 'nodejs';
 * export const { GET, POST } = adminDashboard(getHooks, { basePath: '/admin/subscriptions', authorize: async (req) => ((await isAdmin(req)) ? 'read-write' : 'denied') });
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` (on the first request) without `authorize` (see {@link AdminDashboardOptions.allowUnauthenticated})
 */
export function adminDashboard(
  hooks: HooksOrGetter,
  options: AdminDashboardOptions<Request> & { basePath: string },
): { GET: (request: Request) => Promise<Response>; POST: (request: Request) => Promise<Response> } {
  let dashboard: ReturnType<typeof createAdminDashboard<Request>> | null = null;
  const handle = (request: Request): Promise<Response> =>
    (dashboard ??= createAdminDashboard(resolve(hooks), options)).handle(request, request, options.basePath);
  return { GET: handle, POST: handle };
}
