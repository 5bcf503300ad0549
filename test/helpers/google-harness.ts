import express from 'express';
import request from 'supertest';
import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { subscriptionWebhooks, type ExpressOptions } from '../../adapters/express.js';
import { createGooglePlayTestKit, type GooglePlayPush, type GooglePlayTestKit } from '../../src/testing/index.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { recordingLogger } from './apple-harness.js';
import type { StoreFactory } from './databases.js';

export const PRODUCT = 'pro_monthly';
export const PRODUCT_PREMIUM = 'premium_monthly';

export interface GoogleHarnessOptions {
  store?: Store;
  kit?: GooglePlayTestKit;
  /** More config (products, delivery, ...). */
  config?: Omit<SubscriptionWebhooksConfig, 'google' | 'store' | 'logger'>;
  /** Options of the Express adapter (getUserId for the client route). */
  expressOptions?: ExpressOptions;
}

export interface GooglePost {
  status: number;
  body: { processed?: boolean; duplicate?: boolean; messageId?: string; notificationType?: string; error?: { code: string; message: string } };
  events: DomainEvent[];
}

/**
 * An Express app wired to the library for Google Play, and the local Google stand-in (JWKS, OAuth token
 * endpoint, Play Developer API). `post` sends a push over real HTTP (supertest).
 */
export async function googleHarness(options: GoogleHarnessOptions = {}) {
  const kit = options.kit ?? (await createGooglePlayTestKit());
  const logger = recordingLogger();
  const store = options.store ?? memoryStore();
  const hooks = createSubscriptionWebhooks({ google: kit.config(), store, logger, ...options.config });
  const app = express();
  app.use(subscriptionWebhooks(hooks, options.expressOptions));
  const seen: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    seen.push(e);
  });

  async function post(push: GooglePlayPush | Promise<GooglePlayPush>): Promise<GooglePost> {
    const p = await push;
    const before = seen.length;
    const res = await request(app).post(hooks.routes.google).set(p.headers).send(p.body);
    return { status: res.status, body: res.body as GooglePost['body'], events: seen.slice(before) };
  }
  /** Sets the purchase Google holds for `token` and pushes the notification `type` about it. */
  async function notify(type: string, token: string, purchase: Parameters<GooglePlayTestKit['subscriptionPurchase']>[0], opts: { messageId?: string } = {}) {
    kit.setSubscription(token, kit.subscriptionPurchase(purchase));
    return post(kit.push(kit.subscriptionNotification(type, token), opts));
  }
  const sub = (contractId: string) => hooks.subscriptions.get(contractId, 'google');
  async function nothingRecorded() {
    return (await store.countNotifications()) === 0 && (await store.listEvents()).length === 0 && (await store.listSubscriptions()).length === 0;
  }
  return { kit, hooks, app, store, logger, seen, post, notify, sub, nothingRecorded, close: () => kit.close() };
}

export type GoogleHarness = Awaited<ReturnType<typeof googleHarness>>;
export const types = (events: DomainEvent[]) => events.map((e) => e.type);

export const R = 'provider.notification.received';
export const S = (s: string) => `customer.subscription.${s}`;
let uniqCount = 0;
/** A name no other test uses (tokens, order ids, users). */
export const uniq = (p: string) => `${p}_${Date.now().toString(36)}_${++uniqCount}`;

/**
 * For one `describe`: a Google test kit for its tests, and harnesses on fresh databases from `make`,
 * closed after each test.
 */
export function googleSuite(make: StoreFactory) {
  let kit: GooglePlayTestKit;
  const open: { close: () => Promise<void> }[] = [];
  beforeAll(async () => {
    kit = await createGooglePlayTestKit();
  });
  afterAll(async () => kit.close());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });
  return {
    get kit() {
      return kit;
    },
    async harness(options: Omit<GoogleHarnessOptions, 'store' | 'kit'> = {}): Promise<GoogleHarness> {
      const db = await make();
      open.push(db);
      return googleHarness({ ...options, store: db.store, kit });
    },
  };
}
