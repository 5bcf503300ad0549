/**
 * Replay protection on the receiving side, over real Express on 127.0.0.1: a webhook-id whose handlers
 * succeeded is answered 200 { duplicate: true } and runs no handler again (in memory by default, and
 * in the store's receipt table across instances on every store); a failed handling leaves the id free
 * for the sender's retry; the same id while it is being handled gets 409.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createCallbackRoute, type CallbackRouteOptions } from '../../adapters/callback.js';
import { generateWebhookSecret } from '../../src/delivery/sign.js';
import type { DomainEvent, Store } from '../../src/index.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { waitUntil } from '../helpers/reliability.js';

const secret = generateWebhookSecret();

async function serve(options: Omit<CallbackRouteOptions, 'secret'>) {
  const app = express();
  app.post('/api/payment/callback', createCallbackRoute({ secret, ...options }).express());
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/payment/callback`;
  return {
    async send(signed: ReturnType<typeof signOutboundWebhook>) {
      const res = await fetch(url, { method: 'POST', headers: signed.headers, body: signed.body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('callback replay protection (in memory, the default)', () => {
  it('a replayed webhook-id answers 200 duplicate and runs no handler twice; a failed handling is retried; an id in progress gets 409', async () => {
    const seen: string[] = [];
    let fail = true;
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const route = await serve({
      on: {
        'customer.subscription.renewed': async (e: DomainEvent) => {
          seen.push(e.id);
          if (e.id === 'evt_replay_2' && fail) throw new Error('database down');
          if (e.id === 'evt_replay_3') await slow;
        },
      },
    });
    try {
      const first = signOutboundWebhook({ secret, body: sampleEvent('replay', 1) });
      expect(await route.send(first)).toEqual({ status: 200, body: { code: 'OK' } });
      // The captured request, replayed as is (same id, timestamp and signature): refused without running the handler.
      expect(await route.send(first)).toEqual({ status: 200, body: { code: 'OK', duplicate: true } });
      // The sender's own retry (same id, new timestamp) is a duplicate too.
      expect(await route.send(signOutboundWebhook({ secret, body: sampleEvent('replay', 1), timestamp: Math.floor(Date.now() / 1000) + 1 }))).toMatchObject({
        body: { duplicate: true },
      });
      expect(seen).toEqual(['evt_replay_1']);

      // A handler failure is not an acceptance: the retry runs it again.
      const second = signOutboundWebhook({ secret, body: sampleEvent('replay', 2) });
      expect((await route.send(second)).status).toBe(500);
      fail = false;
      expect(await route.send(second)).toEqual({ status: 200, body: { code: 'OK' } });
      expect(await route.send(second)).toMatchObject({ status: 200, body: { duplicate: true } });
      expect(seen).toEqual(['evt_replay_1', 'evt_replay_2', 'evt_replay_2']);

      // The same id while its handler still runs: 409, so the sender retries later.
      const third = signOutboundWebhook({ secret, body: sampleEvent('replay', 3) });
      const running = route.send(third);
      expect(await waitUntil(() => seen.includes('evt_replay_3'), 20_000), `the handler never ran evt_replay_3; handled: ${seen.join(', ')}`).toBe(true);
      expect(await route.send(third)).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
      release();
      expect(await running).toEqual({ status: 200, body: { code: 'OK' } });
      expect(seen.filter((id) => id === 'evt_replay_3')).toHaveLength(1);
    } finally {
      await route.close();
    }
  });

  it('a store without the receipt methods, or a bad cache size, is CONFIG_INVALID', () => {
    expect(() => createCallbackRoute({ secret, on: {}, store: {} as Store })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createCallbackRoute({ secret, on: {}, replayCacheSize: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe.each(EVERY_STORE)('callback replay protection with %s', (_name, make) => {
  it('two instances sharing the store: an id accepted by one is a duplicate at the other', async () => {
    const { store, close } = (await make()) as { store: Store; close: () => Promise<void> };
    const seen: string[] = [];
    const on = { '*': (e: DomainEvent) => void seen.push(e.id) };
    const [a, b] = await Promise.all([serve({ on, store }), serve({ on, store })]);
    try {
      const signed = signOutboundWebhook({ secret, body: sampleEvent('shared', 1) });
      expect(await a.send(signed)).toEqual({ status: 200, body: { code: 'OK' } });
      expect(await b.send(signed)).toEqual({ status: 200, body: { code: 'OK', duplicate: true } });
      expect(await a.send(signed)).toEqual({ status: 200, body: { code: 'OK', duplicate: true } });
      expect(await b.send(signOutboundWebhook({ secret, body: sampleEvent('shared', 2) }))).toEqual({ status: 200, body: { code: 'OK' } });
      expect(seen).toEqual(['evt_shared_1', 'evt_shared_2']);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await close();
    }
  });
});
