import type { NextFunction, Request, Response } from 'express';
import { createAdminDashboard, getDefaultHooks, type AdminDashboardOptions, type SubscriptionWebhooks } from '../src/index.js';
import { nodeToWebRequest, writeWebResponse } from './admin-bridge.js';
import { DEFAULT_BODY_TIMEOUT_MS, handleRequest, maxBodyBytesOf, methodNotAllowed, routeFor, type GetUserId, readNodeBody } from '../src/adapter-kit.js';
import { writeNodeResponse } from './node-bridge.js';

const FIX = 'Mount subscriptionWebhooks() before it (e.g. before express.json()), or use express.raw({ type: "*/*" }) on these routes.';

/** Options of {@link subscriptionWebhooks}. */
export interface ExpressOptions {
  /**
   * Who is calling the client transaction route: your session's user id, or null/undefined to answer 401.
   * `req` is Express's own `Request`, so what your auth middleware adds (and declares through module
   * augmentation, e.g. express-session's `req.session`) is typed. Without it, the route relies on the order (appAccountToken) to know the user.
   */
  getUserId?: GetUserId<Request>;
  /**
   * Longest wait for the whole body, in ms; slower clients get 408 `BODY_TIMEOUT`.
   * @default 10000
   */
  bodyTimeoutMs?: number;
}

/**
 * Express middleware (Express 4 and 5) that serves every route in `mountsOf(hooks)` (POST; another
 * method on those paths gets 405). Reads the raw body itself: mount it before `express.json()`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { subscriptionWebhooks } from 'subscription-webhooks/express';
 * const app = express();
 * app.use(subscriptionWebhooks(hooks, { getUserId: (req) => req.session?.userId }));
 * app.use(express.json()); // your own routes after
 * ```
 * With no arguments it builds hooks from env (`APPLE_BUNDLE_ID`, `APPLE_APP_APPLE_ID`, `APPLE_ENVIRONMENTS`).
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` (zero-argument form) when the env is incomplete.
 */
export function subscriptionWebhooks(hooks: SubscriptionWebhooks = getDefaultHooks(), options: ExpressOptions = {}) {
  const { getUserId, bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS } = options;
  return async function subscriptionWebhooksMiddleware(req: Request, res: Response, next: NextFunction): Promise<void> {
    // Mounted under a path (`app.use('/api', mw)`, a Router) Express strips it from req.path: add baseUrl back.
    const route = routeFor(hooks, (req.baseUrl ?? '') + (req.path ?? (req.url ?? '/').split('?')[0]!));
    if (!route) return next();
    if (req.method !== 'POST') return writeNodeResponse(res, methodNotAllowed(hooks, route));
    const response = await handleRequest(hooks, route, {
      headers: req.headers,
      readBody: () => readNodeBody(req, req as Request & { rawBody?: unknown }, { maxBytes: maxBodyBytesOf(hooks), timeoutMs: bodyTimeoutMs, fix: FIX }),
      getUserId: getUserId && (() => getUserId(req)),
    });
    writeNodeResponse(res, response);
  };
}

/**
 * The admin dashboard as Express middleware: mount it under the path you choose. `authorize` gets
 * Express's own `req` (your session) and answers `read`, `read-write` or `denied`.
 *
 * @example
 * ```ts
 * import { adminDashboard } from 'subscription-webhooks/express';
 * app.use('/admin/subscriptions', adminDashboard(hooks, { authorize: (req) => (req.session?.admin ? 'read-write' : 'denied') }));
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` without `authorize` (see {@link AdminDashboardOptions.allowUnauthenticated})
 */
export function adminDashboard(hooks: SubscriptionWebhooks, options: AdminDashboardOptions<Request>) {
  const dashboard = createAdminDashboard(hooks, options);
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
    nodeToWebRequest(req, url, req.body)
      .then((web) => dashboard.handle(web, req, req.baseUrl))
      .then((response) => writeWebResponse(res, response))
      .catch(next);
  };
}
