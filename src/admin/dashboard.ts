import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SubscriptionWebhooksError, HTTP_STATUS_BY_CODE, isSubscriptionWebhooksError } from '../core/errors.js';
import type { Provider } from '../events/types.js';
import type { SubscriptionWebhooks } from '../core/handler.js';
import { DASHBOARD_CSS, DASHBOARD_ICON, DASHBOARD_JS, h, Html } from './html.js';
import { renderPage, renderReconcileResult, type PageContext } from './pages.js';
import { deliveryStatusParam, fail, notificationStatusParam, opt, pageParam, pathParts, providerParam, refuseNul } from './params.js';
import { adminReadModel, type AdminReadModel } from './read-model.js';

/** What a caller may do: `read` sees every page and the JSON API; `read-write` may also replay, create, disable and rotate. */
export type AdminRole = 'read' | 'read-write' | 'denied';

/** {@link AdminDashboardOptions.authorize}'s answer: a role, or a role with who the caller is (for the audit log). */
export type AdminAuthorization = AdminRole | { role: AdminRole; actor?: string };

/** One state-changing action taken through the dashboard. */
export interface AdminAuditEntry {
  /** ISO 8601 */
  at: string;
  actor: string;
  /** e.g. `delivery.replay`, `endpoint.create`, `endpoint.disable`, `endpoint.rotate_secret`, `endpoint.replay_failed` */
  action: string;
  /** The id acted on. */
  target: string;
  /** What came of it (`ok`, or the error code). */
  result: string;
}

/** Options of the admin dashboard (`adminDashboard` in each adapter; {@link createAdminDashboard}). */
export interface AdminDashboardOptions<R = Request> {
  /**
   * Decides, per request, what the caller may do (`read`, `read-write` or `denied`). Required: without it
   * the dashboard refuses to start unless `allowUnauthenticated` is true. Receives the framework's own request.
   */
  authorize?: (req: R) => AdminAuthorization | Promise<AdminAuthorization>;
  /** Serve every caller as `read-write` without `authorize`. Logs a warning on every start; refused when NODE_ENV is `production`. */
  allowUnauthenticated?: boolean;
  /**
   * Signs the CSRF tokens of the dashboard's forms. Give the same value to every instance behind one
   * load balancer (a form rendered by one is posted to another). @default random per process
   */
  csrfSecret?: string;
  /** Called once per state-changing action, after it ran and was recorded in the audit log (table `sw_admin_audit`; also logged at info). */
  audit?: (entry: AdminAuditEntry) => void | Promise<void>;
  /** @default Date.now */
  now?: () => number;
}

/** The framework-free dashboard: a Web `Request` in, a `Response` out. The adapters wrap it. */
export interface AdminDashboardHandler<R = Request> {
  /**
   * @param request - the Web request (its URL's path starts with `basePath`)
   * @param native - what `authorize` receives (the framework's request; the Web request for fetch)
   * @param basePath - where the dashboard is mounted, e.g. `/admin/subscriptions`
   */
  handle(request: Request, native: R, basePath: string): Promise<Response>;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on the dashboard's own form posts.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};
const MAX_FORM_BYTES = 16 * 1024;

/**
 * The admin dashboard over `hooks`: server-rendered pages and a JSON read API (`<basePath>/api/...`).
 * Use the adapter's wrapper to mount it (`subscription-webhooks/express`, `/koa`, `/next`, `/fetch`).
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` without `authorize` (unless `allowUnauthenticated`, never in production)
 */
export function createAdminDashboard<R = Request>(hooks: SubscriptionWebhooks, options: AdminDashboardOptions<R>): AdminDashboardHandler<R> {
  const { authorize, allowUnauthenticated = false } = options;
  if (!authorize) {
    if (!allowUnauthenticated)
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        'adminDashboard: `authorize` is required (it decides who may read and who may act); pass `allowUnauthenticated: true` only on a machine nobody else can reach',
      );
    if (process.env.NODE_ENV === 'production')
      throw new SubscriptionWebhooksError('CONFIG_INVALID', 'adminDashboard: `allowUnauthenticated` is refused when NODE_ENV is production: pass `authorize`');
    hooks.logger.warn(
      { dashboard: 'unauthenticated' },
      'adminDashboard: allowUnauthenticated is set: anyone who can reach this server can read every notification and act on deliveries and endpoints',
    );
  }
  const now = options.now ?? Date.now;
  const csrfKey = options.csrfSecret ?? randomBytes(32).toString('base64url');
  const csrfFor = (actor: string): string => createHmac('sha256', csrfKey).update(`admin-csrf\0${actor}`).digest('base64url');
  let model: AdminReadModel | null = null;
  const rm = (): AdminReadModel => (model ??= adminReadModel(hooks.store));

