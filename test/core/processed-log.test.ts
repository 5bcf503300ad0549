import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, type Logger } from '../../src/index.js';
import { createAppleTestSigner, signXsollaBody } from '../../src/testing/index.js';

// One success line per accepted notification, at info, through the configured logger.
function capture() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, info: () => lines.filter((l) => l.level === 'info' && l.obj.result !== undefined) };
}

describe('success line per notification', () => {
  it('Apple: processed, then duplicate on redelivery; a rejection writes no success line', async () => {
    const signer = await createAppleTestSigner({ bundleId: 'com.example.app', environment: 'Sandbox' });
    const { logger, info } = capture();
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'], rootCertificates: [signer.rootCertificate] },
      store: memoryStore(),
      logger,
    });
    const order = await hooks.orders.create({ userId: 'user_42', productId: 'pro' });
    const signedPayload = await signer.signNotification({
      notificationType: 'SUBSCRIBED',
      subtype: 'INITIAL_BUY',
      notificationUUID: 'n-1',
      data: { transaction: { originalTransactionId: '500', transactionId: '500', productId: 'pro', appAccountToken: order.no } },
    });
    const rawBody = JSON.stringify({ signedPayload });
    expect((await hooks.handle('apple', { headers: {}, rawBody })).response.status).toBe(200);
    expect((await hooks.handle('apple', { headers: {}, rawBody })).response.status).toBe(200);
    expect((await hooks.handle('apple', { headers: {}, rawBody: '{"signedPayload":"x.y.z"}' })).response.status).toBe(400);
    const [first, second, ...rest] = info();
    expect(rest).toEqual([]);
    expect(first!.obj).toMatchObject({
      provider: 'apple',
      route: 'apple',
      notificationType: 'SUBSCRIBED',
      subtype: 'INITIAL_BUY',
      notificationId: 'n-1',
      userId: 'user_42',
      transactionId: '500',
      result: 'processed',
      status: 200,
    });
    expect(first!.obj.durationMs).toEqual(expect.any(Number));
    expect(first!.msg).toMatch(/^apple SUBSCRIBED\/INITIAL_BUY processed in \d+ ms$/);
    expect(second!.obj).toMatchObject({ provider: 'apple', notificationType: 'SUBSCRIBED', notificationId: 'n-1', result: 'duplicate', status: 200 });
  });

  it('Xsolla: a payment is processed, user_validation is answered', async () => {
    const { logger, info } = capture();
    const secret = 'xsolla-secret';
    const hooks = createSubscriptionWebhooks({ xsolla: { projectId: 7, secretKey: secret }, store: memoryStore(), logger });
    const send = (body: string) => hooks.handle('xsolla', { headers: { authorization: signXsollaBody(body, secret) }, rawBody: body });
    const validation = JSON.stringify({ notification_type: 'user_validation', settings: { project_id: 7 }, user: { id: 'u1' } });
    expect((await send(validation)).response.status).toBe(204);
    const payment = JSON.stringify({
      notification_type: 'payment',
      settings: { project_id: 7 },
      user: { id: 'u1' },
      purchase: { total: { amount: 9.99, currency: 'USD' } },
      transaction: { id: 9001, payment_date: '2026-01-01T00:00:00+00:00', dry_run: 1 },
    });
    expect((await send(payment)).response.status).toBe(204);
    const [a, b] = info();
    expect(a!.obj).toMatchObject({ provider: 'xsolla', route: 'xsolla', result: 'answered', status: 204 });
    expect(b!.obj).toMatchObject({ provider: 'xsolla', notificationType: 'payment', userId: 'u1', transactionId: '9001', result: 'processed', status: 204 });
  });
});
