// Type tests: checked by `npm run typecheck` (tsc over test/) and `vitest --typecheck`.
// Each `@ts-expect-error` line must stay an error, each expectTypeOf must hold.
import type { Context } from 'koa';
import type { NextApiRequest } from 'next';
import type { NextRequest } from 'next/server.js';
import type { Request as ExpressRequest } from 'express';
import express from 'express';
import { expectTypeOf } from 'vitest';
import { createSubscriptionWebhooks, type DomainEvent, type EventHandler } from '../../src/index.js';
import { subscriptionWebhooks, type ExpressOptions } from '../../adapters/express.js';
import { subscriptionWebhooksRouter, type KoaOptions } from '../../adapters/koa.js';
import { nextApiHandler, nextRouteHandler, type NextApiOptions, type NextRouteOptions } from '../../adapters/next.js';
import { fetchHandler, type FetchOptions } from '../../adapters/fetch.js';

// What an app's auth middleware declares on Express's Request (as express-session or Passport do).
declare global {
  namespace Express {
    interface Request {
      swTypeTestUser?: { id: string };
    }
  }
}

const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] } });
declare const db: { user: { update(args: { where: { id: string }; data: { pro: boolean } }): Promise<{ id: string; pro: boolean }> } };

// Bus: handlers may return anything (Prisma calls return the updated row).
hooks.bus.subscribe('customer.subscription.renewed', async (e) => db.user.update({ where: { id: e.data.object.user_id ?? '' }, data: { pro: true } }));
hooks.bus.subscribe('order.paid', (e) => e.data.object.trade_no);
hooks.bus.subscribe((e) => e.type.length);
hooks.bus.subscribe('customer.subscription.started', (e) => {
  expectTypeOf(e).toEqualTypeOf<DomainEvent<'customer.subscription.started'>>();
  expectTypeOf(e.data.object.current_period_end).toEqualTypeOf<string | null>();
});
expectTypeOf<EventHandler>().returns.toBeUnknown();
// @ts-expect-error an unknown event type is still refused
hooks.bus.subscribe('customer.subscription.renewd', () => undefined);

// getUserId gets each framework's own request type, so module augmentation works.
expectTypeOf<Parameters<NonNullable<ExpressOptions['getUserId']>>[0]>().toEqualTypeOf<ExpressRequest>();
expectTypeOf<Parameters<NonNullable<KoaOptions['getUserId']>>[0]>().toEqualTypeOf<Context>();
expectTypeOf<Parameters<NonNullable<NextRouteOptions['getUserId']>>[0]>().toEqualTypeOf<NextRequest>();
expectTypeOf<Parameters<NonNullable<NextApiOptions['getUserId']>>[0]>().toEqualTypeOf<NextApiRequest>();
expectTypeOf<Parameters<NonNullable<FetchOptions['getUserId']>>[0]>().toEqualTypeOf<Request>();

express().use(subscriptionWebhooks(hooks, { getUserId: (req) => req.swTypeTestUser?.id }));
express().use(subscriptionWebhooks(hooks, { getUserId: async (req) => req.header('x-user-id') ?? null }));
express().use('/api', subscriptionWebhooks(hooks));
subscriptionWebhooksRouter(hooks, { getUserId: (ctx) => ctx.cookies.get('uid') });
nextRouteHandler(hooks, 'appleTransaction', { getUserId: (req) => req.cookies.get('uid')?.value });
nextApiHandler(hooks, 'appleTransaction', { getUserId: (req) => (typeof req.cookies.uid === 'string' ? req.cookies.uid : null) });
fetchHandler(hooks, { getUserId: (req) => req.headers.get('x-user-id') });
// @ts-expect-error getUserId must answer a string id (or null/undefined), not a number
express().use(subscriptionWebhooks(hooks, { getUserId: () => 42 }));

// The default instance: `hooks` is a SubscriptionWebhooks, `bus` its EventBus, with the same typed subscribe.
import { bus as defaultBus, getDefaultHooks, hooks as defaultHooks, type EventBus, type SubscriptionWebhooks } from '../../src/index.js';
expectTypeOf(defaultHooks).toEqualTypeOf<SubscriptionWebhooks>();
expectTypeOf(defaultBus).toEqualTypeOf<EventBus>();
expectTypeOf(getDefaultHooks).returns.toEqualTypeOf<SubscriptionWebhooks>();
defaultBus.subscribe('customer.subscription.renewed', async (e) => db.user.update({ where: { id: e.data.object.user_id ?? '' }, data: { pro: true } }));
// @ts-expect-error the default bus refuses unknown event types too
defaultBus.subscribe('customer.subscription.renewd', () => undefined);
