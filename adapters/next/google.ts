import { getDefaultHooks } from '../../src/index.js';
import { nextRouteHandler } from '../next.js';

/**
 * Zero-config Next.js App Router route for Google Play's push notifications (Cloud Pub/Sub), on the
 * process-wide default hooks (`import { hooks, bus } from 'subscription-webhooks'`, configured from the
 * environment, `GOOGLE_PLAY_*`, on first request).
 *
 * @example
 * ```ts
 * // app/api/google/rtdn/route.ts
 * export { POST } from 'subscription-webhooks/next/google';
 * export const runtime = 'nodejs';
 * ```
 */
export const { POST } = nextRouteHandler(getDefaultHooks, 'google');
