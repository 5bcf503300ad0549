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
});
