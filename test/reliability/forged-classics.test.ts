/**
 * Issue 9, item 1: the hand-written classics of the forged and malformed input corpus that are not
 * already covered elsewhere (alg none, HS256 key confusion, crit, jku/jwk/x5u, attacker roots, OID-less
 * and expired certificates live in test/providers/apple/apple-verifier.negative.test.ts and test/providers/apple/apple-negative-http.test.ts).
 *
 * Decisions (for RELIABILITY.md to cite):
 * - Duplicated JSON keys follow JSON.parse everywhere: the last one wins. In the outer HTTP body the
 *   same parsed value is the one verified and the one recorded, so a duplicate cannot make us verify
 *   one `signedPayload` and record another; a forged value after a valid one is rejected. Inside a
 *   signed JWS payload the payload is whatever was signed: a duplicated key is read as the signer's
 *   last value, as Apple's own library (JSON.parse) reads it.
 * - Timing-safe comparison is proven by the code path: `crypto.timingSafeEqual` is what decides (forcing
 *   it to answer true makes a wrong MAC pass; a difference in the first or the last byte takes the same
 *   path, one call on full-length buffers). Apple's ES256 check is a signature verification, not a
 *   comparison of secrets, and has no such concern.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { createCallbackRoute } from '../../adapters/callback.js';
import { generateWebhookSecret, secretKey } from '../../src/delivery/sign.js';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { appleHarness, recordingLogger, type AppleHarness } from '../helpers/apple-harness.js';
import { SECRET, xsollaHarness, type XsollaHarness } from '../helpers/xsolla-harness.js';
import { listen, rawPost } from './http-raw.js';

// A pass-through spy on crypto.timingSafeEqual, seen by the product's `import { timingSafeEqual } from 'node:crypto'`.
const { timingSafeEqualSpy } = vi.hoisted(() => ({ timingSafeEqualSpy: { fn: undefined as unknown as ReturnType<typeof vi.fn> } }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  timingSafeEqualSpy.fn = vi.fn((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => actual.timingSafeEqual(a, b));
  return { ...actual, default: { ...actual, timingSafeEqual: timingSafeEqualSpy.fn }, timingSafeEqual: timingSafeEqualSpy.fn };
});

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const b64u = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');
const MiB = 1024 * 1024;
const SLOW_BODY_TIMEOUT_MS = 300;

let apple: AppleHarness;
let applePort: number;
let xsolla: XsollaHarness;
let xsollaPort: number;
const callbackSecret = generateWebhookSecret();
const callbackCalls: string[] = [];
let callbackPort: number;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  apple = await appleHarness({ expressOptions: { bodyTimeoutMs: SLOW_BODY_TIMEOUT_MS } });
  const a = await listen(apple.app.listen(0, '127.0.0.1'));
  applePort = a.port;
  xsolla = xsollaHarness();
  const xapp = express();
  xapp.use(subscriptionWebhooks(xsolla.hooks, { bodyTimeoutMs: SLOW_BODY_TIMEOUT_MS }));
  const x = await listen(xapp.listen(0, '127.0.0.1'));
  xsollaPort = x.port;
  const capp = express();
  capp.post(
    '/cb',
    createCallbackRoute({
      secret: callbackSecret,
      on: {
        'customer.subscription.renewed': async (e) => void callbackCalls.push(`renewed:${e.id}`),
        '*': async (e) => void callbackCalls.push(`*:${e.type}`),
      },
    }).express(),
  );
  const c = await listen(capp.listen(0, '127.0.0.1'));
  callbackPort = c.port;
  closers.push(a.close, x.close, c.close);
});
afterAll(async () => {
  await Promise.all(closers.map((c) => c()));
});
afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
});

const postApple = (path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  rawPost(applePort, path, headers, typeof body === 'string' ? utf8(body) : body);
const xsollaSig = (body: Uint8Array, secret = SECRET) => `Signature ${createHash('sha1').update(body).update(secret).digest('hex')}`;
const postXsolla = (body: Buffer, authorization: string | null = xsollaSig(body)) =>
  rawPost(xsollaPort, xsolla.hooks.routes.xsolla, { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) }, body);
const postCallback = (signed: { headers: Record<string, string>; body: string | Buffer }) =>
  rawPost(callbackPort, '/cb', signed.headers, typeof signed.body === 'string' ? utf8(signed.body) : signed.body);
const appleError = (r: { json: unknown }) => (r.json as { data?: { error?: string } }).data?.error;
const xsollaError = (r: { json: unknown }) => (r.json as { error?: { code?: string } }).error?.code;

/** Signs `text` as the JWS payload bytes, exactly (the test signer otherwise serialises an object itself). */
async function signRawPayload(text: string): Promise<string> {
  const marker = {};
  const original = JSON.stringify;
  const spy = vi
    .spyOn(JSON, 'stringify')
    .mockImplementation(((v: unknown, ...rest: []) => (v === marker ? text : original(v, ...rest))) as typeof JSON.stringify);
  try {
    return await apple.signer.sign(marker);
  } finally {
    spy.mockRestore();
  }
}

