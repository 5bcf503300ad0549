/**
 * `subscription-webhooks/callback` refuses secrets that can never verify a delivery (a plain password,
 * a trailing newline, `whsec_` alone, a 1-byte key, invalid base64) with CONFIG_INVALID when the route
 * is created / when verifyWebhook is called, instead of answering every request 400 at run time.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { createCallbackRoute, verifyWebhook } from '../../adapters/callback.js';
import { generateWebhookSecret } from '../../src/delivery/sign.js';
import { SubscriptionWebhooksError } from '../../src/core/errors.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';

const good = generateWebhookSecret();
const event = sampleEvent('cbsecret', 1);
const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');

const bad: [string, unknown][] = [
  ['a plain password', 'correct-horse-battery-staple'],
  ['a plain password that happens to be base64', 'hunter2hunter2hunter2hunter2hunter2hunter2'],
  ['base64 without the whsec_ prefix', good.slice('whsec_'.length)],
  ['a trailing newline', `${good}\n`],
  ['a trailing space', `${good} `],
  ['a leading space', ` ${good}`],
  ['whsec_ alone', 'whsec_'],
  ['a 1-byte key', `whsec_${b64(1)}`],
  ['a 23-byte key', `whsec_${b64(23)}`],
  ['invalid base64 characters', 'whsec_not*valid*base64*at*all*not*valid*base64*at*all'],
  ['base64url instead of base64', `whsec_${Buffer.alloc(32, 0xfb).toString('base64url')}`],
  ['broken padding', `whsec_${b64(32).replace('=', '')}==`],
  ['truncated base64', `whsec_${b64(32).slice(0, -3)}`],
  ['an empty string', ''],
  ['a number', 12345],
];

const expectRefused = (fn: () => unknown) => {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(SubscriptionWebhooksError);
  expect(thrown).toMatchObject({ code: 'CONFIG_INVALID' });
  // The message names the expected form, so the fix is obvious from the log line alone.
  expect((thrown as Error).message).toMatch(/whsec_/);
  expect((thrown as Error).message).toMatch(/base64/);
  expect((thrown as Error).message).toMatch(/24 bytes/);
  // ...and never echoes the secret itself.
  expect((thrown as Error).message).not.toContain(good.slice(10, 30));
};

describe('callback secrets are checked up front', () => {
  it.each(bad)('createCallbackRoute refuses %s', (_name, secret) => {
    expectRefused(() => createCallbackRoute({ secret: secret as string, on: {} }));
  });

  it.each(bad)('createCallbackRoute refuses %s among rotation secrets', (_name, secret) => {
    expectRefused(() => createCallbackRoute({ secret: [good, secret as string], on: {} }));
    expectRefused(() => createCallbackRoute({ secret: [secret as string, good], on: {} }));
  });

  it.each(bad)('verifyWebhook refuses %s before looking at the request', (_name, secret) => {
    const signed = signOutboundWebhook({ secret: good, body: event });
    expectRefused(() => verifyWebhook(secret as string, signed.headers, signed.body));
    expectRefused(() => verifyWebhook([good, secret as string], signed.headers, signed.body));
    // Even with no headers at all: the secret is the deployment's fault, not the sender's.
    expectRefused(() => verifyWebhook(secret as string, {}, '{}'));
  });

  it('an empty rotation list is refused too', () => {
    expect(() => createCallbackRoute({ secret: [], on: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => verifyWebhook([], {}, '{}')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('accepts what the outbound side generates, and Standard Webhooks-sized secrets (24 to 64 bytes)', () => {
    const svixLike = `whsec_${Buffer.alloc(24, 9).toString('base64')}`; // 32 chars, no padding
    const long = `whsec_${Buffer.alloc(64, 3).toString('base64')}`;
    for (const s of [good, svixLike, long, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']) {
      expect(() => createCallbackRoute({ secret: s, on: {} })).not.toThrow();
      const signed = signOutboundWebhook({ secret: s, body: event });
      expect(verifyWebhook(s, signed.headers, signed.body).id).toBe(event.id);
      // The standardwebhooks package agrees the secret is valid and verifies the same request.
      expect(new Webhook(s).verify(signed.body, signed.headers)).toEqual(event);
    }
  });
});

describe('a generated secret still works end-to-end', () => {
  let server: Server | undefined;
  afterAll(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  it('over real HTTP, including during a rotation', async () => {
    const previous = generateWebhookSecret();
    const calls: string[] = [];
    const app = express();
    app.post('/cb', createCallbackRoute({ secret: [good, previous], on: { '*': async (e) => void calls.push(e.id) } }).express());
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Two different events (the route refuses a webhook-id it already handled: replay protection).
    const events = [
      { ...event, id: `${event.id}_new_secret` },
      { ...event, id: `${event.id}_previous_secret` },
    ];
    for (const [i, s] of [good, previous].entries()) {
      const signed = signOutboundWebhook({ secret: s, body: events[i]! });
      const res = await fetch(`${base}/cb`, { method: 'POST', headers: signed.headers, body: signed.body });
      expect([res.status, await res.json()]).toEqual([200, { code: 'OK' }]);
    }
    const forged = signOutboundWebhook({ secret: generateWebhookSecret(), body: { ...event, id: `${event.id}_forged` } });
    const res = await fetch(`${base}/cb`, { method: 'POST', headers: forged.headers, body: forged.body });
    expect(res.status).toBe(400);
    expect(calls).toEqual(events.map((e) => e.id));
  });
});
