import { nextRouteHandler } from 'subscription-webhooks/next';
import { getHooks } from '@/lib/subscriptions.js';

export const runtime = 'nodejs';
export const { POST } = nextRouteHandler(getHooks, 'apple');