/** A valid SUBSCRIBED payload object (for raw re-serialisation with a twist). */
function subscribedPayload() {
  const c = apple.contract();
  return {
    notificationType: 'SUBSCRIBED',
    subtype: 'INITIAL_BUY',
    notificationUUID: nodeCrypto.randomUUID(),
    version: '2.0',
    signedDate: apple.tick(),
    data: { bundleId: 'com.example.app', appAppleId: 1234567890, environment: 'Production', signedTransactionInfo: '', signedRenewalInfo: '' },
    contract: c,
  };
}

async function signedNotificationText(mutateText: (payloadJson: string) => string) {
  const p = subscribedPayload();
  const tx = await apple.signer.sign(p.contract.transaction());
  const renewal = await apple.signer.sign(p.contract.renewal());
  const { contract: _c, ...payload } = p;
  const json = JSON.stringify({ ...payload, data: { ...payload.data, signedTransactionInfo: tx, signedRenewalInfo: renewal } });
  return { jws: await signRawPayload(mutateText(json)), uuid: p.notificationUUID, originalTransactionId: p.contract.originalTransactionId };
}

describe('duplicated JSON keys', () => {
  it('outer Apple body: a forged signedPayload after a valid one is rejected; before it, the valid (last) one is the one verified and recorded', async () => {
    const good = await apple.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: apple.contract().transaction() });
    const forged = `${good.split('.')[0]}.${b64u(JSON.stringify({ notificationType: 'REFUND', notificationUUID: 'evil', signedDate: Date.now() }))}.${good.split('.')[2]}`;
    const before = await apple.store.countNotifications();
    const r1 = await postApple(apple.hooks.routes.apple, `{"signedPayload":${JSON.stringify(good)},"signedPayload":${JSON.stringify(forged)}}`);
    expect([r1.status, appleError(r1)]).toEqual([400, 'SIGNATURE_INVALID']);
    expect(await apple.store.countNotifications()).toBe(before);

    const r2 = await postApple(apple.hooks.routes.apple, `{"signedPayload":${JSON.stringify(forged)},"signedPayload":${JSON.stringify(good)}}`);
    expect(r2.status).toBe(200);
    const uuid = JSON.parse(Buffer.from(good.split('.')[1]!, 'base64url').toString()) as { notificationUUID: string };
    const row = await apple.store.getNotification('apple', uuid.notificationUUID);
    expect(row?.notification_type).toBe('SUBSCRIBED'); // the verified value, never the forged one
    expect(await apple.store.getNotification('apple', 'evil')).toBeNull();
  });

  it('outer Xsolla body: a duplicate key added to a signed body breaks the signature; a signed body with a duplicate is read last-wins', async () => {
    const c = xsolla.contract();
    const text = JSON.stringify(c.payment(9_100_001));
    const sig = xsollaSig(utf8(text));
    const spliced = `{"settings":{"project_id":1,"merchant_id":1},${text.slice(1)}`;
    const r1 = await postXsolla(utf8(spliced), sig);
    expect([r1.status, xsollaError(r1)]).toEqual([400, 'INVALID_SIGNATURE']);
    // Signed by the secret holder with the wrong project first and the right one last: JSON.parse keeps the last.
    const signedDup = `{"settings":{"project_id":1,"merchant_id":1},${text.slice(1)}`;
    const r2 = await postXsolla(utf8(signedDup));
    expect(r2.status).toBe(204);
    const last = `${text.slice(0, -1)},"settings":{"project_id":1,"merchant_id":1}}`;
    const r3 = await postXsolla(utf8(last));
    expect([r3.status, xsollaError(r3)]).toEqual([400, 'INVALID_PARAMETER']); // XSOLLA_PROJECT_MISMATCH in Xsolla's vocabulary
  });

  it("inside a signed Apple payload: the payload is what was signed, read last-wins like Apple's library does", async () => {
    const { jws, uuid } = await signedNotificationText((json) =>
      json.replace('"notificationType":"SUBSCRIBED"', '"notificationType":"TEST","notificationType":"SUBSCRIBED"'),
    );
    const r = await postApple(apple.hooks.routes.apple, JSON.stringify({ signedPayload: jws }));
    expect(r.status).toBe(200);
    expect((r.json as { data: { notificationType: string } }).data.notificationType).toBe('SUBSCRIBED');
    expect((await apple.store.getNotification('apple', uuid))?.notification_type).toBe('SUBSCRIBED');
  });

  it('callback route: a signed delivery is parsed last-wins; a duplicate added by an attacker breaks the signature', async () => {
    const event = sampleEvent('dup', 1);
    const body = JSON.stringify(event);
    const signed = signOutboundWebhook({ secret: callbackSecret, body: event });
    const r1 = await postCallback({ headers: signed.headers, body: `${body.slice(0, -1)},"type":"customer.subscription.renewed"}` });
    expect([r1.status, (r1.json as { code: string }).code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
  });
});

