import express from 'express';
import type { AdminDashboardOptions, SubscriptionWebhooks } from '../../src/index.js';
import { adminDashboard, subscriptionWebhooks } from '../../adapters/express.js';
import { basicAuthAdmin, type AdminPasswords } from './admin-auth.js';

/**
 * The example app: the library's routes first (they read the raw body), then the app's own JSON API.
 * A real app would take the user from its session; here the `x-user-id` header stands in for it.
 */
export function createApp(
  hooks: SubscriptionWebhooks,
  options: { admin?: AdminDashboardOptions<express.Request>; adminPasswords?: AdminPasswords | null } = {},
) {
  const app = express();
  app.use(subscriptionWebhooks(hooks, { getUserId: (req) => req.headers['x-user-id'] as string | undefined }));
  // The admin dashboard (docs/dashboard.md), when the app says who may see it.
  if (options.adminPasswords) {
    // Signed in with HTTP Basic (admin-auth.ts): user `admin` may act, user `viewer` may read.
    const auth = basicAuthAdmin(options.adminPasswords);
    app.use('/admin/subscriptions', auth.guard, adminDashboard(hooks, { ...options.admin, authorize: auth.authorize }));
  } else if (options.admin) app.use('/admin/subscriptions', adminDashboard(hooks, options.admin));
  app.use(express.json());

  // Step 1 of the "like WeChat Pay" flow: create an order, hand its `no` to StoreKit as appAccountToken.
  app.post('/api/orders', async (req, res) => {
    const userId = req.headers['x-user-id'];
    if (typeof userId !== 'string') return res.status(401).json({ error: 'sign in first' });
    const order = await hooks.orders.create({ userId, productId: String(req.body?.productId ?? '') });
    res.status(201).json({ no: order.no, appAccountToken: order.no });
  });

  app.get('/api/subscriptions', async (req, res) => {
    const userId = req.headers['x-user-id'];
    if (typeof userId !== 'string') return res.status(401).json({ error: 'sign in first' });
    res.json(await hooks.subscriptions.list({ userId }));
  });
  return app;
}
