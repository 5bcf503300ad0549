/**
 * Who may push: the Pub/Sub OIDC token is verified against the JWKS of the local Google stand-in
 * (RS256 only, Google's issuer, our audience, the push service account with a verified email, exp/iat
 * with a small skew), the key set is cached by Cache-Control, fetched again on an unknown kid (a
 * rotation) but not hammered by forged kids, and a push that can never authenticate is answered 4xx
 * with a stable code and records nothing. Through real Express over HTTP; the verifier unit below it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPushTokenVerifier, cacheControlMaxAgeMs } from '../../../src/providers/google/oidc.js';
import { isSubscriptionWebhooksError } from '../../../src/core/errors.js';
import { createGooglePlayTestKit, type GooglePlayTestKit } from '../../../src/testing/index.js';
import { googleHarness, PRODUCT, types } from '../../helpers/google-harness.js';

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return isSubscriptionWebhooksError(e) ? e.code : String(e);
  }
};

describe('Google push authentication over HTTP', () => {
  let kit: GooglePlayTestKit;
  beforeAll(async () => {
    kit = await createGooglePlayTestKit();
  });
  afterAll(async () => {
    await kit.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<{ opts: Parameters<GooglePlayTestKit['push']>[1] }>, number, string]> = [
    ['no Authorization header', async () => ({ opts: { authorization: null } }), 401, 'GOOGLE_AUTH_MISSING'],
    ['Basic instead of Bearer', async () => ({ opts: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'GOOGLE_AUTH_MISSING'],
    ['not a JWT', async () => ({ opts: { authorization: 'Bearer not-a-jwt' } }), 401, 'GOOGLE_TOKEN_INVALID'],
    [
      "signed by another key under Google's kid (forged)",
      async () => ({ opts: { token: { privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey } } }),
      401,
      'GOOGLE_TOKEN_INVALID',
    ],
    ['expired', async () => ({ opts: { token: { iat: now() - 7200, exp: now() - 3600 } } }), 401, 'GOOGLE_TOKEN_EXPIRED'],
    ['issued in the future', async () => ({ opts: { token: { iat: now() + 600, exp: now() + 4200 } } }), 401, 'GOOGLE_TOKEN_INVALID'],
    ['another issuer', async () => ({ opts: { token: { issuer: 'https://evil.example.com' } } }), 401, 'GOOGLE_TOKEN_INVALID'],
    ['wrong audience', async () => ({ opts: { token: { audience: 'https://other.example.com/push' } } }), 401, 'GOOGLE_AUDIENCE_MISMATCH'],
    ['another service account', async () => ({ opts: { token: { email: 'someone@evil.iam.gserviceaccount.com' } } }), 403, 'GOOGLE_SERVICE_ACCOUNT_MISMATCH'],
    ['email not verified', async () => ({ opts: { token: { email_verified: false } } }), 403, 'GOOGLE_SERVICE_ACCOUNT_MISMATCH'],
    ['unknown kid', async () => ({ opts: { token: { kid: 'no-such-key' } } }), 401, 'GOOGLE_TOKEN_INVALID'],
  ];
  for (const [name, make, status, code] of cases) {
    it(`${name}: ${status} ${code}, nothing recorded, Google's API not asked`, async () => {
      const h = await googleHarness({ kit });
      kit.setSubscription('tok_auth', kit.subscriptionPurchase({ productId: PRODUCT }));
      const calls = kit.seen.filter((s) => s.path.includes('androidpublisher')).length;
      const { opts } = await make();
      const r = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', 'tok_auth'), opts));
      expect(r.status).toBe(status);
      expect(r.body.error?.code).toBe(code);
      expect(await h.nothingRecorded()).toBe(true);
      expect(kit.seen.filter((s) => s.path.includes('androidpublisher')).length).toBe(calls);
    });
  }

  it('HS256 with the JWK as the secret, and alg none: refused', async () => {
    const h = await googleHarness({ kit });
    const hs = await new SignJWT({ email: kit.serviceAccountEmail, email_verified: true })
      .setProtectedHeader({ alg: 'HS256', kid: kit.keyIds()[0]! })
      .setIssuer('https://accounts.google.com')
      .setAudience(kit.audience)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('secret'));
    const r = await h.post(kit.push({ testNotification: {} }, { authorization: `Bearer ${hs}` }));
    expect([r.status, r.body.error?.code]).toEqual([401, 'GOOGLE_TOKEN_INVALID']);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: kit.keyIds()[0] })).toString('base64url')}.${Buffer.from(JSON.stringify({ email: kit.serviceAccountEmail, aud: kit.audience })).toString('base64url')}.`;
    const r2 = await h.post(kit.push({ testNotification: {} }, { authorization: `Bearer ${none}` }));
    expect([r2.status, r2.body.error?.code]).toEqual([401, 'GOOGLE_TOKEN_INVALID']);
    expect(await h.nothingRecorded()).toBe(true);
  });

  it('packageName of another app: 400 GOOGLE_PACKAGE_MISMATCH; bad base64 or a bad DeveloperNotification: 400 BODY_INVALID; nothing recorded', async () => {
    const h = await googleHarness({ kit });
    const other = await h.post(kit.push({ packageName: 'com.other.app', testNotification: {} }));
    expect([other.status, other.body.error?.code]).toEqual([400, 'GOOGLE_PACKAGE_MISMATCH']);
    const push = await kit.push({ testNotification: {} });
    const body = JSON.parse(push.body) as { message: { data: string } };
    for (const data of [
      '%%%not base64%%%',
      Buffer.from('not json').toString('base64'),
      Buffer.from('{"packageName":"com.example.app"}').toString('base64'),
      Buffer.from('[1]').toString('base64'),
    ]) {
      body.message.data = data;
      const r = await h.post({ ...push, body: JSON.stringify(body) });
      expect([r.status, r.body.error?.code], data).toEqual([400, 'BODY_INVALID']);
    }
    const noId = await h.post({ ...push, body: JSON.stringify({ message: { data: JSON.parse(push.body).message.data } }) });
    expect([noId.status, noId.body.error?.code]).toEqual([400, 'BODY_INVALID']);
    expect(await h.nothingRecorded()).toBe(true);
  });

  it('a kid rotation: the new key is fetched on first sight, old and new both verify without another fetch', async () => {
    const own = await createGooglePlayTestKit();
    try {
      const h = await googleHarness({ kit: own });
      expect((await h.post(own.push({ testNotification: {} }))).status).toBe(200);
      const fetches = own.jwksFetches;
      const oldKid = own.keyIds()[0]!;
      own.rotateKey();
      const r = await h.post(own.push({ testNotification: {} }));
      expect(r.status).toBe(200);
      expect(types(r.events)).toContain('test.notification');
      expect(own.jwksFetches).toBe(fetches + 1);
      expect((await h.post(own.push({ testNotification: {} }, { token: { kid: oldKid } }))).status).toBe(200);
      expect(own.jwksFetches).toBe(fetches + 1);
    } finally {
      await own.close();
    }
  });
});

describe('push token verifier (unit, against a local JWKS server)', () => {
  let kit: GooglePlayTestKit;
  let jwksServer: { url: string; hits: number; status: number; cacheControl: string; hang: boolean; close: () => Promise<void> };
  beforeAll(async () => {
    kit = await createGooglePlayTestKit();
    const state = { hits: 0, status: 200, cacheControl: 'public, max-age=100', hang: false };
    const server = createServer(async (_req, res) => {
      state.hits++;
      if (state.hang) return;
      const keys = await (await fetch(`${kit.url}/jwks`)).text();
      res.writeHead(state.status, { 'content-type': 'application/json', 'cache-control': state.cacheControl });
      res.end(state.status === 200 ? keys : '{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksServer = Object.assign(state, {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      close: () => new Promise<void>((r) => server.close(() => r())),
    }) as typeof jwksServer;
  });
  afterAll(async () => {
    await jwksServer.close();
    await kit.close();
  });

  const make = (clock: { t: number }, extra: Partial<Parameters<typeof createPushTokenVerifier>[0]> = {}) =>
    createPushTokenVerifier({
      jwksUrl: jwksServer.url,
      audience: kit.audience,
      serviceAccountEmail: kit.serviceAccountEmail,
      now: () => clock.t,
      timeoutMs: 300,
      ...extra,
    });

  it('caches the key set for its Cache-Control max-age', async () => {
    jwksServer.cacheControl = 'public, max-age=100';
    const clock = { t: Date.now() };
    const v = make(clock);
    const hits = jwksServer.hits;
    const token = `Bearer ${await kit.signPushToken()}`;
    await v.verify(token);
    await v.verify(token);
    expect(jwksServer.hits).toBe(hits + 1);
    clock.t += 99_000;
    await v.verify(token);
    expect(jwksServer.hits).toBe(hits + 1);
    clock.t += 2000;
    await codeOf(v.verify(token)); // the token is still within its skew; the key set is refetched
    expect(jwksServer.hits).toBe(hits + 2);
  });

  it('forged kids refetch at most once per cooldown', async () => {
    const clock = { t: Date.now() };
    const v = make(clock, { refetchCooldownMs: 30_000 });
    await v.verify(`Bearer ${await kit.signPushToken()}`);
    const hits = jwksServer.hits;
    for (let i = 0; i < 20; i++) expect(await codeOf(v.verify(`Bearer ${await kit.signPushToken({ kid: `forged-${i}` })}`))).toBe('GOOGLE_TOKEN_INVALID');
    expect(jwksServer.hits).toBe(hits + 1);
    clock.t += 31_000;
    expect(await codeOf(v.verify(`Bearer ${await kit.signPushToken({ kid: 'forged-x', iat: Math.floor(clock.t / 1000) })}`))).toBe('GOOGLE_TOKEN_INVALID');
    expect(jwksServer.hits).toBe(hits + 2);
  });

  it('a JWKS that fails or hangs: GOOGLE_JWKS_UNAVAILABLE (503, Pub/Sub redelivers); a recently expired key set is used meanwhile', async () => {
    const clock = { t: Date.now() };
    jwksServer.status = 500;
    expect(await codeOf(make(clock).verify(`Bearer ${await kit.signPushToken()}`))).toBe('GOOGLE_JWKS_UNAVAILABLE');
    jwksServer.status = 200;
    jwksServer.hang = true;
    expect(await codeOf(make(clock).verify(`Bearer ${await kit.signPushToken()}`))).toBe('GOOGLE_JWKS_UNAVAILABLE');
    jwksServer.hang = false;
    const v = make(clock);
    await v.verify(`Bearer ${await kit.signPushToken()}`);
    clock.t += 101_000;
    jwksServer.status = 503;
    const token = `Bearer ${await kit.signPushToken({ iat: Math.floor(clock.t / 1000) })}`;
    expect(await codeOf(v.verify(token))).toBe('OK');
    jwksServer.status = 200;
  });

  it('Cache-Control parsing', () => {
    expect(cacheControlMaxAgeMs('public, max-age=20315, must-revalidate, no-transform')).toBe(20_315_000);
    expect(cacheControlMaxAgeMs('no-store')).toBe(0);
    expect(cacheControlMaxAgeMs(null)).toBeNull();
    expect(cacheControlMaxAgeMs('public')).toBeNull();
  });
});