describe('__proto__ and constructor keys: no prototype pollution', () => {
  const evil = '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}';

  it('in unsigned outer bodies of every route → 4xx, nothing recorded', async () => {
    const before = await apple.store.countNotifications();
    for (const path of [apple.hooks.routes.apple, apple.hooks.routes.appleTransactions]) {
      const r = await postApple(path, `{${evil},"signedPayload":{"__proto__":{"polluted":1}},"signedTransaction":"a.b.c"}`);
      expect(r.status).toBe(400);
    }
    const x = await postXsolla(utf8(`{${evil},"notification_type":"payment"}`), 'Signature ' + '0'.repeat(40));
    expect([x.status, xsollaError(x)]).toEqual([400, 'INVALID_SIGNATURE']);
    const cb = await postCallback({ headers: { 'webhook-id': '__proto__', 'webhook-timestamp': '1', 'webhook-signature': 'v1,AAAA' }, body: `{${evil}}` });
    expect(cb.status).toBe(400);
    expect(await apple.store.countNotifications()).toBe(before);
  });

  it('in validly signed bodies and payloads (Apple payload and nested transaction, Xsolla body) → processed as data, nothing polluted', async () => {
    const { jws, uuid } = await signedNotificationText((json) => `{${evil},${json.slice(1)}`);
    const r = await postApple(apple.hooks.routes.apple, JSON.stringify({ signedPayload: jws }));
    expect(r.status).toBe(200);
    expect((await apple.store.getNotification('apple', uuid))?.notification_type).toBe('SUBSCRIBED');

    const c = xsolla.contract();
    const text = JSON.stringify(c.create());
    const signedEvil = `{${evil},${text.slice(1).replace('"subscription":{', `"subscription":{${evil},`)}`;
    const x = await postXsolla(utf8(signedEvil));
    expect(x.status).toBe(204);
    expect(await xsolla.store.getSubscription('xsolla', c.subscriptionId)).not.toBeNull();
  });

  it('callback route: a signed event whose type names an Object.prototype member runs only "*" (no inherited handler)', async () => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const event = { ...sampleEvent('proto', 1), id: `evt_${type}`, type };
      const before = callbackCalls.length;
      const r = await postCallback(signOutboundWebhook({ secret: callbackSecret, body: JSON.stringify(event), id: event.id }));
      expect([type, r.status]).toEqual([type, 200]);
      expect(callbackCalls.slice(before)).toEqual([`*:${type}`]);
    }
  });
});

