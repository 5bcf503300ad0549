/**
 * Issue 9, item 1: the generated part of the forged and malformed input corpus.
 *
 * Property, for each of the four routes (Apple notifications, Apple client transactions, Xsolla, our
 * callback route): take a validly signed request and mutate it (byte flips, truncation, insertions,
 * re-encodings, JSON re-serialisation, JWS part surgery, header swaps), or replace it with arbitrary
 * junk. Whatever comes out, sent over a real socket:
 * - if it is no longer validly signed, it is answered 4xx with a stable code (ERROR_CODES, or the
 *   Xsolla wire codes), and nothing is recorded: no inbox row, no event, no subscription, no order;
 * - it is never answered 5xx and never crashes the process (vitest fails on uncaught errors);
 * - if a mutation happens to leave the signed content intact (e.g. `{"signedPayload": ...}` re-serialised
 *   with spaces), the test's own oracle says so and the request must be accepted as the duplicate it is.
 * The valid baselines are posted once first, so an accepted case is a duplicate and records nothing either.
 *
 * Fixed seeds; 300 + 150 + 200 + 150 = 800 generated cases.
 */
import { createHash } from 'node:crypto';
import express from 'express';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallbackRoute } from '../../adapters/callback.js';
import { generateWebhookSecret } from '../../src/delivery/sign.js';
import { ERROR_CODES } from '../../src/core/errors.js';
import type { Store } from '../../src/index.js';
import { createAppleTestSigner } from '../../src/testing/apple-signer.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { appleHarness, type AppleHarness } from '../helpers/apple-harness.js';
import { SECRET, xsollaHarness, type XsollaHarness } from '../helpers/xsolla-harness.js';
import { listen, rawPost, type RawResponse } from './http-raw.js';

const SEED = 0x9_0001;
const RUNS = { apple: 300, appleTransaction: 150, xsolla: 200, callback: 150 };
const CODES = new Set<string>(ERROR_CODES);
const XSOLLA_WIRE_CODES = new Set(['INVALID_SIGNATURE', 'INVALID_PARAMETER', 'INVALID_USER']);

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const b64u = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');

// ---------------------------------------------------------------------------------------------------
// Generic mutations of bytes and headers.

type Bytes = Buffer;
type BodyMutation = { name: string; apply: (b: Bytes) => Bytes };

const byteFlip: fc.Arbitrary<BodyMutation> = fc.record({ at: fc.nat(), x: fc.integer({ min: 1, max: 255 }) }).map(({ at, x }) => ({
  name: `flip@${at}^${x}`,
  apply: (b) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[at % c.length] = c[at % c.length]! ^ x;
    return c;
  },
}));
const truncate: fc.Arbitrary<BodyMutation> = fc.nat().map((n) => ({ name: `truncate(${n})`, apply: (b) => b.subarray(0, b.length === 0 ? 0 : n % b.length) }));
const insert: fc.Arbitrary<BodyMutation> = fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ at, bytes }) => ({
  name: `insert@${at}`,
  apply: (b) => Buffer.concat([b.subarray(0, at % (b.length + 1)), Buffer.from(bytes), b.subarray(at % (b.length + 1))]),
}));
const remove: fc.Arbitrary<BodyMutation> = fc.record({ at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }).map(({ at, n }) => ({
  name: `remove@${at}+${n}`,
  apply: (b) => Buffer.concat([b.subarray(0, at % (b.length + 1)), b.subarray((at % (b.length + 1)) + n)]),
}));
const reencode: fc.Arbitrary<BodyMutation> = fc.constantFrom<BodyMutation>(
  { name: 'utf16le', apply: (b) => Buffer.from(b.toString('utf8'), 'utf16le') },
  { name: 'utf16le+BOM', apply: (b) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(b.toString('utf8'), 'utf16le')]) },
  { name: 'utf8 BOM', apply: (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]) },
  { name: 'base64 body', apply: (b) => utf8(b.toString('base64')) },
  { name: 'form-urlencoded', apply: (b) => utf8(new URLSearchParams(JSON.parse(b.toString('utf8')) as Record<string, string>).toString()) },
  { name: 'latin1 of a non-ASCII suffix', apply: (b) => Buffer.concat([b, Buffer.from('é', 'latin1')]) },
  { name: 'overlong NUL', apply: (b) => Buffer.concat([b.subarray(0, 1), Buffer.from([0xc0, 0x80]), b.subarray(1)]) },
  { name: 'lone surrogate (CESU-8)', apply: (b) => Buffer.concat([b.subarray(0, 1), Buffer.from([0xed, 0xa0, 0x80]), b.subarray(1)]) },
  { name: 'trailing newline', apply: (b) => Buffer.concat([b, utf8('\n')]) },
  { name: 'leading space', apply: (b) => Buffer.concat([utf8(' '), b]) },
  { name: 'gzip magic prefix', apply: (b) => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), b]) },
  { name: 'JSON array wrap', apply: (b) => Buffer.concat([utf8('['), b, utf8(']')]) },
  { name: 'JSON string wrap', apply: (b) => utf8(JSON.stringify(b.toString('utf8'))) },
);

