/**
 * The forged and malformed input corpus, Google Play route (`POST /api/google/rtdn`), over a real socket.
 *
 * A Pub/Sub push is authenticated by its OIDC token, not by a signature over the body. So:
 * - Token surgery (byte changes, cut, re-signed with another key, other claims, other algorithms, junk,
 *   header swaps), whatever the body: unless the token is unchanged, 4xx with a stable code and nothing
 *   recorded, and Google's API is never asked.
 * - Body surgery under a valid token (bytes, truncation, junk, and changes inside the base64
 *   `DeveloperNotification`: types, missing fields, other packages, huge numbers): never 5xx; a 4xx
 *   carries a stable code and records nothing; a 200 is a push that parses (the oracle below decides
 *   independently) and records at most its own message.
 * The valid baseline is posted once first, so an unchanged push is a duplicate.
 *
 * Fixed seeds; 150 + 150 + 100 = 400 generated cases.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { createGooglePlayTestKit, type GooglePlayTestKit } from '../../src/testing/index.js';
import { googleHarness, PRODUCT, type GoogleHarness } from '../helpers/google-harness.js';
import { listen, rawPost, type RawResponse } from './http-raw.js';

const SEED = 0x9_0020;
const RUNS = { token: 150, body: 150, data: 100 };
const CODES = new Set<string>(ERROR_CODES);
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const b64u = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');

interface Recorded {
  notifications: number;
  events: number;
  subscriptions: number;
}

describe('forged and malformed Google Play pushes, generated (fast-check, fixed seed)', () => {
  let kit: GooglePlayTestKit;
  let h: GoogleHarness;
  let port: number;
  let close: () => Promise<void>;
  let validToken: string;
  let validBody: string;
  let baseline: Recorded;
  const tally = { token: 0, body: 0, data: 0 };
  const forgedKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const recorded = async (): Promise<Recorded> => ({
    notifications: await h.store.countNotifications(),
    events: (await h.store.listEvents()).length,
    subscriptions: (await h.store.listSubscriptions()).length,
  });
  const apiCalls = () => kit.seen.filter((s) => s.path.includes('androidpublisher')).length;
  const path = () => h.hooks.routes.google;

  beforeAll(async () => {
    kit = await createGooglePlayTestKit();
    h = await googleHarness({ kit });
    ({ port, close } = await listen(h.app.listen(0, '127.0.0.1')));
    kit.setSubscription('tok_fuzz', kit.subscriptionPurchase({ productId: PRODUCT, orderId: 'GPA.fuzz', acknowledged: true }));
    const push = await kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', 'tok_fuzz'), { messageId: '4242' });
    validBody = push.body;
    validToken = push.headers.authorization!.slice('Bearer '.length);
    const r = await rawPost(port, path(), { 'content-type': 'application/json', authorization: `Bearer ${validToken}` }, utf8(validBody));
    expect(r.status, r.text).toBe(200);
    baseline = await recorded();
    expect(baseline.notifications).toBe(1);
  });
  afterAll(async () => {
    await close?.();
    await kit?.close();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(tally.token + tally.body + tally.data).toBeGreaterThanOrEqual(200);
  });

  function expectStableRejection(res: RawResponse, label: string) {
    expect(res.status, label).toBeGreaterThanOrEqual(400);
    expect(res.status, label).toBeLessThan(500);
    const code = (res.json as { error?: { code?: string } } | undefined)?.error?.code;
    expect(CODES.has(String(code)), `${label}: code ${String(code)}`).toBe(true);
  }

  type TokenMutation = { name: string; apply: (t: string) => Promise<string> | string };
  const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  const header = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  const tokenMutation: fc.Arbitrary<TokenMutation> = fc.oneof(
    fc.record({ at: fc.nat(), c: fc.constantFrom(...'ABCXYZabcxyz0189-_.=+/ %'.split('')) }).map(({ at, c }) => ({
      name: `char@${at}=${c}`,
      apply: (t: string) => {
        const i = at % t.length;
        return t[i] === c ? `${t.slice(0, i)}${c === 'A' ? 'B' : 'A'}${t.slice(i + 1)}` : t.slice(0, i) + c + t.slice(i + 1);
      },
    })),
    fc.nat().map((n) => ({ name: `cut(${n})`, apply: (t: string) => t.slice(0, n % t.length) })),
    fc.record({ part: fc.integer({ min: 0, max: 2 }), at: fc.nat(), x: fc.integer({ min: 1, max: 255 }) }).map(({ part, at, x }) => ({
      name: `decoded-flip p${part}@${at}^${x}`,
      apply: (t: string) => {
        const ps = t.split('.');
        const bytes = Buffer.from(ps[part]!, 'base64url');
        bytes[at % bytes.length] = bytes[at % bytes.length]! ^ x;
        ps[part] = bytes.toString('base64url');
        return ps.join('.');
      },
    })),
    fc.record({ key: fc.constantFrom('aud', 'email', 'email_verified', 'iss', 'exp', 'iat', 'sub'), value: fc.jsonValue() }).map(({ key, value }) => ({
      name: `claim ${key}=${JSON.stringify(value).slice(0, 30)} (unsigned change)`,
      apply: (t: string) => {
        const ps = t.split('.');
        ps[1] = b64u(JSON.stringify({ ...claims(t), [key]: value }));
        return ps.join('.');
      },
    })),
    fc
      .record({
        key: fc.constantFrom('aud', 'email', 'email_verified', 'iss', 'exp', 'iat'),
        value: fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean()),
      })
      .map(({ key, value }) => ({
        name: `re-signed with forged key, ${key}=${JSON.stringify(value)}`,
        apply: async (t: string) =>
          new SignJWT({ ...claims(t), [key]: value }).setProtectedHeader({ ...header(t), alg: 'RS256' } as { alg: string }).sign(forgedKey),
      })),
    fc.constantFrom<TokenMutation>(
      { name: 'alg none', apply: (t) => `${b64u(JSON.stringify({ ...header(t), alg: 'none' }))}.${t.split('.')[1]}.` },
      {
        name: 'alg HS256 keyed with the kid',
        apply: async (t) => new SignJWT(claims(t)).setProtectedHeader({ alg: 'HS256', kid: String(header(t).kid) }).sign(utf8(String(header(t).kid))),
      },
      { name: 'drop signature', apply: (t) => `${t.split('.').slice(0, 2).join('.')}.` },
      { name: 'two parts', apply: (t) => t.split('.').slice(0, 2).join('.') },
      { name: 'four parts', apply: (t) => `${t}.${t.split('.')[2]}` },
      {
        name: 'kid removed',
        apply: (t) => {
          const { kid: _k, ...rest } = header(t);
          return `${b64u(JSON.stringify(rest))}.${t.split('.').slice(1).join('.')}`;
        },
      },
      {
        name: 'kid of another key',
        apply: (t) => `${b64u(JSON.stringify({ ...header(t), kid: 'ffffffffffffffffffffffffffffffffffffffff' }))}.${t.split('.').slice(1).join('.')}`,
      },
      { name: 'jku added', apply: (t) => `${b64u(JSON.stringify({ ...header(t), jku: 'http://127.0.0.1:1/keys' }))}.${t.split('.').slice(1).join('.')}` },
      { name: 'huge', apply: (t) => `${t}${'A'.repeat(10_000)}` },
      { name: 'empty', apply: () => '' },
    ),
    fc
      .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 200 }), fc.string({ maxLength: 90 }))
      .map(([a, b, c]) => ({ name: 'random three parts', apply: () => `${b64u(a)}.${b64u(b)}.${b64u(c)}` })),
  );
  const scheme = fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'Basic ', '', 'Bearer\t', 'Token ');

  it(`${RUNS.token} token forgeries → 4xx + stable code, nothing recorded, Google's API not asked`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tokenMutation, { minLength: 1, maxLength: 2 }), scheme, fc.boolean(), async (mutations, prefix, omit) => {
        tally.token += 1;
        let t = validToken;
        for (const m of mutations) {
          try {
            t = await m.apply(t);
          } catch {
            // not applicable to what the previous mutation left
          }
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (!omit) headers.authorization = `${prefix}${t}`;
        const calls = apiCalls();
        const res = await rawPost(port, path(), headers, utf8(validBody));
        const label = `${mutations.map((m) => m.name).join(' + ')} [${prefix}] → ${res.status} ${res.text.slice(0, 200)}`;
        const unchanged = !omit && t === validToken && /^bearer[ \t]+$/i.test(prefix);
        if (unchanged) expect(res.status, label).toBe(200);
        else expectStableRejection(res, label);
        expect(apiCalls(), label).toBe(calls);
        expect(await recorded(), label).toEqual(baseline);
      }),
      { seed: SEED, numRuns: RUNS.token, endOnFailure: true },
    );
  });

  type BodyMutation = { name: string; apply: (b: Buffer) => Buffer };
  const bodyMutation: fc.Arbitrary<BodyMutation> = fc.oneof(
    fc.record({ at: fc.nat(), x: fc.integer({ min: 1, max: 255 }) }).map(({ at, x }) => ({
      name: `flip@${at}^${x}`,
      apply: (b: Buffer) => {
        const c = Buffer.from(b);
        c[at % c.length] = c[at % c.length]! ^ x;
        return c;
      },
    })),
    fc.nat().map((n) => ({ name: `truncate(${n})`, apply: (b: Buffer) => b.subarray(0, n % b.length) })),
    fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ at, bytes }) => ({
      name: `insert@${at}`,
      apply: (b: Buffer) => Buffer.concat([b.subarray(0, at % (b.length + 1)), Buffer.from(bytes), b.subarray(at % (b.length + 1))]),
    })),
    fc.constantFrom<BodyMutation>(
      { name: 'utf16le', apply: (b) => Buffer.from(b.toString('utf8'), 'utf16le') },
      { name: 'base64 body', apply: (b) => utf8(b.toString('base64')) },
      { name: 'JSON array wrap', apply: (b) => Buffer.concat([utf8('['), b, utf8(']')]) },
      { name: 'message as a string', apply: (b) => utf8(JSON.stringify({ message: b.toString('utf8') })) },
      { name: 'overlong NUL', apply: (b) => Buffer.concat([b.subarray(0, 1), Buffer.from([0xc0, 0x80]), b.subarray(1)]) },
    ),
    fc
      .oneof(
        fc.uint8Array({ maxLength: 1024 }).map((u) => Buffer.from(u)),
        fc.json().map(utf8),
        fc.jsonValue().map((v) => utf8(JSON.stringify({ message: { data: v, messageId: v }, subscription: v }))),
        fc.constantFrom('', '{}', 'null', '[]', '{"message":{}}', '{"__proto__":{"polluted":1}}', '{"message":{"data":"","messageId":"1"}}').map(utf8),
      )
      .map((junk) => ({ name: `junk(${junk.length})`, apply: () => junk })),
  );

  /** An independent reading of the push: a JSON body with a message id and base64 JSON data about our package. */
  function oracle(body: Buffer): { messageId: string } | null {
    let v: { message?: { data?: unknown; messageId?: unknown; message_id?: unknown } };
    try {
      v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as typeof v;
    } catch {
      return null;
    }
    const m = v?.message;
    const id = m?.messageId ?? m?.message_id;
    if (!m || typeof m.data !== 'string' || typeof id !== 'string' || id === '') return null;
    return { messageId: id };
  }

  it(`${RUNS.body} body mutations under a valid token → never 5xx; 4xx records nothing; 200 only for a push that still parses`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(bodyMutation, { minLength: 1, maxLength: 2 }), async (mutations) => {
        tally.body += 1;
        let b: Buffer = utf8(validBody);
        for (const m of mutations) {
          try {
            b = m.apply(b);
          } catch {
            // not applicable
          }
        }
        const before = await recorded();
        const res = await rawPost(port, path(), { 'content-type': 'application/json', authorization: `Bearer ${validToken}` }, b);
        const label = `${mutations.map((m) => m.name).join(' + ')} → ${res.status} ${res.text.slice(0, 200)}`;
        expect(res.status, label).toBeLessThan(500);
        if (res.status === 200) {
          const o = oracle(b);
          expect(o, label).not.toBeNull();
          expect((res.json as { messageId?: string }).messageId, label).toBe(o!.messageId);
          expect((await recorded()).notifications - before.notifications, label).toBeLessThanOrEqual(1);
        } else {
          expectStableRejection(res, label);
          expect(await recorded(), label).toEqual(before);
        }
      }),
      { seed: SEED + 1, numRuns: RUNS.body, endOnFailure: true },
    );
  });

  it('classic DeveloperNotification traps → the stated 4xx, nothing recorded', async () => {
    const sub = { notificationType: 4, purchaseToken: 'tok_fuzz' };
    const classics: Array<[string, Record<string, unknown> | string, string]> = [
      ['eventTimeMillis beyond any date', { eventTimeMillis: '9999999999999999', subscriptionNotification: sub }, 'BODY_INVALID'],
      ['eventTimeMillis negative', { eventTimeMillis: -1, subscriptionNotification: sub }, 'BODY_INVALID'],
      ['eventTimeMillis a float string', { eventTimeMillis: '1.5', subscriptionNotification: sub }, 'BODY_INVALID'],
      ['another package', { packageName: 'com.other.app', subscriptionNotification: sub }, 'GOOGLE_PACKAGE_MISMATCH'],
      ['no packageName', { packageName: undefined, subscriptionNotification: sub }, 'BODY_INVALID'],
      ['two notifications in one', { subscriptionNotification: sub, testNotification: {} }, 'BODY_INVALID'],
      ['notificationType as a string', { subscriptionNotification: { ...sub, notificationType: '4' } }, 'BODY_INVALID'],
      ['purchaseToken of 5000 characters', { subscriptionNotification: { ...sub, purchaseToken: 'x'.repeat(5000) } }, 'BODY_INVALID'],
      ['purchaseToken empty', { subscriptionNotification: { ...sub, purchaseToken: '' } }, 'BODY_INVALID'],
      ['voided without orderId', { voidedPurchaseNotification: { purchaseToken: 'x', productType: 1 } }, 'BODY_INVALID'],
      ['one-time without sku', { oneTimeProductNotification: { notificationType: 1, purchaseToken: 'x' } }, 'BODY_INVALID'],
      ['data is base64url', 'base64url', 'BODY_INVALID'],
      ['data is a JSON array', '[]', 'BODY_INVALID'],
    ];
    for (const [name, change, code] of classics) {
      tally.data += 1;
      const body = JSON.parse(validBody) as { message: { data: string; messageId: string; message_id: string } };
      const data = { ...(JSON.parse(Buffer.from(body.message.data, 'base64').toString('utf8')) as Record<string, unknown>) };
      delete data.subscriptionNotification;
      if (change === 'base64url')
        body.message.data = Buffer.from(JSON.stringify({ ...data, subscriptionNotification: { ...sub, purchaseToken: '>>>???' } })).toString('base64url');
      else if (typeof change === 'string') body.message.data = Buffer.from(change).toString('base64');
      else body.message.data = Buffer.from(JSON.stringify({ ...data, ...change })).toString('base64');
      body.message.messageId = body.message.message_id = `classic-${name}`;
      const before = await recorded();
      const res = await rawPost(port, path(), { 'content-type': 'application/json', authorization: `Bearer ${validToken}` }, utf8(JSON.stringify(body)));
      expect([res.status, (res.json as { error?: { code?: string } }).error?.code], `${name}: ${res.text}`).toEqual([
        code === 'GOOGLE_PACKAGE_MISMATCH' || code === 'BODY_INVALID' ? 400 : 401,
        code,
      ]);
      expect(await recorded(), name).toEqual(before);
    }
  });

  it(`${RUNS.data} changes inside the DeveloperNotification under a valid token → 200 or 4xx with a stable code, never 5xx, and a 4xx records nothing`, async () => {
    const field = fc.constantFrom(
      'packageName',
      'eventTimeMillis',
      'version',
      'subscriptionNotification',
      'subscriptionNotification.notificationType',
      'subscriptionNotification.purchaseToken',
      'oneTimeProductNotification',
      'voidedPurchaseNotification',
      'testNotification',
    );
    const value = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom<unknown>(
        undefined,
        null,
        '',
        'com.other.app',
        '99999999999999999999',
        '9999999999999999',
        -1,
        1e308,
        '1.5',
        { notificationType: 4, purchaseToken: 'x' },
        { purchaseToken: 'x', orderId: 'GPA.x', productType: 1 },
        { notificationType: 1, purchaseToken: 'x', sku: 'coins' },
        'x'.repeat(5000),
      ),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(field, value), { minLength: 1, maxLength: 3 }), async (changes) => {
        tally.data += 1;
        const body = JSON.parse(validBody) as { message: { data: string; messageId: string; message_id: string } };
        const data = JSON.parse(Buffer.from(body.message.data, 'base64').toString('utf8')) as Record<string, unknown>;
        for (const [f, v] of changes) {
          const [a, b] = f.split('.');
          if (b) {
            const inner = (typeof data[a!] === 'object' && data[a!] !== null ? { ...(data[a!] as object) } : {}) as Record<string, unknown>;
            inner[b] = v;
            data[a!] = inner;
          } else data[a!] = v;
        }
        body.message.data = Buffer.from(JSON.stringify(data)).toString('base64');
        body.message.messageId = body.message.message_id = `fuzz-${++n}`;
        const before = await recorded();
        const res = await rawPost(port, path(), { 'content-type': 'application/json', authorization: `Bearer ${validToken}` }, utf8(JSON.stringify(body)));
        const label = `${JSON.stringify(changes).slice(0, 300)} → ${res.status} ${res.text.slice(0, 200)}`;
        expect(res.status, label).toBeLessThan(500);
        if (res.status !== 200) {
          expectStableRejection(res, label);
          expect(await recorded(), label).toEqual(before);
        } else {
          expect(data.packageName, label).toBe(kit.packageName);
        }
      }),
      { seed: SEED + 2, numRuns: RUNS.data, endOnFailure: true },
    );
    expect(h.logger.errors).toEqual([]);
  });
});