describe('deeply nested JSON (100k levels): no stack overflow, a 4xx', () => {
  const DEPTH = 100_000;
  const nestedArray = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
  const nestedObject = '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);

  it('as the outer body of the Apple routes', async () => {
    for (const path of [apple.hooks.routes.apple, apple.hooks.routes.appleTransactions]) {
      for (const body of [nestedArray, `{"signedPayload":${nestedObject}}`, `{"signedTransaction":${nestedArray}}`, nestedObject]) {
        const r = await postApple(path, body);
        expect([r.status, appleError(r)]).toEqual([400, 'BODY_INVALID']);
      }
    }
  });

  it('inside the JWS header and payload (unsigned)', async () => {
    const good = await apple.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: apple.contract().transaction() });
    const [h, p, s] = good.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const deepHeader = `${b64u(`${JSON.stringify(header).slice(0, -1)},"deep":${nestedObject}}`)}.${p}.${s}`;
    const deepPayload = `${h}.${b64u(`{"deep":${nestedArray},"notificationType":"TEST"}`)}.${s}`;
    for (const jws of [deepHeader, deepPayload]) {
      const r = await postApple(apple.hooks.routes.apple, JSON.stringify({ signedPayload: jws }));
      expect(r.status).toBe(400);
      expect(appleError(r)).toMatch(/^(SIGNATURE_INVALID|JWS_MALFORMED)$/);
    }
  });

  it('inside a validly signed Apple payload → 400 JWS_MALFORMED (was a 500 from a stack overflow after verification)', async () => {
    const { jws, uuid } = await signedNotificationText((json) => `{"deep":${nestedArray},${json.slice(1)}`);
    const r = await postApple(apple.hooks.routes.apple, JSON.stringify({ signedPayload: jws }));
    expect([r.status, appleError(r)]).toEqual([400, 'JWS_MALFORMED']);
    expect(await apple.store.getNotification('apple', uuid)).toBeNull();
    expect(apple.logger.errors).toEqual([]);
  });

  it('as an Xsolla body (unsigned → INVALID_SIGNATURE; signed → 4xx INVALID_PARAMETER, never 5xx) and a callback body', async () => {
    const r1 = await postXsolla(utf8(nestedObject), 'Signature ' + 'a'.repeat(40));
    expect([r1.status, xsollaError(r1)]).toEqual([400, 'INVALID_SIGNATURE']);
    // Signed by the secret holder: parsed, but refused as 4xx before any recursive code could overflow (was a 500).
    const c = xsolla.contract();
    const text = JSON.stringify(c.create());
    for (const deep of [nestedArray, nestedObject]) {
      const r2 = await postXsolla(utf8(`{"deep":${deep},${text.slice(1)}`));
      expect([r2.status, xsollaError(r2)]).toEqual([400, 'INVALID_PARAMETER']);
    }
    expect(await xsolla.store.getSubscription('xsolla', c.subscriptionId)).toBeNull();
    // Ordinary nesting (20 levels of custom parameters) is fine.
    const r3 = await postXsolla(utf8(`{"custom":${'['.repeat(20)}${']'.repeat(20)},${text.slice(1)}`));
    expect(r3.status).toBe(204);
    const cb = await postCallback({ headers: { 'webhook-id': 'x', 'webhook-timestamp': '1', 'webhook-signature': 'v1,AAAA' }, body: nestedArray });
    expect([cb.status, (cb.json as { code: string }).code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    expect(xsolla.logger.errors).toEqual([]);
  });
});

