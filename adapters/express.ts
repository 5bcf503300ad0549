import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSubscriptionWebhooks, type RouteName, type SubscriptionWebhooks } from '../src/index.js';
import { errorResponse, readNodeBody, writeNodeResponse } from './node-bridge.js';

/** Express-compatible request (Express 4 and 5). Only what we read. */
type Req = IncomingMessage & { path?: string; body?: unknown };
type Next = (err?: unknown) => void;

/** Options of {@link subscriptionWebhooks}. */
export interface ExpressOptions {
  /**
   * Who is calling the client transaction route: your session's user id, or null/undefined to answer 401.
   * Without it, the route relies on the order (appAccountToken) to know the user.
   */
  getUserId?: (req: Req) => string | null | undefined | Promise<string | null | undefined>;
}

/**
 * Express middleware (Express 4 and 5) that mounts the Apple notification route and the client
 * transaction route at the paths in `hooks.routes`. Reads the raw body itself: mount it before
 * `express.json()`.
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
export function subscriptionWebhooks(hooks: SubscriptionWebhooks = createSubscriptionWebhooks(), options: ExpressOptions = {}) {
  const routes = new Map<string, RouteName>(hooks.mounts.map((m) => [m.path, m.route]));
  return async function subscriptionWebhooksMiddleware(req: Req, res: ServerResponse, next: Next): Promise<void> {
    const path = req.path ?? (req.url ?? '/').split('?')[0]!;
    const route = req.method === 'POST' ? routes.get(path.length > 1 ? path.replace(/\/$/, '') : path) : undefined;
    if (!route) return next();
    try {
      let userId: string | null | undefined;
      if (route === 'appleTransaction' && options.getUserId) {
        userId = await options.getUserId(req);
        if (!userId) {
          writeNodeResponse(res, { status: 401, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ code: 401, message: 'Sign in first', data: { processed: false, error: 'USER_NOT_FOUND' } }) });
          return;
        }
      }
      const rawBody = await readNodeBody(req, hooks.maxBodyBytes);
      const { response } = await hooks.handle(route, { headers: req.headers, rawBody, userId });
      writeNodeResponse(res, response);
    } catch (err) {
      hooks.logger.error({ err, path }, (err as Error).message);
      writeNodeResponse(res, errorResponse(err));
    }
  };
}
