import { describe, expect, it } from 'vitest';
import { errorResponse, maxBodyBytesOf, mountsOf, routeFor } from '../../src/adapter-kit.js';
import { createSubscriptionWebhooks, memoryStore, SubscriptionWebhooksError, type SubscriptionWebhooks } from '../../src/index.js';

describe('subscription-webhooks/adapter-kit', () => {
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    xsolla: { projectId: 1, secretKey: 's' },
    routes: { apple: '/a' },
    maxBodyBytes: 2048,
    store: memoryStore(),
  });

  it('reads the routes to mount and the body limit from the instance', () => {
    expect(mountsOf(hooks)).toEqual([
      { path: '/a', route: 'apple' },
      { path: '/api/users/app-store-transactions', route: 'appleTransaction' },
      { path: '/api/xsolla/webhooks', route: 'xsolla' },
    ]);
    expect(maxBodyBytesOf(hooks)).toBe(2048);
    expect([routeFor(hooks, '/a/'), routeFor(hooks, '/nope')]).toEqual(['apple', undefined]);
    // The deprecated members still answer the same.
    expect([hooks.mounts, hooks.maxBodyBytes]).toEqual([mountsOf(hooks), 2048]);
  });

  it("answers errors in each route's own wire format", () => {
    const tooLarge = new SubscriptionWebhooksError('BODY_TOO_LARGE', 'Body exceeds 2048 bytes');
    const apple = errorResponse(hooks, 'apple', tooLarge);
    const xsolla = errorResponse(hooks, 'xsolla', tooLarge);
    expect([apple.status, JSON.parse(apple.body!).data.error, apple.headers.connection]).toEqual([413, 'BODY_TOO_LARGE', 'close']);
    expect([xsolla.status, JSON.parse(xsolla.body!).error.code]).toEqual([413, 'INVALID_PARAMETER']);
  });

  it('works with an instance that has only the deprecated members (another copy of the package)', () => {
    const older = {
      mounts: [{ path: '/x', route: 'xsolla' }],
      maxBodyBytes: 10,
      errorResponse: () => ({ status: 418, headers: {}, body: null }),
    } as unknown as SubscriptionWebhooks;
    expect([mountsOf(older), maxBodyBytesOf(older), errorResponse(older, 'xsolla', new Error('x')).status]).toEqual([
      [{ path: '/x', route: 'xsolla' }],
      10,
      418,
    ]);
  });
});