  async function who(native: R): Promise<{ role: AdminRole; actor: string }> {
    if (!authorize) return { role: 'read-write', actor: 'unauthenticated' };
    const a = await authorize(native);
    const role = typeof a === 'string' ? a : a?.role;
    const actor = typeof a === 'object' && a && typeof a.actor === 'string' && a.actor ? a.actor : 'anonymous';
    return { role: role === 'read' || role === 'read-write' ? role : 'denied', actor };
  }

  async function record(entry: Omit<AdminAuditEntry, 'at'>): Promise<void> {
    const full = { at: new Date(now()).toISOString(), ...entry };
    hooks.logger.info({ audit: full }, 'admin action');
    await rm().recordAudit(full);
    await options.audit?.(full);
  }

  return {
    async handle(request, native, basePath) {
      const base = basePath.replace(/\/+$/, '');
      const url = new URL(request.url);
      const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) || '/' : url.pathname;
      try {
        if (request.method === 'GET' && path === '/assets/dashboard.css') return asset(DASHBOARD_CSS, 'text/css; charset=utf-8');
        if (request.method === 'GET' && path === '/assets/dashboard.js') return asset(DASHBOARD_JS, 'text/javascript; charset=utf-8');
        if (request.method === 'GET' && path === '/assets/favicon.svg') return asset(DASHBOARD_ICON, 'image/svg+xml');
        const { role, actor } = await who(native);
        const api = path.startsWith('/api/');
        if (role === 'denied')
          return api
            ? json(403, { error: { code: 'FORBIDDEN', message: 'Not allowed' } })
            : html(403, h`<!doctype html><title>Forbidden</title><p>Not allowed.</p>`);
        refuseNul(url.searchParams, 'query string');
        if (api) {
          if (request.method !== 'GET') return json(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'The API is read only (GET)' } });
          return json(200, await apiGet(rm(), hooks, path.slice(4), url.searchParams, now));
        }
        const ctx: PageContext = { base, role, csrf: csrfFor(actor), now: now() };
        if (request.method === 'GET') {
          const page = await renderPage(rm(), hooks, path, url.searchParams, ctx);
          return page ? html(200, page) : html(404, h`<!doctype html><title>Not found</title><p>Not found.</p>`);
        }
        if (request.method !== 'POST') return html(405, h`<!doctype html><title>Method not allowed</title><p>Method not allowed.</p>`);
        if (role !== 'read-write') return html(403, h`<!doctype html><title>Forbidden</title><p>This action needs the read-write role.</p>`);
        // Cross-site requests are refused whatever they carry; the token proves the form came from this dashboard.
        const site = request.headers.get('sec-fetch-site');
        const origin = request.headers.get('origin');
        if ((site && site !== 'same-origin' && site !== 'none') || (origin && !sameHost(origin, request, url)))
          return html(403, h`<!doctype html><title>Forbidden</title><p>Cross-site request refused.</p>`);
        const form = await readForm(request);
        const token = form.get('csrf') ?? '';
        const expected = csrfFor(actor);
        if (token.length !== expected.length || !timingSafeEqual(Buffer.from(token), Buffer.from(expected))) {
          return html(403, h`<!doctype html><title>Forbidden</title><p>Missing or stale form token: reload the page and try again.</p>`);
        }
        return await act(hooks, path, form, ctx, (action, target, result) => record({ actor, action, target, result }));
      } catch (error) {
        const code = isSubscriptionWebhooksError(error) ? error.code : 'INTERNAL';
        const status = isSubscriptionWebhooksError(error) ? HTTP_STATUS_BY_CODE[error.code] : 500;
        if (status >= 500) hooks.logger.error({ err: error }, 'admin dashboard failed');
        const message = status >= 500 ? 'Internal error' : (error as Error).message;
        return path.startsWith('/api/')
          ? json(status, { error: { code, message } })
          : html(status, h`<!doctype html><title>Error</title><p>${code}: ${message}</p>`);
      }
    },
  };
}

