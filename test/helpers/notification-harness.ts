import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { APP_APPLE_ID, BUNDLE_ID, appleHarness, recordingLogger, sharedSigner } from './apple-harness.js';
import { createPostgresStore, createSqliteStore } from './databases.js';

export type StoreKind = 'memory' | 'sqlite' | 'postgresql';
export const STORE_KINDS: StoreKind[] = ['memory', 'sqlite', 'postgresql'];

/** A store of the given kind; `close()` drops its database. */
export async function makeStore(kind: StoreKind): Promise<{ store: Store; close: () => Promise<void>; url?: string }> {
  if (kind === 'memory') return { store: memoryStore(), close: async () => {} };
  const db = kind === 'sqlite' ? await createSqliteStore() : await createPostgresStore();
  return { store: db.store, close: db.close, url: db.url };
}

/**
 * Hooks on a store of `kind` with the Apple test chain and a fake delivery clock (`clock.t`), plus
 * helpers to send signed Apple notifications through `hooks.handle` and to drain the outbox.
 */
export async function notificationHarness(kind: StoreKind, config: Omit<SubscriptionWebhooksConfig, 'apple' | 'store'> = {}) {
  const signer = await sharedSigner();
  const { store, close } = await makeStore(kind);
  const clock = { t: Date.now() };
  const logger = recordingLogger();
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] },
    store,
    logger,
    ...config,
    delivery: { now: () => clock.t, ...config.delivery },
  });
  const seen: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    seen.push(e);
  });
  const h = await appleHarness(); // signing helpers only
  async function notify(...args: Parameters<typeof h.sign>) {
    const signedPayload = await h.sign(...args);
    const before = seen.length;
    const result = await hooks.handle('apple', { headers: { 'content-type': 'application/json' }, rawBody: JSON.stringify({ signedPayload }) });
    return { ...result, published: seen.slice(before) };
  }
  /** Runs the worker until nothing is due at the current (fake) time. */
  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await hooks.delivery.runOnce();
      if (r.attempted === 0) return total;
      total += r.attempted;
    }
  }
  return { hooks, store, clock, logger, seen, h, notify, drain, close };
}

export type NotificationHarness = Awaited<ReturnType<typeof notificationHarness>>;
