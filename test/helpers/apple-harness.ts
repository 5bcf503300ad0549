import express from 'express';
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type Logger, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { subscriptionWebhooks, type ExpressOptions } from '../../adapters/express.js';
import { createAppleTestSigner } from '../../src/testing/apple-signer.js';

export const BUNDLE_ID = 'com.example.app';
export const APP_APPLE_ID = 1234567890;
export const PRODUCT = 'com.example.pro.monthly';
export const PRODUCT_YEARLY = 'com.example.pro.yearly';
export const PRODUCT_BASIC = 'com.example.basic.monthly';
const DAY = 86_400_000;

/** A logger that records warnings so tests can assert on them, and prints nothing. */
export function recordingLogger(): Logger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    debug() {},
    info() {},
    warn(_o, msg) {
      warnings.push(String(msg));
    },
    error(_o, msg) {
      errors.push(String(msg));
    },
  };
}

let signerPromise: ReturnType<typeof createAppleTestSigner> | undefined;
/** One test chain per test file: generating keys is the slow part. */
export function sharedSigner() {
  signerPromise ??= createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
  return signerPromise;
}

export interface HarnessOptions {
  store?: Store;
  express?: typeof express;
  expressOptions?: ExpressOptions;
  beforeRoutes?: (app: express.Express) => void;
  /** Extra trusted roots besides the shared signer's. */
  extraRoots?: Uint8Array[];
  /** More config (products, entitlements, delivery.now, ...). */
  config?: Omit<SubscriptionWebhooksConfig, 'apple' | 'store' | 'logger'>;
  /** `apple.api`: the App Store Server API (a stand-in's URL and key). */
  appleApi?: NonNullable<SubscriptionWebhooksConfig['apple']>['api'];
}

/**
 * An Express app wired to the library with the test signer's root, plus helpers to fire signed
 * notifications at it over real HTTP (supertest) and to read back what happened.
 */
export async function appleHarness(options: HarnessOptions = {}) {
  const signer = await sharedSigner();
  const logger = recordingLogger();
  const store = options.store ?? memoryStore();
  const hooks = createSubscriptionWebhooks({
    apple: {
      bundleId: BUNDLE_ID,
      appAppleId: APP_APPLE_ID,
      rootCertificates: [signer.rootCertificate, ...(options.extraRoots ?? [])],
      ...(options.appleApi ? { api: options.appleApi } : {}),
    },
    store,
    logger,
    ...options.config,
  });
  const makeApp = (options.express ?? express) as typeof express;
  const app = makeApp();
  options.beforeRoutes?.(app);
  app.use(subscriptionWebhooks(hooks, options.expressOptions));
  const seen: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    seen.push(e);
  });

  let clock = Math.floor(Date.now() / 1000) * 1000; // the test chain is valid from now on
  const tick = (ms = 60_000) => (clock += ms);

  /** A subscription's transaction factory: consistent ids across a lifecycle. */
  function contract(init: { originalTransactionId?: string; productId?: string; appAccountToken?: string } = {}) {
    const originalTransactionId = init.originalTransactionId ?? String(2_000_000_000_000_000 + Math.floor(Math.random() * 1e12));
    let seq = 0;
    let periodStart = clock;
    return {
      originalTransactionId,
      appAccountToken: init.appAccountToken,
      /** The next transaction of this contract (a new period unless `same`). */
      transaction(over: Record<string, unknown> = {}, same = false) {
        if (!same) {
          seq += 1;
          if (seq > 1) periodStart += 30 * DAY;
        }
        const transactionId = seq === 1 ? originalTransactionId : `${originalTransactionId}-${seq}`;
        return {
          transactionId,
          originalTransactionId,
          webOrderLineItemId: `${originalTransactionId}-wol-${seq}`,
          bundleId: BUNDLE_ID,
          productId: init.productId ?? PRODUCT,
          subscriptionGroupIdentifier: 'group1',
          purchaseDate: periodStart,
          originalPurchaseDate: clock,
          expiresDate: periodStart + 30 * DAY,
          quantity: 1,
          type: 'Auto-Renewable Subscription',
          ...(init.appAccountToken ? { appAccountToken: init.appAccountToken } : {}),
          inAppOwnershipType: 'PURCHASED',
          signedDate: clock,
          environment: 'Production',
          transactionReason: seq === 1 ? 'PURCHASE' : 'RENEWAL',
          storefront: 'USA',
          storefrontId: '143441',
          price: 9990,
          currency: 'USD',
          ...over,
        };
      },
      renewal(over: Record<string, unknown> = {}) {
        return {
          originalTransactionId,
          autoRenewProductId: init.productId ?? PRODUCT,
          productId: init.productId ?? PRODUCT,
          autoRenewStatus: 1,
          signedDate: clock,
          environment: 'Production',
          recentSubscriptionStartDate: clock,
          renewalDate: periodStart + 30 * DAY,
          ...over,
        };
      },
    };
  }

  async function sign(
    notificationType: string,
    subtype: string | undefined,
    data: { transaction?: Record<string, unknown>; renewalInfo?: Record<string, unknown> } | undefined,
    opts: { signedDate?: number; uuid?: string; extra?: Record<string, unknown> } = {},
  ) {
    return signer.signNotification({
      notificationType,
      ...(subtype ? { subtype } : {}),
      notificationUUID: opts.uuid ?? randomUUID(),
      signedDate: opts.signedDate ?? tick(),
      ...(data ? { data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production', ...data } } : {}),
      ...(opts.extra ?? {}),
    } as Parameters<typeof signer.signNotification>[0]);
  }

  async function post(path: string, body: unknown) {
    const before = seen.length;
    const res = await request(app)
      .post(path)
      .set('content-type', 'application/json')
      .send(typeof body === 'string' ? body : JSON.stringify(body));
    return { res, status: res.status, body: res.body as { code: number; message: string; data: Record<string, unknown> }, events: seen.slice(before) };
  }

  async function notify(...args: Parameters<typeof sign>) {
    const signedPayload = await sign(...args);
    return { ...(await post(hooks.routes.apple, { signedPayload })), signedPayload };
  }

  return { hooks, app, signer, store, logger, seen, tick, now: () => clock, contract, sign, post, notify };
}

export type AppleHarness = Awaited<ReturnType<typeof appleHarness>>;
export const types = (events: DomainEvent[]) => events.map((e) => e.type);
