import type { EventBus } from '../events/bus.js';
import { createSubscriptionWebhooks, type SubscriptionWebhooks } from './handler.js';

// Shared by every copy of the module in one process (ESM and CJS builds, a bundler's second copy):
// "the default instance" must be one object, whoever imports it.
const SLOT = Symbol.for('subscription-webhooks.default-instance');
const globalSlot = globalThis as { [SLOT]?: SubscriptionWebhooks };

/**
 * The process-wide default hooks, created from the environment on first call (`APPLE_BUNDLE_ID`,
 * `APPLE_APP_APPLE_ID`, `APPLE_ENVIRONMENTS`, `XSOLLA_PROJECT_ID`, …, see docs/configuration.md), then
 * the same object on every call. The adapters called without hooks (`subscriptionWebhooks()`) use it.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` when the environment configures no provider.
 * @example
 * const hooks = getDefaultHooks(); // the same object as `import { hooks } from 'subscription-webhooks'`
 */
export function getDefaultHooks(): SubscriptionWebhooks {
  return (globalSlot[SLOT] ??= createSubscriptionWebhooks());
}

/** An object that stands for `target()`, resolved on first use (methods bound to the real object). */
function lazy<T extends object>(target: () => T): T {
  const resolve = (): T => target();
  return new Proxy({} as T, {
    get(_, key) {
      const real = resolve();
      const value = Reflect.get(real, key, real) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(real) : value;
    },
    has: (_, key) => Reflect.has(resolve(), key),
    ownKeys: () => Reflect.ownKeys(resolve()),
    getOwnPropertyDescriptor(_, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(resolve(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
    set: (_, key, value) => Reflect.set(resolve(), key, value),
  });
}

/**
 * The default hooks (see {@link getDefaultHooks}): created from the environment on first use, the same
 * object the zero-argument adapters (`app.use(subscriptionWebhooks())`) serve.
 * @example
 * import { hooks } from 'subscription-webhooks';
 * const order = await hooks.orders.create({ userId, productId: 'com.example.pro.monthly' });
 */
export const hooks: SubscriptionWebhooks = lazy(getDefaultHooks);

/**
 * The default hooks' event bus (`hooks.bus`), created on first use.
 * @example
 * import { bus } from 'subscription-webhooks';
 * bus.subscribe('customer.subscription.renewed', async (event) => extendAccess(event.data.object));
 */
export const bus: EventBus = lazy(() => getDefaultHooks().bus);

/**
 * Forgets the default hooks, so the next use creates them again from the environment. For tests that
 * change the environment; the old object keeps working for whoever holds it (its store is not closed).
 * @example
 * afterEach(() => resetDefaultHooks());
 */
export function resetDefaultHooks(): void {
  delete globalSlot[SLOT];
}
