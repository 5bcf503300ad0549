import { nextRouteHandler } from 'subscription-webhooks/next';
import { getHooks } from '@/lib/subscriptions.js';

export const runtime = 'nodejs';
// A real app takes the user from its session; the `x-user-id` header stands in for it.
export const { POST } = nextRouteHandler(getHooks, 'appleTransaction', { getUserId: (req) => req.headers.get('x-user-id') });
