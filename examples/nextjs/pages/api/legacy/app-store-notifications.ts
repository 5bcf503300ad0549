// The same route on the Pages Router, for apps that have not moved to the App Router.
import { nextApiHandler } from 'subscription-webhooks/next';
import { getHooks } from '@/lib/subscriptions.js';

export const config = { api: { bodyParser: false } };
export default nextApiHandler(getHooks, 'apple');