describe('invalid UTF-8', () => {
  const bad = [Buffer.from([0xff]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82])];

  it('in the Apple outer body → 400 BODY_INVALID', async () => {
    for (const b of bad) {
      const body = Buffer.concat([utf8('{"signedPayload":"'), b, utf8('"}')]);
      const r = await postApple(apple.hooks.routes.apple, body);
      expect([r.status, appleError(r)]).toEqual([400, 'BODY_INVALID']);
    }
  });

  it('inside a JWS part → rejected (the bytes under the signature are not UTF-8 JSON)', async () => {
    const good = await apple.sign('TEST', undefined, undefined);
    const [h, , s] = good.split('.');
    for (const b of bad) {
      const r = await postApple(
        apple.hooks.routes.apple,
        JSON.stringify({ signedPayload: `${h}.${b64u(Buffer.concat([utf8('{"notificationType":"'), b, utf8('"}')]))}.${s}` }),
      );
      expect([r.status, appleError(r)]).toEqual([400, 'JWS_MALFORMED']);
    }
  });

  it('in a validly signed Xsolla body and callback body → 400, never decoded with replacement characters', async () => {
    const before = await xsolla.store.countNotifications();
    for (const b of bad) {
      const body = Buffer.concat([
        utf8('{"notification_type":"user_validation","user":{"id":"'),
        b,
        utf8('"},"settings":{"project_id":18404,"merchant_id":2340}}'),
      ]);
      const r = await postXsolla(body);
      expect([r.status, xsollaError(r)]).toEqual([400, 'INVALID_PARAMETER']);
      // HMAC over the exact (invalid) bytes, as a sender holding the secret would compute it.
      const ts = String(Math.floor(Date.now() / 1000));
      const mac = createHmac('sha256', secretKey(callbackSecret))
        .update(Buffer.concat([utf8(`evt_utf8.${ts}.`), body]))
        .digest('base64');
      const cb = await rawPost(callbackPort, '/cb', { 'webhook-id': 'evt_utf8', 'webhook-timestamp': ts, 'webhook-signature': `v1,${mac}` }, body);
      expect([cb.status, (cb.json as { code: string }).code]).toEqual([400, 'BODY_INVALID']);
    }
    expect(await xsolla.store.countNotifications()).toBe(before);
  });
});

/** Sends the request line and headers, then the body in chunks as long as the server has not answered. */
function rawSocketPost(port: number, path: string, headers: Record<string, string>, chunks: () => Buffer | null, opts: { delayMs?: number } = {}) {
  return new Promise<{ status: number; head: string; bodySent: number }>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let sent = 0;
    let answered = false;
    socket.on('data', (d) => {
      response += d.toString('latin1');
      if (!answered && response.includes('\r\n\r\n')) {
        answered = true;
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
        socket.destroy();
        resolve({ status, head: response.split('\r\n\r\n')[0]!, bodySent: sent });
      }
    });
    socket.on('error', (e) =>
      answered ? undefined : reject(new Error(`${path}: ${e.message} after ${sent} body bytes; got ${JSON.stringify(response.slice(0, 200))}`)),
    );
    socket.on('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      );
      const pump = () => {
        if (answered || socket.destroyed) return;
        const c = chunks();
        if (!c) return;
        sent += c.length;
        socket.write(c, () => (opts.delayMs ? setTimeout(pump, opts.delayMs) : setImmediate(pump)));
      };
      pump();
    });
  });
}