/** JSON re-serialisations that change the bytes but not (necessarily) the meaning. */
const reserialize: fc.Arbitrary<BodyMutation> = fc.constantFrom<BodyMutation>(
  { name: 'pretty 2', apply: (b) => utf8(JSON.stringify(JSON.parse(b.toString('utf8')), null, 2)) },
  { name: 'pretty tab', apply: (b) => utf8(JSON.stringify(JSON.parse(b.toString('utf8')), null, '\t')) },
  { name: 'keys reversed', apply: (b) => utf8(JSON.stringify(reverseKeys(JSON.parse(b.toString('utf8'))))) },
  { name: 'keys sorted', apply: (b) => utf8(JSON.stringify(sortKeys(JSON.parse(b.toString('utf8'))))) },
  { name: '\\u-escaped ASCII', apply: (b) => utf8(b.toString('utf8').replace(/[a-z]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) },
  { name: 'numbers as strings', apply: (b) => utf8(b.toString('utf8').replace(/:(-?\d+(?:\.\d+)?)/g, ':"$1"')) },
  { name: 'extra key', apply: (b) => utf8(JSON.stringify({ ...(JSON.parse(b.toString('utf8')) as object), extra: true })) },
  { name: 'duplicate first key with junk after', apply: (b) => utf8(duplicateFirstKey(b.toString('utf8'), 'after')) },
  { name: 'duplicate first key with junk before', apply: (b) => utf8(duplicateFirstKey(b.toString('utf8'), 'before')) },
);

function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reverseKeys(x)]),
    );
  return v;
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  return v;
}
/** `{"k":v,...}` → `{"k":"junk","k":v,...}` (before) or `{"k":v,"k":"junk",...}` (after): JSON.parse keeps the last. */
function duplicateFirstKey(text: string, where: 'before' | 'after'): string {
  const obj = JSON.parse(text) as Record<string, unknown>;
  const [k, v] = Object.entries(obj)[0]!;
  const rest = Object.entries(obj)
    .slice(1)
    .map(([kk, vv]) => `${JSON.stringify(kk)}:${JSON.stringify(vv)}`);
  const pair = `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  const junk = `${JSON.stringify(k)}:"eyJhbGciOiJub25lIn0.e30."`;
  return `{${[...(where === 'before' ? [junk, pair] : [pair, junk]), ...rest].join(',')}}`;
}

/** Arbitrary junk instead of the request body. */
const junkBody: fc.Arbitrary<BodyMutation> = fc
  .oneof(
    fc.uint8Array({ maxLength: 2048 }).map((u) => Buffer.from(u)),
    fc.string({ maxLength: 300 }).map(utf8),
    fc.string({ unit: 'binary', maxLength: 200 }).map(utf8),
    fc.json().map(utf8),
    fc.jsonValue().map((v) => utf8(JSON.stringify({ signedPayload: v, signedTransaction: v, notification_type: v, id: v, type: v }))),
    fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { maxKeys: 6 }).map((o) => utf8(JSON.stringify(o))),
    fc.constantFrom('', '{}', 'null', '[]', '"x"', '0', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}').map(utf8),
  )
  .map((junk) => ({ name: `junk(${junk.length})`, apply: () => junk }));

const bodyMutation = fc.oneof(
  { weight: 4, arbitrary: byteFlip },
  { weight: 2, arbitrary: truncate },
  { weight: 2, arbitrary: insert },
  { weight: 2, arbitrary: remove },
  { weight: 2, arbitrary: reencode },
  { weight: 2, arbitrary: reserialize },
  { weight: 3, arbitrary: junkBody },
);

/** Content-type noise: the routes read raw bytes whatever the client claims. */
const contentType = fc.constantFrom<string | undefined>(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  undefined,
);
const printable = fc.stringMatching(/^[!-~][ -~]{0,60}[!-~]$/);

/** Applies body mutations in sequence, tolerating mutations that cannot apply (e.g. JSON re-serialisation of junk). */
function mutateBody(base: Bytes, mutations: BodyMutation[]): Bytes {
  let b = base;
  for (const m of mutations) {
    try {
      b = m.apply(b);
    } catch {
      // not applicable to these bytes (not JSON any more): keep them as they are
    }
  }
  return b;
}

const fatal = new TextDecoder('utf-8', { fatal: true });
/** The body as the JSON object a careful reader would see, or null. */
function jsonObject(body: Bytes): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(fatal.decode(body));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// JWS surgery (Apple routes).

type JwsMutation = { name: string; apply: (jws: string, other: string, foreign: string) => unknown };
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const parts = (j: string) => j.split('.');
const decodeJson = (p: string) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;

const jwsMutation: fc.Arbitrary<JwsMutation> = fc.oneof(
  fc.record({ at: fc.nat(), c: fc.constantFrom(...B64U, '.', '=', '+', '/', ' ', '%', '\u00e9', '\u0000') }).map(({ at, c }) => ({
    name: `char@${at}=${JSON.stringify(c)}`,
    apply: (j: string) => j.slice(0, at % j.length) + c + j.slice((at % j.length) + 1),
  })),
  fc.nat().map((n) => ({ name: `cut(${n})`, apply: (j: string) => j.slice(0, n % j.length) })),
  fc.record({ part: fc.integer({ min: 0, max: 2 }), at: fc.nat(), x: fc.integer({ min: 1, max: 255 }) }).map(({ part, at, x }) => ({
    name: `decoded-flip p${part}@${at}^${x}`,
    apply: (j: string) => {
      const ps = parts(j);
      const bytes = Buffer.from(ps[part]!, 'base64url');
      bytes[at % bytes.length] = bytes[at % bytes.length]! ^ x;
      ps[part] = bytes.toString('base64url');
      return ps.join('.');
    },
  })),
  fc.record({ part: fc.integer({ min: 0, max: 2 }), style: fc.constantFrom('base64', 'padded', 'mime') }).map(({ part, style }) => ({
    name: `re-encode p${part} ${style}`,
    apply: (j: string) => {
      const ps = parts(j);
      const bytes = Buffer.from(ps[part]!, 'base64url');
      const std = bytes.toString('base64');
      ps[part] =
        style === 'base64'
          ? std.replace(/=+$/, '')
          : style === 'padded'
            ? `${ps[part]}${'='.repeat((4 - (ps[part]!.length % 4)) % 4) || '===='}`
            : std.replace(/(.{20})/g, '$1\n');
      return ps.join('.');
    },
  })),
  fc
    .record({ part: fc.integer({ min: 0, max: 1 }), style: fc.constantFrom<'indent' | 'reverse' | 'sort' | 'space'>('indent', 'reverse', 'sort', 'space') })
    .map(({ part, style }) => ({
      name: `re-serialise p${part} ${style}`,
      apply: (j: string) => {
        const ps = parts(j);
        const v = decodeJson(ps[part]!);
        const text =
          style === 'indent'
            ? JSON.stringify(v, null, 1)
            : style === 'reverse'
              ? JSON.stringify(reverseKeys(v))
              : style === 'sort'
                ? JSON.stringify(sortKeys(v))
                : ` ${JSON.stringify(v)}`;
        ps[part] = b64u(text);
        return ps.join('.');
      },
    })),
  fc.record({ from: fc.array(fc.constantFrom<'self' | 'other' | 'foreign'>('self', 'other', 'foreign'), { minLength: 3, maxLength: 3 }) }).map(({ from }) => ({
    name: `splice ${from.join('/')}`,
    apply: (j: string, other: string, foreign: string) => from.map((f, i) => parts(f === 'self' ? j : f === 'other' ? other : foreign)[i]).join('.'),
  })),
  fc.constantFrom<JwsMutation>(
    { name: 'drop signature', apply: (j) => parts(j).slice(0, 2).join('.') + '.' },
    { name: 'two parts', apply: (j) => parts(j).slice(0, 2).join('.') },
    { name: 'four parts', apply: (j) => `${j}.${parts(j)[2]}` },
    { name: 'JWS JSON serialisation', apply: (j) => JSON.stringify({ protected: parts(j)[0], payload: parts(j)[1], signature: parts(j)[2] }) },
    { name: 'whitespace around', apply: (j) => ` ${j}\n` },
    { name: 'signature zeroed', apply: (j) => `${parts(j).slice(0, 2).join('.')}.${b64u(Buffer.alloc(64))}` },
    {
      name: 'signature DER-encoded',
      apply: (j) =>
        `${parts(j).slice(0, 2).join('.')}.${b64u(Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), Buffer.from(parts(j)[2]!, 'base64url').subarray(0, 32), Buffer.from([0x02, 0x20]), Buffer.from(parts(j)[2]!, 'base64url').subarray(32)]))}`,
    },
    { name: 'payload of another notification', apply: (j, other) => `${parts(j)[0]}.${parts(other)[1]}.${parts(j)[2]}` },
    { name: 're-signed by a foreign chain', apply: (_j, _o, foreign) => foreign },
    { name: 'foreign signature under our header', apply: (j, _o, foreign) => `${parts(j)[0]}.${parts(j)[1]}.${parts(foreign)[2]}` },
    { name: 'alg none', apply: (j) => `${b64u(JSON.stringify({ ...decodeJson(parts(j)[0]!), alg: 'none' }))}.${parts(j)[1]}.` },
    { name: 'x5c emptied', apply: (j) => `${b64u(JSON.stringify({ ...decodeJson(parts(j)[0]!), x5c: [] }))}.${parts(j)[1]}.${parts(j)[2]}` },
    {
      name: 'jku added',
      apply: (j) => `${b64u(JSON.stringify({ ...decodeJson(parts(j)[0]!), jku: 'http://127.0.0.1:1/keys' }))}.${parts(j)[1]}.${parts(j)[2]}`,
    },
    { name: 'as a number', apply: () => 1 },
    { name: 'as an array', apply: (j) => [j] },
    { name: 'as an object', apply: (j) => ({ jws: j }) },
    { name: 'null', apply: () => null },
    { name: 'empty string', apply: () => '' },
  ),
  fc.jsonValue().map((v) => ({ name: 'random payload JSON', apply: (j: string) => `${parts(j)[0]}.${b64u(JSON.stringify(v))}.${parts(j)[2]}` })),
  fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 200 }), fc.string({ maxLength: 90 })).map(([a, b, c]) => ({
    name: 'random three parts',
    apply: () => `${b64u(a)}.${b64u(b)}.${b64u(c)}`,
  })),
);

// ---------------------------------------------------------------------------------------------------
// Shared checks.

interface Recorded {
  notifications: number;
  events: number;
  subscriptions: number;
}
async function recorded(store: Store): Promise<Recorded> {
  return {
    notifications: await store.countNotifications(),
    events: (await store.listEvents()).length,
    subscriptions: (await store.listSubscriptions()).length,
  };
}

function expectStableRejection(res: RawResponse, code: unknown, label: string) {
  expect(res.status, label).toBeGreaterThanOrEqual(400);
  expect(res.status, label).toBeLessThan(500);
  expect(CODES.has(String(code)), `${label}: code ${String(code)}`).toBe(true);
}

const tally = { apple: 0, appleTransaction: 0, xsolla: 0, callback: 0 };
const accepted = { apple: 0, appleTransaction: 0, xsolla: 0, callback: 0 };

afterAll(() => {
  // No prototype pollution from any generated body (junk includes __proto__ / constructor keys).
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(tally.apple + tally.appleTransaction + tally.xsolla + tally.callback).toBeGreaterThanOrEqual(500);
});

// ---------------------------------------------------------------------------------------------------

describe('forged and malformed input, generated (fast-check, fixed seed)', () => {
  let apple: AppleHarness;
  let applePort: number;
  let closeApple: () => Promise<void>;
  let validNotification: string;
  let otherNotification: string;
  let foreignNotification: string;
  let validTransaction: string;
  let otherTransaction: string;
  let foreignTransaction: string;
  let appleBaseline: Recorded;

  beforeAll(async () => {
    apple = await appleHarness();
    ({ port: applePort, close: closeApple } = await listen(apple.app.listen(0, '127.0.0.1')));
    const foreign = await createAppleTestSigner({ bundleId: 'com.example.app', appAppleId: 1234567890, environment: 'Production' });
    const c = apple.contract();
    const c2 = apple.contract();
    const payload = {
      notificationType: 'SUBSCRIBED',
      subtype: 'INITIAL_BUY',
      data: { bundleId: 'com.example.app', appAppleId: 1234567890, environment: 'Production', transaction: c.transaction() },
    };
    validNotification = await apple.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction({}, true) });
    otherNotification = await apple.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c2.transaction() });
    foreignNotification = await foreign.signNotification({ ...payload, notificationUUID: crypto.randomUUID(), signedDate: apple.tick() } as never);
    const t1 = apple.contract();
    const t2 = apple.contract();
    validTransaction = await apple.signer.signTransaction(t1.transaction() as never);
    otherTransaction = await apple.signer.signTransaction(t2.transaction() as never);
    foreignTransaction = await foreign.signTransaction(t1.transaction({}, true) as never);
    // The baselines are accepted, so any case the oracle calls valid is a duplicate that records nothing.
    for (const [path, body] of [
      [apple.hooks.routes.apple, { signedPayload: validNotification }],
      [apple.hooks.routes.apple, { signedPayload: otherNotification }],
      [apple.hooks.routes.appleTransactions, { signedTransaction: validTransaction }],
      [apple.hooks.routes.appleTransactions, { signedTransaction: otherTransaction }],
    ] as const) {
      const r = await rawPost(applePort, path, { 'content-type': 'application/json' }, utf8(JSON.stringify(body)));
      expect(r.status, r.text).toBe(200);
    }
    appleBaseline = await recorded(apple.store);
    expect(appleBaseline.notifications).toBe(4);
  });
  afterAll(async () => closeApple?.());

  /** One Apple route's property: `field` is `signedPayload` or `signedTransaction`. */
  async function appleProperty(route: 'apple' | 'appleTransaction', runs: number) {
    const field = route === 'apple' ? 'signedPayload' : 'signedTransaction';
    const path = route === 'apple' ? apple.hooks.routes.apple : apple.hooks.routes.appleTransactions;
    const [valid, other, foreign] =
      route === 'apple' ? [validNotification, otherNotification, foreignNotification] : [validTransaction, otherTransaction, foreignTransaction];
    const requestArb = fc.record({
      jws: fc.option(fc.array(jwsMutation, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 4 }),
      body: fc.array(bodyMutation, { minLength: 0, maxLength: 2 }),
      contentType,
      noise: fc.option(fc.tuple(fc.constantFrom('authorization', 'x-forwarded-for', 'x-apple-signature', 'content-encoding', 'transfer-coding'), printable), {
        nil: undefined,
      }),
    });
    await fc.assert(
      fc.asyncProperty(requestArb, async (c) => {
        tally[route] += 1;
        let value: unknown = valid;
        for (const m of c.jws ?? []) {
          try {
            value = typeof value === 'string' ? m.apply(value, other, foreign) : value;
          } catch {
            // not applicable to what the previous mutation left (e.g. a part that is no longer JSON)
          }
        }
        const body = mutateBody(utf8(JSON.stringify({ [field]: value })), c.body);
        const headers: Record<string, string> = {};
        if (c.contentType) headers['content-type'] = c.contentType;
        if (c.noise) headers[c.noise[0]] = c.noise[1];
        const seenBefore = apple.seen.length;
        const res = await rawPost(applePort, path, headers, body);
        const label = `${route} ${[...(c.jws ?? []), ...c.body].map((m) => m.name).join(' + ')} → ${res.status} ${res.text.slice(0, 200)}`;
        // Oracle: still validly signed iff the parsed body carries one of the two baseline JWS unchanged.
        const carried = jsonObject(body)?.[field];
        const stillValid = carried === valid || carried === other;
        const data = (res.json as { code?: number; data?: { error?: string; duplicate?: boolean } } | undefined) ?? {};
        if (stillValid) {
          accepted[route] += 1;
          expect(res.status, label).toBe(200);
          expect(data.data?.duplicate, label).toBe(true);
        } else {
          expectStableRejection(res, data.data?.error, label);
          expect(data.code, label).toBe(res.status);
        }
        expect(apple.seen.length, label).toBe(seenBefore);
        expect(await recorded(apple.store), label).toEqual(appleBaseline);
      }),
      { seed: SEED, numRuns: runs, endOnFailure: true },
    );
  }

  it(`Apple notification route: ${RUNS.apple} mutations of a signed notification and junk → 4xx + stable code, nothing recorded`, async () => {
    await appleProperty('apple', RUNS.apple);
    expect(tally.apple).toBe(RUNS.apple);
  });

  it(`Apple client transaction route: ${RUNS.appleTransaction} mutations of a signed transaction and junk → 4xx + stable code, nothing recorded`, async () => {
    await appleProperty('appleTransaction', RUNS.appleTransaction);
    expect(tally.appleTransaction).toBe(RUNS.appleTransaction);
    expect(apple.logger.errors).toEqual([]); // no 5xx-class error was ever logged
  });

  describe('Xsolla route', () => {
    let x: XsollaHarness;
    let port: number;
    let close: () => Promise<void>;
    let validBody: Buffer;
    let baseline: Recorded;
    const sign = (body: Uint8Array, secret = SECRET) => createHash('sha1').update(body).update(secret).digest('hex');

    beforeAll(async () => {
      x = xsollaHarness();
      ({ port, close } = await listen(x.app.listen(0, '127.0.0.1')));
      const c = x.contract();
      validBody = utf8(JSON.stringify(c.payment(4_242_424)));
      const r = await rawPost(port, x.hooks.routes.xsolla, { 'content-type': 'application/json', authorization: `Signature ${sign(validBody)}` }, validBody);
      expect(r.status, r.text).toBe(204);
      baseline = await recorded(x.store);
      expect(baseline.notifications).toBe(1);
    });
    afterAll(async () => close?.());

    it(`${RUNS.xsolla} mutations of a signed webhook (body and Authorization) and junk → 4xx + Xsolla wire code, nothing recorded`, async () => {
      type HeaderMutation = { name: string; apply: (auth: string, body: Buffer) => Record<string, string> };
      const headerMutation: fc.Arbitrary<HeaderMutation> = fc.oneof(
        fc.constant<HeaderMutation>({ name: 'keep', apply: (a) => ({ authorization: a }) }),
        fc.constant<HeaderMutation>({ name: 're-sign mutated body', apply: (_a, b) => ({ authorization: `Signature ${sign(b)}` }) }),
        fc.record({ at: fc.nat(), c: fc.constantFrom(...'0123456789abcdefABCDEFxg ') }).map(({ at, c }) => ({
          name: `sig char@${at}=${c}`,
          apply: (a: string) => {
            const i = 'Signature '.length + (at % 40);
            return { authorization: a.slice(0, i) + c + a.slice(i + 1) };
          },
        })),
        fc.constantFrom<HeaderMutation>(
          { name: 'no header', apply: () => ({}) },
          { name: 'empty', apply: () => ({ authorization: '' }) },
          { name: 'other header name', apply: (a) => ({ 'x-authorization': a }) },
          { name: 'Signature only', apply: () => ({ authorization: 'Signature' }) },
          { name: 'Bearer scheme', apply: (a) => ({ authorization: a.replace('Signature', 'Bearer') }) },
          { name: 'no scheme', apply: (a) => ({ authorization: a.slice('Signature '.length) }) },
          { name: 'truncated hex', apply: (a) => ({ authorization: a.slice(0, -1) }) },
          { name: 'extra hex', apply: (a) => ({ authorization: `${a}0` }) },
          { name: 'base64 digest', apply: (a) => ({ authorization: `Signature ${Buffer.from(a.slice(10), 'hex').toString('base64')}` }) },
          { name: 'wrong secret', apply: (_a, b) => ({ authorization: `Signature ${sign(b, 'not-the-secret')}` }) },
          { name: 'sha1(secret + body)', apply: (_a, b) => ({ authorization: `Signature ${createHash('sha1').update(SECRET).update(b).digest('hex')}` }) },
          { name: 'sha1(body) unkeyed', apply: (_a, b) => ({ authorization: `Signature ${createHash('sha1').update(b).digest('hex')}` }) },
          { name: 'sha256', apply: (_a, b) => ({ authorization: `Signature ${createHash('sha256').update(b).update(SECRET).digest('hex')}` }) },
          { name: 'zeros', apply: () => ({ authorization: `Signature ${'0'.repeat(40)}` }) },
          { name: 'two signatures', apply: (a) => ({ authorization: `${a}, Signature ${'0'.repeat(40)}` }) },
        ),
      );
      const requestArb = fc.record({
        // Without a body mutation, the header mutation alone must make it invalid (or the oracle says valid).
        body: fc.array(bodyMutation, { minLength: 0, maxLength: 2 }),
        header: headerMutation,
        contentType,
      });
      const expectedSig = sign(validBody);
      await fc.assert(
        fc.asyncProperty(requestArb, async (c) => {
          tally.xsolla += 1;
          const body = mutateBody(validBody, c.body);
          // "re-sign mutated body" is what an attacker without the secret cannot do, except when the bytes did not change.
          const header =
            c.header.name === 're-sign mutated body' && !body.equals(validBody)
              ? { authorization: `Signature ${sign(body, 'attacker-guess')}` }
              : c.header.apply(`Signature ${expectedSig}`, body);
          const headers: Record<string, string> = { ...header };
          if (c.contentType) headers['content-type'] = c.contentType;
          const seenBefore = x.seen.length;
          const res = await rawPost(port, x.hooks.routes.xsolla, headers, body);
          const label = `xsolla ${[...c.body.map((m) => m.name), c.header.name].join(' + ')} → ${res.status} ${res.text.slice(0, 200)}`;
          const m = /^\s*signature\s+([0-9a-f]{40})\s*$/i.exec(headers.authorization ?? '');
          const stillValid = body.equals(validBody) && m !== null && m[1]!.toLowerCase() === expectedSig;
          if (stillValid) {
            accepted.xsolla += 1;
            expect(res.status, label).toBe(204);
          } else {
            expect(res.status, label).toBeGreaterThanOrEqual(400);
            expect(res.status, label).toBeLessThan(500);
            const code = (res.json as { error?: { code?: string } } | undefined)?.error?.code;
            expect(XSOLLA_WIRE_CODES.has(String(code)), `${label}: code ${String(code)}`).toBe(true);
          }
          expect(x.seen.length, label).toBe(seenBefore);
          expect(await recorded(x.store), label).toEqual(baseline);
        }),
        { seed: SEED + 1, numRuns: RUNS.xsolla, endOnFailure: true },
      );
      expect(x.logger.errors).toEqual([]);
    });
  });

  describe('callback route (our outbound webhooks, Standard Webhooks)', () => {
    const secret = generateWebhookSecret();
    const calls: string[] = [];
    let port: number;
    let close: () => Promise<void>;

    beforeAll(async () => {
      const app = express();
      app.post('/api/payment/callback', createCallbackRoute({ secret, on: { '*': async (e) => void calls.push(e.id) } }).express());
      ({ port, close } = await listen(app.listen(0, '127.0.0.1')));
    });
    afterAll(async () => close?.());

    it(`${RUNS.callback} mutations of a signed delivery (body, webhook-* headers) and junk → 4xx + stable code, no handler runs`, async () => {
      type Signed = ReturnType<typeof signOutboundWebhook>;
      type HeaderMutation = { name: string; apply: (h: Signed['headers']) => Record<string, string> };
      const headerMutation: fc.Arbitrary<HeaderMutation> = fc.oneof(
        fc.constant<HeaderMutation>({ name: 'keep', apply: (h) => ({ ...h }) }),
        fc.record({ name: fc.constantFrom('webhook-id', 'webhook-timestamp', 'webhook-signature'), value: printable }).map(({ name, value }) => ({
          name: `${name}=random`,
          apply: (h: Signed['headers']) => ({ ...h, [name]: value }),
        })),
        fc.record({ at: fc.nat(), c: fc.constantFrom(...B64U.replace('-', '+').replace('_', '/'), '=', ' ', ',') }).map(({ at, c }) => ({
          name: `sig char@${at}=${c}`,
          apply: (h: Signed['headers']) => {
            const s = h['webhook-signature'];
            const i = 3 + (at % (s.length - 3));
            return { ...h, 'webhook-signature': s.slice(0, i) + c + s.slice(i + 1) };
          },
        })),
        fc.constantFrom<HeaderMutation>(
          { name: 'swap id and timestamp', apply: (h) => ({ ...h, 'webhook-id': h['webhook-timestamp'], 'webhook-timestamp': h['webhook-id'] }) },
          {
            name: 'svix-* names',
            apply: (h) => ({ 'svix-id': h['webhook-id'], 'svix-timestamp': h['webhook-timestamp'], 'svix-signature': h['webhook-signature'] }),
          },
          { name: 'drop id', apply: ({ 'webhook-id': _, ...h }) => h },
          { name: 'drop timestamp', apply: ({ 'webhook-timestamp': _, ...h }) => h },
          { name: 'drop signature', apply: ({ 'webhook-signature': _, ...h }) => h },
          { name: 'timestamp +1', apply: (h) => ({ ...h, 'webhook-timestamp': String(Number(h['webhook-timestamp']) + 1) }) },
          { name: 'timestamp in ms', apply: (h) => ({ ...h, 'webhook-timestamp': `${h['webhook-timestamp']}000` }) },
          { name: 'v2 prefix', apply: (h) => ({ ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v2,') }) },
          { name: 'no version', apply: (h) => ({ ...h, 'webhook-signature': h['webhook-signature'].slice(3) }) },
          { name: 'v1a (asymmetric) prefix', apply: (h) => ({ ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v1a,') }) },
          {
            name: 'hex instead of base64',
            apply: (h) => ({ ...h, 'webhook-signature': `v1,${Buffer.from(h['webhook-signature'].slice(3), 'base64').toString('hex')}` }),
          },
          {
            name: 'signature truncated to 16 bytes',
            apply: (h) => ({ ...h, 'webhook-signature': `v1,${Buffer.from(h['webhook-signature'].slice(3), 'base64').subarray(0, 16).toString('base64')}` }),
          },
          { name: 'empty v1', apply: (h) => ({ ...h, 'webhook-signature': 'v1,' }) },
          { name: 'another id, same signature', apply: (h) => ({ ...h, 'webhook-id': `${h['webhook-id']}x` }) },
          {
            name: 'signed by another secret',
            apply: (h) => ({
              ...h,
              'webhook-signature': signOutboundWebhook({
                secret: generateWebhookSecret(),
                body: 'x',
                id: h['webhook-id'],
                timestamp: Number(h['webhook-timestamp']),
              }).headers['webhook-signature'],
            }),
          },
        ),
      );
      const requestArb = fc.record({ body: fc.array(bodyMutation, { minLength: 0, maxLength: 2 }), header: headerMutation, contentType });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(requestArb, async (c) => {
          tally.callback += 1;
          n += 1;
          const signed = signOutboundWebhook({ secret, body: { ...sampleEvent('fc', n), id: `evt_fc_${n}` } });
          const original = utf8(signed.body);
          const body = mutateBody(original, c.body);
          const headers: Record<string, string> = c.header.apply(signed.headers);
          if (c.contentType) headers['content-type'] = c.contentType;
          else delete headers['content-type'];
          const before = calls.length;
          const res = await rawPost(port, '/api/payment/callback', headers, body);
          const label = `callback ${[...c.body.map((m) => m.name), c.header.name].join(' + ')} → ${res.status} ${res.text.slice(0, 200)}`;
          // Oracle: the same bytes under the same id and timestamp, and a v1 entry that decodes to the same MAC.
          // Decision: base64 is decoded leniently (as Buffer does: stray characters skipped, text after the
          // padding ignored), so a re-encoding of the genuine MAC is accepted. That is malleability of the
          // encoding, not a forgery: nobody without the secret can produce those 32 bytes.
          const mac = Buffer.from(signed.headers['webhook-signature'].slice(3), 'base64');
          const stillValid =
            body.equals(original) &&
            headers['webhook-id'] === signed.headers['webhook-id'] &&
            headers['webhook-timestamp'] === signed.headers['webhook-timestamp'] &&
            (headers['webhook-signature'] ?? '').split(' ').some((p) => p.startsWith('v1,') && Buffer.from(p.slice(3).split(',')[0]!, 'base64').equals(mac));
          if (stillValid) {
            accepted.callback += 1;
            expect(res.status, label).toBe(200);
            expect(calls.length, label).toBe(before + 1);
          } else {
            expectStableRejection(res, (res.json as { code?: string } | undefined)?.code, label);
            expect(calls.length, label).toBe(before);
          }
        }),
        { seed: SEED + 2, numRuns: RUNS.callback, endOnFailure: true },
      );
    });
  });

  it('the corpus also exercised the accept side (the oracle is not vacuous) and the servers are still up', async () => {
    // Some mutations leave the signed content intact (re-serialised outer JSON, "keep" headers): they were accepted.
    expect(accepted.apple + accepted.appleTransaction).toBeGreaterThan(0);
    expect(accepted.callback + accepted.xsolla).toBeGreaterThan(0);
    const r = await rawPost(
      applePort,
      apple.hooks.routes.apple,
      { 'content-type': 'application/json' },
      utf8(JSON.stringify({ signedPayload: validNotification })),
    );
    expect(r.status).toBe(200);
  });
});
