import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, type Provider, type Subscription } from '../../src/index.js';

const sub = (provider: Provider, contractId: string, userId: string) =>
  ({ id: `sub_${provider}_${contractId}`, provider, contract_id: contractId, user_id: userId }) as Subscription;

describe('hooks.subscriptions.get', () => {
  it('without a provider, looks the contract id up at every provider (was: Apple only)', async () => {
    const store = memoryStore();
    const hooks = createSubscriptionWebhooks({ xsolla: { projectId: 1, secretKey: 's' }, store });
    await store.transaction(async (tx) => {
      await tx.saveSubscription(sub('xsolla', '900', 'u1'));
      await tx.saveSubscription(sub('apple', '100', 'u2'));
      await tx.saveSubscription(sub('apple', 'same', 'u3'));
      await tx.saveSubscription(sub('google', 'same', 'u4'));
    });
    expect((await hooks.subscriptions.get('900'))?.user_id).toBe('u1');
    expect((await hooks.subscriptions.get('100'))?.user_id).toBe('u2');
    expect(await hooks.subscriptions.get('none')).toBeNull();
    await expect(hooks.subscriptions.get('same')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      status: 400,
      message: expect.stringMatching(/pass the provider/),
    });
    expect((await hooks.subscriptions.get('same', 'google'))?.user_id).toBe('u4');
    expect(await hooks.subscriptions.get('900', 'apple')).toBeNull();
  });
});
