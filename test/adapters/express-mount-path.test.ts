import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';
import { createAppleTestSigner } from '../../src/testing/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';

// `app.use('/api/users/app-store-notifications', mw)` or a Router under a prefix: Express strips the
// mount path from req.path, so the middleware must match on baseUrl + path (it once fell through: 404).
describe('Express adapter mounted under a path', () => {
  for (const [name, make] of [
    ['Express 5', express],
    ['Express 4', express4],
  ] as const) {
    for (const mount of ['app.use(path, mw)', 'app.use(prefix, mw)', "app.use('/api/users', router)"] as const)
      it(`${name}: ${mount} serves the route; other paths fall through`, async () => {
        const signer = await createAppleTestSigner({ bundleId: 'com.example.app', environment: 'Sandbox' });
        const hooks = createSubscriptionWebhooks({
          apple: { bundleId: 'com.example.app', environments: ['Sandbox'], rootCertificates: [signer.rootCertificate] },
          store: memoryStore(),
        });
        const app = make();
        if (mount === 'app.use(path, mw)') app.use('/api/users/app-store-notifications', subscriptionWebhooks(hooks));
        else if (mount === 'app.use(prefix, mw)') app.use('/api', subscriptionWebhooks(hooks));
        else {
          const router = make.Router();
          router.use(subscriptionWebhooks(hooks));
          app.use('/api/users', router);
        }
        app.use((_req, res) => res.status(404).send('app 404'));
        let n = 0;
        const notify = async () => {
          n += 1;
          const signedPayload = await signer.signNotification({
            notificationType: 'SUBSCRIBED',
            subtype: 'INITIAL_BUY',
            data: { transaction: { originalTransactionId: `10${n}`, transactionId: `10${n}`, productId: 'pro' } },
          });
          return request(app).post('/api/users/app-store-notifications').set('content-type', 'application/json').send(JSON.stringify({ signedPayload }));
        };
        const r = await notify();
        expect(r.status, r.text).toBe(200);
        expect(r.body.data.notificationType).toBe('SUBSCRIBED');
        expect(await hooks.subscriptions.get('101')).toMatchObject({ contract_id: '101' });
        expect((await request(app).post('/api/elsewhere').send('{}')).text).toBe('app 404');
        expect((await request(app).get('/api/users/app-store-notifications')).status).toBe(405);
      });
  }
});