/**
 * Whether a form's `Origin` is this dashboard's host. The scheme is not compared: behind a proxy that
 * terminates TLS the browser posts `Origin: https://host` to an app that sees http. `X-Forwarded-Host`
 * (set by such a proxy; a cross-site form cannot set it) counts as this host too.
 */
function sameHost(origin: string, request: Request, url: URL): boolean {
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // `Origin: null` and anything unparsable
  }
  const forwarded = request.headers.get('x-forwarded-host')?.split(',')[0]?.trim();
  return host !== '' && (host === url.host || host === forwarded);
}

function asset(body: string, type: string): Response {
  return new Response(body, { headers: { 'content-type': type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' } });
}
function html(status: number, body: Html): Response {
  return new Response(body.value, { status, headers: { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' } });
}
function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' } });
}

async function readForm(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw fail('INVALID_ARGUMENT', 'Expected a form (application/x-www-form-urlencoded)');
  const text = await request.text();
  if (text.length > MAX_FORM_BYTES) throw fail('INVALID_ARGUMENT', 'Form too large');
  const form = new URLSearchParams(text);
  refuseNul(form, 'form');
  return form;
}

/** The JSON read API: the read model's queries under `/api/...`. */
async function apiGet(rm: AdminReadModel, hooks: SubscriptionWebhooks, path: string, q: URLSearchParams, now: () => number): Promise<unknown> {
  const parts = pathParts(path);
  const [what, a, b] = parts;
  switch (what) {
    case 'overview':
      if (parts.length === 1) return rm.overview(new Date(now()).toISOString());
      break;
    case 'notifications':
      if (parts.length === 1) {
        const status = notificationStatusParam(q);
        const range = { provider: providerParam(q), since: opt(q, 'since'), until: opt(q, 'until') };
        // Duplicates, stale notifications and rejections added no inbox row: their own table.
        if (status && status !== 'processed') return rm.listOutcomes({ outcome: status, ...range }, pageParam(q));
        return rm.listNotifications({ ...range, type: opt(q, 'type') }, pageParam(q));
      }
      if (parts.length === 3) return (await rm.getNotification(a as Provider, b!)) ?? Promise.reject(fail('NOT_FOUND', 'No such notification'));
      break;
    case 'subscriptions':
      if (parts.length === 1) {
        const term = opt(q, 'q');
        if (!term) throw fail('INVALID_ARGUMENT', 'q: a user id, contract id, order no or transaction id');
        return rm.searchSubscriptions(term);
      }
      if (parts.length === 2) return (await rm.getSubscription(a!)) ?? Promise.reject(fail('NOT_FOUND', 'No such subscription'));
      break;
    case 'orders':
      if (parts.length === 1) return rm.listOrders({ provider: providerParam(q), status: opt(q, 'status') as never, userId: opt(q, 'user') }, pageParam(q));
      break;
    case 'deliveries':
      if (parts.length === 1) return rm.listDeliveries({ status: deliveryStatusParam(q), endpointId: opt(q, 'endpoint') }, pageParam(q));
      if (parts.length === 2 && a === 'backlog') return { items: await rm.deliveryBacklog() };
      if (parts.length === 2) return (await rm.getDelivery(a!)) ?? Promise.reject(fail('NOT_FOUND', 'No such delivery'));
      break;
    case 'audit':
      if (parts.length === 1) return rm.listAudit(pageParam(q));
      break;
    case 'endpoints':
      // Secrets are masked by the endpoints API (whsec_…abcd): never shown after creation.
      if (parts.length === 1) return { items: await hooks.webhookEndpoints.list() };
      break;
  }
  throw fail('NOT_FOUND', 'No such API path');
}

/** The state-changing actions (POST, read-write role, CSRF token checked by the caller). */
async function act(
  hooks: SubscriptionWebhooks,
  path: string,
  form: URLSearchParams,
  ctx: PageContext,
  audit: (action: string, target: string, result: string) => Promise<void>,
): Promise<Response> {
  const parts = pathParts(path);
  const back = (to: string): Response => new Response(null, { status: 303, headers: { ...SECURITY_HEADERS, location: `${ctx.base}${to}` } });
  const run = async <T>(action: string, target: string, fn: () => Promise<T>): Promise<T> => {
    try {
      const result = await fn();
      await audit(action, target, 'ok');
      return result;
    } catch (error) {
      await audit(action, target, isSubscriptionWebhooksError(error) ? error.code : 'INTERNAL');
      throw error;
    }
  };
  const [what, id, verb] = parts;
  if (what === 'apple' && id === 'reconcile' && parts.length === 2) {
    const range = { since: form.get('since') ?? '', until: form.get('until') || null };
    const target = `${range.since}..${range.until ?? 'now'}`;
    try {
      const result = await run('apple.reconcile', target, () =>
        hooks.apple.reconcile({ since: range.since, ...(range.until ? { until: range.until } : {}), onlyFailures: form.get('onlyFailures') === '1' }),
      );
      return html(200, renderReconcileResult(ctx, range, result));
    } catch (error) {
      // No App Store Server API key configured: said on the page, not as a server error.
      if (isSubscriptionWebhooksError(error, 'CONFIG_INVALID'))
        return html(409, renderReconcileResult(ctx, range, { notConfigured: `The App Store Server API is not configured (apple.api): ${error.message}` }));
      throw error;
    }
  }
  if (what === 'deliveries' && id && verb === 'replay' && parts.length === 3) {
    await run('delivery.replay', id, () => hooks.delivery.replay(id));
    return back(`/deliveries?status=pending`);
  }
  if (what === 'endpoints' && parts.length === 1) {
    const events = (form.get('enabled_events') ?? '*').split(/[\s,]+/).filter(Boolean);
    const created = await run('endpoint.create', form.get('url') ?? '', () =>
      hooks.webhookEndpoints.create({ url: form.get('url') ?? '', enabled_events: events, description: form.get('description') || undefined }),
    )
      // What the API calls a configuration error (an unknown event name) is, typed into a form, bad input.
      .catch((error: unknown) => Promise.reject(isSubscriptionWebhooksError(error, 'CONFIG_INVALID') ? fail('INVALID_ARGUMENT', error.message) : error));
    return html(201, renderSecretOnce(ctx, created.id, created.url, created.secret, 'Endpoint created'));
  }
  if (what === 'endpoints' && id && parts.length === 3) {
    if (verb === 'disable') {
      await run('endpoint.disable', id, () => hooks.webhookEndpoints.update(id, { status: 'disabled' }));
      return back('/endpoints');
    }
    if (verb === 'enable') {
      await run('endpoint.enable', id, () => hooks.webhookEndpoints.update(id, { status: 'enabled' }));
      return back('/endpoints');
    }
    if (verb === 'rotate') {
      const rotated = await run('endpoint.rotate_secret', id, () => hooks.webhookEndpoints.rotateSecret(id));
      return html(200, renderSecretOnce(ctx, rotated.id, rotated.url, rotated.secret, 'Secret rotated'));
    }
    if (verb === 'replay-failed') {
      const failed = await hooks.delivery.list({ status: 'failed', endpointId: id, limit: 1000 });
      await run('endpoint.replay_failed', id, async () => {
        for (const d of failed) await hooks.delivery.replay(d.id);
      });
      return back(`/deliveries?endpoint=${encodeURIComponent(id)}`);
    }
  }
  throw fail('NOT_FOUND', 'No such action');
}

/** The one page that shows a secret: right after creation or rotation, never again (the response is not cached). */
function renderSecretOnce(ctx: PageContext, id: string, url: string, secret: string, title: string): Html {
  return h`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><link rel="icon" href="${ctx.base}/assets/favicon.svg"><link rel="stylesheet" href="${ctx.base}/assets/dashboard.css"></head><body><main>
<h1>${title}</h1><p>${id} · ${url}</p><p>The signing secret, shown this once: copy it now to the receiving service.</p>
<p class="secret" id="secret">${secret}</p><p><a href="${ctx.base}/endpoints">Back to endpoints</a></p></main></body></html>`;
}