describe('10 MiB bodies → 413 without buffering them', () => {
  const TEN = 10 * MiB;

  it('declared by content-length: answered 413 before a single body byte is sent (Apple, Xsolla)', async () => {
    for (const [port, path] of [
      [applePort, apple.hooks.routes.apple],
      [applePort, apple.hooks.routes.appleTransactions],
      [xsollaPort, xsolla.hooks.routes.xsolla],
    ] as const) {
      const r = await rawSocketPost(port, path, { 'content-type': 'application/json', 'content-length': String(TEN) }, () => null);
      expect([path, r.status, r.bodySent]).toEqual([path, 413, 0]);
      expect(r.head.toLowerCase()).toContain('connection: close');
    }
  });

  it('chunked with no length: 413 after the first MiB, long before 10 MiB are sent (Apple, Xsolla, callback)', async () => {
    for (const [port, path] of [
      [applePort, apple.hooks.routes.apple],
      [xsollaPort, xsolla.hooks.routes.xsolla],
      [callbackPort, '/cb'],
    ] as const) {
      let remaining = TEN;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const next = () => {
        if (remaining <= 0) return null;
        remaining -= chunk.length;
        return Buffer.concat([utf8(`${chunk.length.toString(16)}\r\n`), chunk, utf8('\r\n')]);
      };
      const r = await rawSocketPost(port, path, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, next);
      expect([path, r.status]).toEqual([path, 413]);
      expect(r.bodySent).toBeLessThan(TEN);
    }
  });

  it('declared by content-length on the callback route: 413 too', async () => {
    const r = await rawSocketPost(callbackPort, '/cb', { 'content-type': 'application/json', 'content-length': String(TEN) }, () => null);
    expect([r.status, r.bodySent]).toEqual([413, 0]);
  });
});

describe('slow-loris: a real socket sending one byte per second gets 408 from the adapter', () => {
  it.each([
    ['Apple notifications', () => [applePort, apple.hooks.routes.apple] as const],
    ['Xsolla', () => [xsollaPort, xsolla.hooks.routes.xsolla] as const],
  ])('%s', async (_name, target) => {
    const [port, path] = target();
    const body = utf8(JSON.stringify({ signedPayload: 'x'.repeat(50) }));
    let i = 0;
    const r = await rawSocketPost(
      port,
      path,
      { 'content-type': 'application/json', 'content-length': String(body.length) },
      () => (i < body.length ? body.subarray(i, ++i) : null),
      { delayMs: 1000 },
    );
    expect(r.status).toBe(408);
    expect(r.bodySent).toBeLessThan(body.length);
    expect(r.head.toLowerCase()).toContain('connection: close');
  });
});

describe('Xsolla signatures are over the exact bytes, not over the JSON', () => {
  it('a signature of the compact JSON does not sign a re-serialised body, and vice versa; each body with its own signature is accepted', async () => {
    const c = xsolla.contract();
    const obj = c.create();
    const compact = utf8(JSON.stringify(obj));
    const variants = [
      utf8(JSON.stringify(obj, null, 2)),
      utf8(`${JSON.stringify(obj)}\n`),
      utf8(JSON.stringify(Object.fromEntries(Object.entries(obj).reverse()))),
    ];
    for (const v of variants) {
      const r1 = await postXsolla(v, xsollaSig(compact));
      expect([r1.status, xsollaError(r1)]).toEqual([400, 'INVALID_SIGNATURE']);
      const r2 = await postXsolla(compact, xsollaSig(v));
      expect([r2.status, xsollaError(r2)]).toEqual([400, 'INVALID_SIGNATURE']);
    }
    expect(await xsolla.store.getSubscription('xsolla', c.subscriptionId)).toBeNull();
    expect((await postXsolla(variants[0]!)).status).toBe(204);
    expect(await xsolla.store.getSubscription('xsolla', c.subscriptionId)).not.toBeNull();
  });
});

