import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';

const apple = { bundleId: 'com.example.app', environments: ['Sandbox' as const] };

describe('deprecated config keys', () => {
  it('apple.onlineChecks: false is still accepted; true is CONFIG_INVALID saying to remove the key', () => {
    expect(() => createSubscriptionWebhooks({ apple: { ...apple, onlineChecks: false }, store: memoryStore() })).not.toThrow();
    expect(() => createSubscriptionWebhooks({ apple: { ...apple, onlineChecks: true as false }, store: memoryStore() })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/`apple\.onlineChecks` is deprecated .*remove the key/) }),
    );
  });

  it('routes.appleTransaction / routes.googlePurchase (the route names); the plural keys still work, both at once is CONFIG_INVALID', () => {
    const make = (routes: Record<string, string>) => createSubscriptionWebhooks({ apple, routes, store: memoryStore() });
    const now = make({ appleTransaction: '/tx' });
    const old = make({ appleTransactions: '/tx' });
    for (const hooks of [now, old]) {
      expect([hooks.routes.appleTransaction, hooks.routes.appleTransactions]).toEqual(['/tx', '/tx']);
      expect(hooks.mounts).toContainEqual({ path: '/tx', route: 'appleTransaction' });
    }
    expect(make({ googlePurchases: '/gp' }).routes.googlePurchase).toBe('/gp');
    expect(() => make({ appleTransaction: '/a', appleTransactions: '/b' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('give `routes.appleTransaction` only') }),
    );
  });
});
