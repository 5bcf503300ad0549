import { getDefaultHooks } from '../../src/index.js';
import { nextRouteHandler } from '../next.js';

/**
 * Zero-config Next.js App Router route for the xsolla webhook, on the process-wide default hooks
 * (`import { hooks, bus } from 'subscription-webhooks'`, configured from the environment on first request).
 *
 * @example
 * ```ts
 * // app/api/xsolla/webhooks/route.ts
 * export { POST } from 'subscription-webhooks/next/xsolla';
 * export const runtime = 'nodejs';
 * ```
 */
export const { POST } = nextRouteHandler(getDefaultHooks, 'xsolla');
