import { Router } from '@koa/router';
import type { Context } from 'koa';
import { createAdminDashboard, getDefaultHooks, type AdminDashboardOptions, type HandlerResponse, type SubscriptionWebhooks } from '../src/index.js';
import { nodeToWebRequest, writeWebResponse } from './admin-bridge.js';
import { DEFAULT_BODY_TIMEOUT_MS, handleRequest, maxBodyBytesOf, mountsOf, methodNotAllowed, type GetUserId, readNodeBody } from '../src/adapter-kit.js';

const FIX =
  'Mount subscriptionWebhooksRouter() before the body parser, or keep the raw body: koa-bodyparser and @koa/bodyparser set ctx.request.rawBody for the types they parse (enableTypes: ["json", "text"]).';

/** Options of {@link subscriptionWebhooksRouter}. */
export interface KoaOptions {
  /** Router prefix, e.g. `/hooks`: routes are served at prefix + path. */
  prefix?: string;
  /** Who is calling the client transaction route: your session's user id, or null/undefined to answer 401. */
  getUserId?: GetUserId<Context>;
  /**
   * Longest wait for the whole body, in ms; slower clients get 408 `BODY_TIMEOUT`.
   * @default 10000
   */
  bodyTimeoutMs?: number;
}

/**
 * A `@koa/router` Router serving every route in `mountsOf(hooks)` (POST; another method on those
 * paths gets 405). Works with or without a body parser before it, as long as the raw body is
 * still there (unread stream, or `ctx.request.rawBody`); otherwise answers 500 `BODY_NOT_RAW`.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { subscriptionWebhooksRouter } from 'subscription-webhooks/koa';
 * const app = new Koa();
 * const router = subscriptionWebhooksRouter(hooks, { getUserId: (ctx) => ctx.state.user?.id });
 * app.use(router.routes()).use(router.allowedMethods());
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` (zero-argument form) when the env is incomplete.
 */
export function subscriptionWebhooksRouter(hooks: SubscriptionWebhooks = getDefaultHooks(), options: KoaOptions = {}): Router {
  const { getUserId, bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS } = options;
  const router = new Router(options.prefix ? { prefix: options.prefix } : {});
  for (const { path, route } of mountsOf(hooks)) {
    router.post(path, async (ctx) => {
      const request = ctx.request as typeof ctx.request & { body?: unknown; rawBody?: unknown };
      const response = await handleRequest(hooks, route, {
        headers: ctx.req.headers,
        readBody: () => readNodeBody(ctx.req, request, { maxBytes: maxBodyBytesOf(hooks), timeoutMs: bodyTimeoutMs, fix: FIX }),
        getUserId: getUserId && (() => getUserId(ctx)),
      });
      send(ctx, response);
    });
    router.all(path, (ctx) => send(ctx, methodNotAllowed(hooks, route)));
  }
  return router;
}

function send(ctx: Context, response: HandlerResponse): void {
  // Body before status: Koa turns a null body into 204 and a string body into 200 unless the status is set after.
  ctx.body = response.body;
  ctx.status = response.status;
  ctx.set(response.headers);
}

/**
 * The admin dashboard as Koa middleware serving every path under `basePath` (other paths go on to `next`).
 * `authorize` gets Koa's `ctx`.
 *
 * @example
 * ```ts
 * import { adminDashboard } from 'subscription-webhooks/koa';
 * app.use(adminDashboard(hooks, { basePath: '/admin/subscriptions', authorize: (ctx) => (ctx.state.user?.admin ? 'read-write' : 'denied') }));
 * ```
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` without `authorize` (see {@link AdminDashboardOptions.allowUnauthenticated})
 */
export function adminDashboard(hooks: SubscriptionWebhooks, options: AdminDashboardOptions<Context> & { basePath: string }) {
  const dashboard = createAdminDashboard(hooks, options);
  const base = options.basePath.replace(/\/+$/, '');
  return async (ctx: Context, next: () => Promise<unknown>): Promise<void> => {
    if (ctx.path !== base && !ctx.path.startsWith(`${base}/`)) {
      await next();
      return;
    }
    const web = await nodeToWebRequest(ctx.req, `${ctx.protocol}://${ctx.host}${ctx.originalUrl}`, (ctx.request as { body?: unknown }).body);
    const response = await dashboard.handle(web, ctx, base);
    ctx.respond = false;
    await writeWebResponse(ctx.res, response);
  };
}
