import express from 'express';
import request from 'supertest';
import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { signXsollaBody } from '../../src/testing/index.js';
import { recordingLogger } from './apple-harness.js';

export const PROJECT_ID = 18404;
export const MERCHANT_ID = 2340;
export const SECRET = 'xsolla-test-secret-key';
export const PLAN = 'b5dac9c8';
export const PLAN_PRO = 'c7e1f0a2';
const DAY = 86_400_000;

/** Xsolla's own date format: ISO 8601 with a +04:00 offset, as in its documented samples. */
export function xsollaDate(ms: number): string {
  const d = new Date(ms + 4 * 3_600_000);
  return `${d.toISOString().slice(0, 19)}+04:00`;
}

export interface XsollaHarnessOptions {
  store?: Store;
  userExists?: (userId: string) => Promise<boolean>;
  /** More config (products, entitlements, delivery.now, ...). */
  config?: Omit<SubscriptionWebhooksConfig, 'xsolla' | 'store' | 'logger'>;
}

/**
 * An Express app wired to the library for Xsolla, plus builders of Xsolla's documented webhook
 * bodies and a `post` that signs the exact bytes it sends (over real HTTP, supertest).
 */
export function xsollaHarness(options: XsollaHarnessOptions = {}) {
  const logger = recordingLogger();
  const store = options.store ?? memoryStore();
  const hooks = createSubscriptionWebhooks({
    xsolla: { projectId: PROJECT_ID, secretKey: SECRET, ...(options.userExists ? { userExists: options.userExists } : {}) },
    store,
    logger,
    ...options.config,
  });
  const app = express();
  app.use(subscriptionWebhooks(hooks));
  const seen: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    seen.push(e);
  });
  // Whole seconds: Xsolla's dates carry none, so recorded dates compare equal to these.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const settings = { project_id: PROJECT_ID, merchant_id: MERCHANT_ID };

  /** POST a body (object → JSON text) signed over its exact bytes, unless `authorization` is given (null: no header). */
  async function post(body: unknown, opts: { authorization?: string | null } = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const before = seen.length;
    let req = request(app).post(hooks.routes.xsolla).set('content-type', 'application/json');
    const auth = opts.authorization === undefined ? signXsollaBody(text, SECRET) : opts.authorization;
    if (auth !== null) req = req.set('authorization', auth);
    const res = await req.send(text);
    return { res, status: res.status, body: res.body as { error?: { code: string; message: string } }, text: res.text, events: seen.slice(before) };
  }

  /** A subscription's webhook bodies, with consistent ids and dates. */
  function contract(init: { subscriptionId?: string; userId?: string; planId?: string } = {}) {
    const subscriptionId = init.subscriptionId ?? String(10_000 + Math.floor(Math.random() * 1e9));
    const userId = init.userId ?? `user_${Math.random().toString(36).slice(2, 10)}`;
    const planId = init.planId ?? PLAN;
    let nextCharge = now + 30 * DAY;
    const user = { id: userId, name: 'John Smith', email: 'email@example.com' };
    return {
      subscriptionId,
      userId,
      nextCharge: () => nextCharge,
      create(over: Record<string, unknown> = {}) {
        return {
          notification_type: 'create_subscription',
          settings,
          user,
          subscription: {
            plan_id: planId,
            subscription_id: subscriptionId,
            product_id: 'Demo Product',
            date_create: xsollaDate(now),
            date_next_charge: xsollaDate(nextCharge),
            ...over,
          },
        };
      },
      /** `update_subscription`; `advance` moves date_next_charge forward by that many days first. */
      update(advance: number, over: Record<string, unknown> = {}) {
        nextCharge += advance * DAY;
        return {
          notification_type: 'update_subscription',
          settings,
          user: { id: userId, name: 'John Smith' },
          subscription: { plan_id: planId, subscription_id: subscriptionId, product_id: 'Demo Product', date_next_charge: xsollaDate(nextCharge), ...over },
        };
      },
      cancel(dateEnd: number) {
        return {
          notification_type: 'cancel_subscription',
          settings,
          user: { id: userId, name: 'John Smith' },
          subscription: {
            plan_id: planId,
            subscription_id: subscriptionId,
            product_id: 'Demo Product',
            date_create: xsollaDate(now),
            date_end: xsollaDate(dateEnd),
          },
        };
      },
      nonRenewal() {
        return {
          notification_type: 'non_renewal_subscription',
          settings,
          user: { id: userId, email: 'email@example.com' },
          subscription: {
            plan_id: planId,
            subscription_id: subscriptionId,
            date_create: xsollaDate(now),
            date_next_charge: xsollaDate(nextCharge),
            currency: 'USD',
            amount: 9.99,
          },
        };
      },
      /** `payment` for this subscription (Xsolla's documented sample shape). */
      payment(transactionId: number, over: { dryRun?: boolean; externalId?: string; amount?: number } = {}) {
        return {
          notification_type: 'payment',
          settings,
          purchase: {
            subscription: {
              plan_id: planId,
              subscription_id: subscriptionId,
              product_id: 'Demo Product',
              date_create: xsollaDate(now),
              date_next_charge: xsollaDate(nextCharge),
              currency: 'USD',
              amount: over.amount ?? 9.99,
            },
            total: { currency: 'USD', amount: over.amount ?? 9.99 },
          },
          user: { ip: '127.0.0.1', phone: '18777976552', email: 'email@example.com', id: userId, name: 'John Smith', country: 'US' },
          transaction: {
            id: transactionId,
            ...(over.externalId ? { external_id: over.externalId } : {}),
            payment_date: xsollaDate(now),
            payment_method: 1380,
            payment_method_order_id: '1234567890123456789',
            ...(over.dryRun ? { dry_run: 1 } : {}),
            agreement: 1,
          },
          payment_details: {
            payment: { currency: 'USD', amount: over.amount ?? 9.99 },
            vat: { currency: 'USD', amount: 0, percent: 20 },
            sales_tax: { currency: 'USD', amount: 0, percent: 0 },
            direct_wht: { currency: 'USD', amount: 0, percent: 0 },
            payout_currency_rate: '1',
            payout: { currency: 'USD', amount: 9.49 },
            country_wht: { currency: 'USD', amount: 0, percent: 0 },
            user_acquisition_fee: { currency: 'USD', amount: 0, percent: 0 },
            xsolla_fee: { currency: 'USD', amount: 0.19 },
            payment_method_fee: { currency: 'USD', amount: 0.31 },
            repatriation_commission: { currency: 'USD', amount: 0 },
          },
          custom_parameters: { parameter1: 'value1' },
        };
      },
      refund(transactionId: number, type: 'refund' | 'partial_refund' = 'refund', amount = 9.99, code: number | string = 1) {
        return {
          notification_type: type,
          settings,
          purchase: {
            subscription: { plan_id: planId, subscription_id: subscriptionId, date_create: xsollaDate(now), currency: 'USD', amount: 9.99 },
            total: { currency: 'USD', amount },
          },
          user: { ip: '127.0.0.1', phone: '18777976552', email: 'email@example.com', id: userId, name: 'John Smith', country: 'US' },
          transaction: { id: transactionId, external_id: '1', dry_run: 1, agreement: 1 },
          refund_details: { code, reason: 'Cancellation by the user request', author: 'John Smith' },
          payment_details: { payment: { currency: 'USD', amount }, payout: { currency: 'USD', amount } },
        };
      },
    };
  }

  const userValidation = (userId: string) => ({
    notification_type: 'user_validation',
    settings,
    user: { ip: '127.0.0.1', phone: '18777976552', email: 'email@example.com', id: userId, name: 'John Smith', country: 'US' },
  });

  /** Nothing at all was recorded. */
  async function nothingRecorded() {
    return (await store.countNotifications()) === 0 && (await store.listEvents()).length === 0 && (await store.listSubscriptions()).length === 0;
  }

  return { hooks, app, store, logger, seen, now, DAY, settings, post, contract, userValidation, nothingRecorded };
}

export type XsollaHarness = ReturnType<typeof xsollaHarness>;
export const types = (events: DomainEvent[]) => events.map((e) => e.type);
