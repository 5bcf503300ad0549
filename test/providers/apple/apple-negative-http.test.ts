import { CompactSign, exportSPKI } from 'jose';
import { X509Certificate } from 'node:crypto';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAppleTestSigner, type AppleTestSigner } from '../../../src/testing/apple-signer.js';
import { APP_APPLE_ID, appleHarness, BUNDLE_ID, sharedSigner, type AppleHarness } from '../../helpers/apple-harness.js';

// The negative matrix of issue 2, through real Express: each forged or malformed request gets its
// stable code and HTTP status, and leaves no inbox row, no subscription and no event behind.

const b64 = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');
const json64 = (v: unknown) => b64(JSON.stringify(v));
const part = (jws: string, i: number) => JSON.parse(Buffer.from(jws.split('.')[i]!, 'base64url').toString()) as Record<string, unknown>;

let h: AppleHarness;
let main: AppleTestSigner;
const special: Record<string, AppleTestSigner> = {};
const base = { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' };

beforeAll(async () => {
  main = await sharedSigner();
  const now = Date.now();
  const entries = await Promise.all(
    Object.entries({
      leafWithoutOid: { leafWithoutOid: true },
      intermediateWithoutOid: { intermediateWithoutOid: true },
      intermediateNotCa: { intermediateNotCa: true },
      leafIssuedByRoot: { leafIssuedByRoot: true },
      expired: { notBefore: new Date(now - 400 * 86_400_000), notAfter: new Date(now - 200 * 86_400_000) },
    }).map(async ([name, opts]) => [name, await createAppleTestSigner({ ...base, ...opts })] as const),
  );
  for (const [name, s] of entries) special[name] = s;
  // Every special chain's root is trusted, so the one defect each was built with is the only thing wrong.
  h = await appleHarness({ extraRoots: entries.map(([, s]) => s.rootCertificate) });
});

async function good(over: Record<string, unknown> = {}) {
  const c = h.contract();
  return main.signNotification({ notificationType: 'SUBSCRIBED', subtype: 'INITIAL_BUY', data: { transaction: c.transaction() }, ...over } as never);
}

const cases: [string, () => Promise<string>, number, string][] = [
  [
    'alg none',
    async () => {
      const j = await good();
      return `${json64({ alg: 'none', x5c: main.x5c })}.${j.split('.')[1]}.`;
    },
    400,
    'JWS_ALG_UNSUPPORTED',
  ],
  [
    'HS256 keyed with the leaf public key',
    async () => {
      const j = await good();
      const spki = await exportSPKI(new X509Certificate(Buffer.from(main.x5c[0]!, 'base64')).publicKey as never).catch(() =>
        new X509Certificate(Buffer.from(main.x5c[0]!, 'base64')).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      );
      return new CompactSign(Buffer.from(j.split('.')[1]!, 'base64url'))
        .setProtectedHeader({ alg: 'HS256', x5c: main.x5c })
        .sign(new TextEncoder().encode(spki));
    },
    400,
    'JWS_ALG_UNSUPPORTED',
  ],
  [
    'RS256 header',
    async () => {
      const j = await good();
      return `${json64({ ...part(j, 0), alg: 'RS256' })}.${j.split('.').slice(1).join('.')}`;
    },
    400,
    'JWS_ALG_UNSUPPORTED',
  ],
  [
    '2-certificate x5c',
    async () => {
      const j = await good();
      return `${json64({ alg: 'ES256', x5c: main.x5c.slice(0, 2) })}.${j.split('.').slice(1).join('.')}`;
    },
    400,
    'CERT_CHAIN_INVALID',
  ],
  [
    '4-certificate x5c',
    async () => {
      const j = await good();
      return `${json64({ alg: 'ES256', x5c: [...main.x5c, main.x5c[2]] })}.${j.split('.').slice(1).join('.')}`;
    },
    400,
    'CERT_CHAIN_INVALID',
  ],
  ['foreign root', async () => (await createAppleTestSigner(base)).signNotification({ notificationType: 'TEST' }), 400, 'CERT_CHAIN_INVALID'],
  ['leaf without Apple OID', () => special.leafWithoutOid!.signNotification({ notificationType: 'TEST' }), 400, 'CERT_OID_MISSING'],
  ['intermediate without Apple OID', () => special.intermediateWithoutOid!.signNotification({ notificationType: 'TEST' }), 400, 'CERT_OID_MISSING'],
  ['intermediate without the CA flag', () => special.intermediateNotCa!.signNotification({ notificationType: 'TEST' }), 400, 'CERT_CHAIN_INVALID'],
  ['leaf signed by the root directly', () => special.leafIssuedByRoot!.signNotification({ notificationType: 'TEST' }), 400, 'CERT_CHAIN_INVALID'],
  ['certificate expired at signedDate', () => special.expired!.signNotification({ notificationType: 'TEST' }), 400, 'CERT_CHAIN_INVALID'],
  [
    'tampered payload',
    async () => {
      const j = await good();
      const payload = part(j, 1);
      return `${j.split('.')[0]}.${json64({ ...payload, notificationType: 'REFUND' })}.${j.split('.')[2]}`;
    },
    400,
    'SIGNATURE_INVALID',
  ],
  ['wrong bundleId', () => good({ data: { bundleId: 'com.evil.app', appAppleId: APP_APPLE_ID, environment: 'Production' } }), 400, 'BUNDLE_ID_MISMATCH'],
  ['wrong appAppleId', () => good({ data: { bundleId: BUNDLE_ID, appAppleId: 42, environment: 'Production' } }), 400, 'APP_APPLE_ID_MISMATCH'],
  ['rejected environment (Xcode)', () => good({ data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Xcode' } }), 400, 'ENVIRONMENT_REJECTED'],
  ['malformed base64', async () => 'eyJ!!!.abc.def', 400, 'JWS_MALFORMED'],
  [
    'malformed JSON header',
    async () => {
      const j = await good();
      return `${b64('{not json')}.${j.split('.').slice(1).join('.')}`;
    },
    400,
    'JWS_MALFORMED',
  ],
];

describe('Apple route rejects forged and malformed notifications (Express, memory store)', () => {
  it.each(cases)('%s → %i %s, nothing recorded', async (_name, make, status, code) => {
    const before = (await h.store.listEvents()).length;
    const r = await h.post(h.hooks.routes.apple, { signedPayload: await make() });
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ code: status, data: { processed: false, error: code } });
    expect(r.events).toEqual([]);
    expect((await h.store.listEvents()).length).toBe(before);
    expect(await h.store.countNotifications()).toBe(0);
    expect(await h.store.listSubscriptions()).toEqual([]);
  });

  it.each([
    ['missing signedPayload', '{"other":1}', 400, 'BODY_INVALID'],
    ['empty body', '', 400, 'BODY_INVALID'],
    ['a 2 MiB body', JSON.stringify({ signedPayload: 'x'.repeat(2 * 1024 * 1024) }), 413, 'BODY_TOO_LARGE'],
  ])('%s → %i %s, nothing recorded', async (_name, body, status, code) => {
    const r = await request(h.app).post(h.hooks.routes.apple).set('content-type', 'application/json').send(body);
    expect(r.status).toBe(status);
    expect(r.body.data).toMatchObject({ processed: false, error: code });
    expect(await h.store.countNotifications()).toBe(0);
  });

  it('the same signed bytes are accepted when nothing is wrong (the matrix is not rejecting everything)', async () => {
    const r = await h.post(h.hooks.routes.apple, { signedPayload: await good() });
    expect(r.status).toBe(200);
  });
});
