import type { ResolvedConfig } from '../../core/config.js';
import type { CoreContext, RouteModule } from '../../core/types.js';
import type { ActionTargets } from '../../delivery/action-targets.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { createGoogleActions } from './actions.js';
import { createGooglePlayApi, type GooglePlayApi } from './api.js';
import { createPushTokenVerifier } from './oidc.js';
import { googleRoute } from './route.js';
import { googlePurchaseRoute } from './client-route.js';
import { checkGoogleStatus } from './status.js';
import type { ProviderStatusCheck } from '../../core/lifecycle.js';

/**
 * Google Play for one `createSubscriptionWebhooks`: the push route, and the acknowledgement delivery target.
 * The route's API client retries within the request; the worker's makes one attempt per delivery attempt,
 * ended before the worker's own timeout.
 */
export function createGooglePlay(
  resolved: ResolvedConfig,
  logger: Logger,
): {
  route(ctx: CoreContext): RouteModule;
  purchaseRoute(ctx: CoreContext): RouteModule;
  targets: ActionTargets;
  api: GooglePlayApi | null;
  statusCheck(ctx: CoreContext): { google?: ProviderStatusCheck };
} {
  const g = resolved.google;
  const apiOf = (extra: { maxRetries?: number; timeoutMs?: number } = {}): GooglePlayApi | null =>
    g?.api ? createGooglePlayApi({ packageName: g.packageName, ...g.api, ...extra }) : null;
  const api = apiOf();
  const workerApi = apiOf({ maxRetries: 0, timeoutMs: Math.max(100, Math.floor(resolved.delivery.timeoutMs * 0.9)) });
  if (g && !g.api)
    logger.warn(
      {},
      'google.api is not configured: Google Play notifications are recorded, but no subscription state is read from the Play Developer API and nothing is acknowledged',
    );
  const verifier = g ? createPushTokenVerifier({ jwksUrl: g.jwksUrl, audience: g.audience, serviceAccountEmail: g.serviceAccountEmail }) : null;
  return {
    api,
    route: (ctx) =>
      googleRoute(ctx, () => {
        if (!g || !verifier) {
          throw new SubscriptionWebhooksError(
            'CONFIG_INVALID',
            'Google Play is not configured: pass `google: { packageName, audience, serviceAccountEmail }` or set GOOGLE_PLAY_PACKAGE_NAME, GOOGLE_PLAY_PUSH_AUDIENCE and GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT',
          );
        }
        return { config: g, verifier, api };
      }),
    purchaseRoute: (ctx) => googlePurchaseRoute(ctx, () => ({ api })),
    targets: createGoogleActions({ api: () => workerApi, logger }),
    // The lifecycle sweep asks Google about overdue Google subscriptions (one attempt per sweep, as the worker's calls).
    statusCheck: (ctx) => (workerApi ? { google: (sub) => checkGoogleStatus(ctx, workerApi, sub) } : {}),
  };
}