describe('the real Apple chain with a payload re-signed by another key', () => {
  const dir = new URL('../fixtures/apple-real/', import.meta.url);
  const real = readFileSync(new URL('03-notification-SUBSCRIBED_RESUBSCRIBE.jws', dir), 'utf8').trim();

  it('is rejected SIGNATURE_INVALID (the genuine chain does not make any signature good); the genuine JWS is accepted', async () => {
    const store = memoryStore();
    // The genuine JWS was signed in 2025: keep its dedup window open so that it is applied, not acknowledged as stale.
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.loki-project.loki-messenger', appAppleId: 1470168868, environments: ['Sandbox'] },
      store,
      logger: recordingLogger(),
      retention: { notificationDays: 36_500 },
    });
    const app = express();
    app.use(subscriptionWebhooks(hooks));
    const server = await listen(app.listen(0, '127.0.0.1'));
    try {
      const attacker = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const resign = async (h: string, p: string) =>
        `${h}.${p}.${b64u(new Uint8Array(await globalThis.crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, attacker.privateKey, utf8(`${h}.${p}`))))}`;
      const [h, p] = real.split('.') as [string, string, string];
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      const forged = [
        await resign(h, p),
        await resign(h, b64u(JSON.stringify({ ...payload, notificationType: 'REFUND', notificationUUID: nodeCrypto.randomUUID() }))),
      ];
      for (const jws of forged) {
        const r = await rawPost(server.port, hooks.routes.apple, { 'content-type': 'application/json' }, utf8(JSON.stringify({ signedPayload: jws })));
        expect([r.status, appleError(r)]).toEqual([400, 'SIGNATURE_INVALID']);
      }
      expect(await store.countNotifications()).toBe(0);
      const ok = await rawPost(server.port, hooks.routes.apple, { 'content-type': 'application/json' }, utf8(JSON.stringify({ signedPayload: real })));
      expect(ok.status, ok.text).toBe(200);
      expect(await store.countNotifications()).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('timing-safe comparison: crypto.timingSafeEqual decides, whichever byte differs', () => {
  afterEach(() => {
    timingSafeEqualSpy.fn.mockClear();
  });

  it('Xsolla: a signature wrong in its first byte and one wrong in its last byte take the same path; forcing timingSafeEqual to true lets a wrong one through', async () => {
    const c = xsolla.contract();
    const body = utf8(JSON.stringify(c.create()));
    const hex = createHash('sha1').update(body).update(SECRET).digest('hex');
    const flip = (i: number) => `${hex.slice(0, i)}${hex[i] === '0' ? '1' : '0'}${hex.slice(i + 1)}`;
    const calls: unknown[][] = [];
    for (const wrong of [flip(0), flip(39)]) {
      timingSafeEqualSpy.fn.mockClear();
      const r = await postXsolla(body, `Signature ${wrong}`);
      expect([r.status, xsollaError(r)]).toEqual([400, 'INVALID_SIGNATURE']);
      expect(timingSafeEqualSpy.fn).toHaveBeenCalledTimes(1);
      const [a, b] = timingSafeEqualSpy.fn.mock.calls[0]! as [Buffer, Buffer];
      expect([a.length, b.length]).toEqual([20, 20]);
      expect(timingSafeEqualSpy.fn.mock.results[0]!.value).toBe(false);
      calls.push([a.length, b.length]);
    }
    expect(calls[0]).toEqual(calls[1]);
    timingSafeEqualSpy.fn.mockReturnValueOnce(true);
    const forcedOk = await postXsolla(body, `Signature ${flip(39)}`);
    expect(forcedOk.status).toBe(204); // nothing but timingSafeEqual stood in the way
  });

  it('callback route: the same, on the 32-byte HMAC', async () => {
    const event = sampleEvent('tse', 1);
    const signed = signOutboundWebhook({ secret: callbackSecret, body: event });
    const mac = Buffer.from(signed.headers['webhook-signature'].slice(3), 'base64');
    const flipped = (i: number) => {
      const m = Buffer.from(mac);
      m[i] = m[i]! ^ 0x01;
      return `v1,${m.toString('base64')}`;
    };
    for (const i of [0, 31]) {
      timingSafeEqualSpy.fn.mockClear();
      const r = await postCallback({ headers: { ...signed.headers, 'webhook-signature': flipped(i) }, body: signed.body });
      expect([r.status, (r.json as { code: string }).code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
      expect(timingSafeEqualSpy.fn).toHaveBeenCalledTimes(1);
      expect((timingSafeEqualSpy.fn.mock.calls[0]![0] as Buffer).length).toBe(32);
    }
    timingSafeEqualSpy.fn.mockReturnValueOnce(true);
    const before = callbackCalls.length;
    const forcedOk = await postCallback({ headers: { ...signed.headers, 'webhook-signature': flipped(31) }, body: signed.body });
    expect(forcedOk.status).toBe(200);
    expect(callbackCalls.length).toBe(before + 2);
  });
});
