/**
 * The receiving side: verifyWebhook (Standard Webhooks, interop with the `standardwebhooks` package both
 * ways), and createCallbackRoute in the shape of seed 000's api/routes/payment/callback.js, as a plain
 * `{ post }` module and mounted in real Express and Koa servers.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { createCallbackRoute, verifyWebhook } from '../../adapters/callback.js';
import { generateWebhookSecret, signatureHeader } from '../../src/delivery/sign.js';
import type { DomainEvent } from '../../src/index.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';

const secret = generateWebhookSecret();
const event = sampleEvent('cb', 1);
const body = JSON.stringify(event);
const nowSec = () => Math.floor(Date.now() / 1000);

describe('verifyWebhook', () => {
  it('verifies what the standardwebhooks package signs', () => {
    const ts = new Date();
    const signature = new Webhook(secret).sign(event.id, ts, body);
    const headers = { 'webhook-id': event.id, 'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)), 'webhook-signature': signature };
    expect(verifyWebhook(secret, headers, body)).toEqual(event);
    expect(verifyWebhook(secret, new Headers(headers), Buffer.from(body))).toEqual(event);
  });

  it('the standardwebhooks package verifies what we sign (one signature, and two during a rotation)', () => {
    const signed = signOutboundWebhook({ secret, body: event });
    expect(new Webhook(secret).verify(signed.body, signed.headers)).toEqual(event);
    const other = generateWebhookSecret();
    const both = signOutboundWebhook({ secret: [other, secret], body: event });
    expect(both.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(secret).verify(both.body, both.headers)).toEqual(event);
    expect(new Webhook(other).verify(both.body, both.headers)).toEqual(event);
  });

  it('accepts any matching signature among several, and several secrets on the receiving side', () => {
    const ts = nowSec();
    const headers = {
      'webhook-id': event.id,
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,bm90LXRoaXM= v2,xyz ${signatureHeader([secret], event.id, ts, body)}`,
    };
    expect(verifyWebhook(secret, headers, body).id).toBe(event.id);
    expect(verifyWebhook([generateWebhookSecret(), secret], headers, body).id).toBe(event.id);
  });

  it.each([
    ['a tampered body', (h: Record<string, string>) => ({ h, b: body.replace('renewed', 'canceled') })],
    ['another id', (h: Record<string, string>) => ({ h: { ...h, 'webhook-id': 'evt_other' }, b: body })],
    ['a missing signature header', (h: Record<string, string>) => ({ h: { ...h, 'webhook-signature': '' }, b: body })],
    ['a non-numeric timestamp', (h: Record<string, string>) => ({ h: { ...h, 'webhook-timestamp': '12a' }, b: body })],
    ['only a v2 signature', (h: Record<string, string>) => ({ h: { ...h, 'webhook-signature': h['webhook-signature']!.replace('v1,', 'v2,') }, b: body })],
  ])('rejects %s with WEBHOOK_SIGNATURE_INVALID', (_name, mutate) => {
    const signed = signOutboundWebhook({ secret, body: event });
    const { h, b } = mutate({ ...signed.headers });
    expect(() => verifyWebhook(secret, h, b)).toThrow(expect.objectContaining({ code: 'WEBHOOK_SIGNATURE_INVALID', status: 400 }));
    expect(() => verifyWebhook(generateWebhookSecret(), signed.headers, signed.body)).toThrow(expect.objectContaining({ code: 'WEBHOOK_SIGNATURE_INVALID' }));
  });

  it('rejects timestamps more than 5 minutes away, either way, with WEBHOOK_TIMESTAMP_OUT_OF_RANGE', () => {
    // The receiver's clock is fixed (`now`): with the real clock, a second boundary crossed between signing
    // and verifying turned +301 s into +300 s (accepted).
    const now = 1_000_000;
    for (const offset of [-301, 301]) {
      const signed = signOutboundWebhook({ secret, body: event, timestamp: now + offset });
      expect(() => verifyWebhook(secret, signed.headers, signed.body, { now: now * 1000 })).toThrow(
        expect.objectContaining({ code: 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE' }),
      );
    }
    for (const offset of [-300, 300]) {
      const edge = signOutboundWebhook({ secret, body: event, timestamp: now + offset });
      expect(verifyWebhook(secret, edge.headers, edge.body, { now: now * 1000 }).id).toBe(event.id);
    }
    // Without `now`, the real clock: an hour away either way is refused.
    for (const offset of [-3600, 3600]) {
      const signed = signOutboundWebhook({ secret, body: event, timestamp: nowSec() + offset });
      expect(() => verifyWebhook(secret, signed.headers, signed.body)).toThrow(expect.objectContaining({ code: 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE' }));
    }
  });

  it('refuses a parsed body (BODY_NOT_RAW) and a non-JSON body (BODY_INVALID)', () => {
    const signed = signOutboundWebhook({ secret, body: event });
    expect(() => verifyWebhook(secret, signed.headers, event as unknown as string)).toThrow(expect.objectContaining({ code: 'BODY_NOT_RAW' }));
    const text = signOutboundWebhook({ secret, body: 'not json', id: 'evt_x' });
    expect(() => verifyWebhook(secret, text.headers, text.body)).toThrow(expect.objectContaining({ code: 'BODY_INVALID' }));
  });
});

describe('createCallbackRoute', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  const listen = async (server: Server) => {
    servers.push(server);
    if (!server.listening) await new Promise((r) => server.once('listening', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  function route(calls: string[], fail = false) {
    return createCallbackRoute({
      secret,
      on: {
        'customer.subscription.renewed': async (e) => {
          calls.push(`renewed:${e.data.object.contract_id}`);
          if (fail) throw new Error('database down');
        },
        'manual.notification': async (e) => void calls.push(`manual:${e.data.object.type}`),
        '*': async (e) => void calls.push(`*:${e.type}`),
      },
    });
  }

  it('as module.exports: post(req) answers { code: "OK" } after the specific handler, then "*"', async () => {
    const calls: string[] = [];
    const callback = route(calls); // module.exports = createCallbackRoute(...)
    const signed = signOutboundWebhook({ secret, body: event });
    await expect(callback.post({ headers: signed.headers, body: signed.body })).resolves.toEqual({ code: 'OK' });
    expect(calls).toEqual(['renewed:contract_cb', '*:customer.subscription.renewed']);
    await expect(callback.post({ headers: { ...signed.headers, 'webhook-signature': 'v1,AAAA' }, rawBody: signed.body })).rejects.toMatchObject({
      code: 'WEBHOOK_SIGNATURE_INVALID',
    });
    expect(calls).toHaveLength(2);
    expect(() => createCallbackRoute({ secret: '', on: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('.express(): verifies the raw body itself, 200 { code: "OK" }; 400 for a bad signature; 500 when a handler throws (so we retry)', async () => {
    const calls: string[] = [];
    const app = express();
    app.post('/api/payment/callback', route(calls).express());
    app.post('/failing', route([], true).express());
    app.post('/parsed', express.json(), route([]).express());
    app.post('/raw', express.raw({ type: 'application/json' }), route(calls).express());
    const base = await listen(app.listen(0, '127.0.0.1'));
    const send = (path: string, signed = signOutboundWebhook({ secret, body: event })) =>
      fetch(base + path, { method: 'POST', headers: signed.headers, body: signed.body });

    const ok = await send('/api/payment/callback');
    expect([ok.status, await ok.json()]).toEqual([200, { code: 'OK' }]);
    const raw = await send('/raw');
    expect(raw.status).toBe(200);
    const forged = await send('/api/payment/callback', { ...signOutboundWebhook({ secret: generateWebhookSecret(), body: event }) });
    expect([forged.status, ((await forged.json()) as { code: string }).code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    const failing = await send('/failing');
    expect([failing.status, await failing.json()]).toEqual([500, { code: 'INTERNAL', message: 'Handler failed' }]);
    const parsed = await send('/parsed');
    expect([parsed.status, ((await parsed.json()) as { code: string }).code]).toEqual([500, 'BODY_NOT_RAW']);
    expect(calls).toEqual(['renewed:contract_cb', '*:customer.subscription.renewed', 'renewed:contract_cb', '*:customer.subscription.renewed']);
  });

  it('.koa(): with koa-bodyparser (ctx.request.rawBody) and without a body parser', async () => {
    const calls: string[] = [];
    const manual: DomainEvent = {
      ...event,
      id: 'evt_manual',
      type: 'manual.notification',
      data: { object: { type: 'customer.subscription.started', data: { entity: event.data.object as never, userDid: 'did:abt:x', context: {} } } },
    } as DomainEvent;
    for (const withParser of [true, false]) {
      const app = new Koa();
      if (withParser) app.use(bodyParser());
      const handler = route(calls).koa();
      app.use((ctx) => handler(ctx));
      const base = await listen(app.listen(0, '127.0.0.1'));
      const signed = signOutboundWebhook({ secret, body: manual });
      const res = await fetch(base, { method: 'POST', headers: signed.headers, body: signed.body });
      expect([res.status, await res.json()]).toEqual([200, { code: 'OK' }]);
      const bad = await fetch(base, { method: 'POST', headers: { ...signed.headers, 'webhook-timestamp': String(nowSec() - 3600) }, body: signed.body });
      expect(bad.status).toBe(400);
    }
    expect(calls).toEqual(['manual:customer.subscription.started', '*:manual.notification', 'manual:customer.subscription.started', '*:manual.notification']);
  });
});
