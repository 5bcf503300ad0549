import { describe, it, expect, beforeAll, vi, afterEach } from 'vitest';
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { CompactSign } from 'jose';
import { createAppleVerifier } from '../../../src/providers/apple/verifier.js';
import type { AppleVerifierOptions } from '../../../src/providers/apple/verifier.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import type { AppleTestSigner } from '../../../src/testing/apple-signer.js';
import { codeOf } from '../../helpers/code-of.js';

const BUNDLE = 'com.example.app';
const DAY = 86_400_000;

const b64url = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
const json64 = (value: unknown) => b64url(JSON.stringify(value));
const decodePart = (jws: string, i: number) => JSON.parse(Buffer.from(jws.split('.')[i]!, 'base64url').toString('utf8'));

/** Replaces the header of a JWS, keeping payload and signature. */
function withHeader(jws: string, header: unknown): string {
  const [, payload, signature] = jws.split('.');
  return `${json64(header)}.${payload}.${signature}`;
}

let signer: AppleTestSigner;
let other: AppleTestSigner;

function verifierFor(s: AppleTestSigner, options: Partial<AppleVerifierOptions> = {}) {
  return createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [s.rootCertificate], ...options });
}

beforeAll(async () => {
  [signer, other] = await Promise.all([createAppleTestSigner({ bundleId: BUNDLE }), createAppleTestSigner({ bundleId: BUNDLE })]);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('baseline', () => {
  it('a well-formed test notification verifies', async () => {
    const jws = await signer.signNotification({ notificationType: 'SUBSCRIBED', subtype: 'INITIAL_BUY', data: { transaction: {}, renewalInfo: {} } });
    const result = await verifierFor(signer).verifyNotification(jws);
    expect(result.payload.notificationType).toBe('SUBSCRIBED');
    expect(result.environment).toBe('Sandbox');
    expect(result.transaction?.bundleId).toBe(BUNDLE);
    expect(result.renewalInfo?.originalTransactionId).toBe(result.transaction?.originalTransactionId);
  });
});

describe('algorithm', () => {
  it.each(['none', 'HS256', 'RS256', 'PS256', 'ES384', 'ES512', 'EdDSA', 'es256', ''])('alg %j → JWS_ALG_UNSUPPORTED', async (alg) => {
    const jws = await signer.signNotification();
    const header = { ...decodePart(jws, 0), alg };
    expect(await codeOf(verifierFor(signer).verifyNotification(withHeader(jws, header)))).toBe('JWS_ALG_UNSUPPORTED');
  });

  it('alg none with an empty signature → JWS_ALG_UNSUPPORTED', async () => {
    const jws = await signer.signNotification();
    const [, payload] = jws.split('.');
    const unsigned = `${json64({ alg: 'none', x5c: signer.x5c })}.${payload}.`;
    expect(await codeOf(verifierFor(signer).verifyNotification(unsigned))).toBe('JWS_ALG_UNSUPPORTED');
  });

  it('missing alg → JWS_ALG_UNSUPPORTED', async () => {
    const jws = await signer.signNotification();
    expect(await codeOf(verifierFor(signer).verifyNotification(withHeader(jws, { x5c: signer.x5c })))).toBe('JWS_ALG_UNSUPPORTED');
  });

  it('HS256 keyed with the real Apple leaf public key (key-confusion attack) → JWS_ALG_UNSUPPORTED', async () => {
    const dir = new URL('../../fixtures/apple-real/', import.meta.url);
    const real = readFileSync(new URL('02-notification-TEST.jws', dir), 'utf8').trim();
    const realX5c = decodePart(real, 0).x5c as string[];
    const realPayload = decodePart(real, 1) as { signedDate: number; data: { bundleId: string; appAppleId: number } };
    const leaf = new x509.X509Certificate(Buffer.from(realX5c[0]!, 'base64'));
    const spki = new Uint8Array(leaf.publicKey.rawData);
    const forged = { ...realPayload, notificationType: 'REFUND', notificationUUID: crypto.randomUUID() };
    const verifier = createAppleVerifier({
      bundleId: realPayload.data.bundleId,
      appAppleId: realPayload.data.appAppleId,
      environments: ['Production', 'Sandbox'],
    });
    for (const secret of [spki, spki.subarray(spki.length - 65)]) {
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(forged))).setProtectedHeader({ alg: 'HS256', x5c: realX5c }).sign(secret);
      expect(await codeOf(verifier.verifyNotification(jws))).toBe('JWS_ALG_UNSUPPORTED');
    }
  });
});

describe('certificate chain', () => {
  it('2-certificate x5c → CERT_CHAIN_INVALID', async () => {
    const jws = await signer.sign({ notificationType: 'TEST' }, { x5c: signer.x5c.slice(0, 2) });
    expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('4-certificate x5c → CERT_CHAIN_INVALID', async () => {
    const jws = await signer.sign({ notificationType: 'TEST' }, { x5c: [...signer.x5c, signer.x5c[2]] });
    expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it.each([
    ['missing', undefined],
    ['a string', 'MIIB'],
    ['non-base64 entries', ['***', '***', '***']],
    ['non-certificate entries', ['AAAA', 'AAAA', 'AAAA']],
    ['non-string entries', [1, 2, 3]],
  ])('x5c %s → CERT_CHAIN_INVALID', async (_name, x5c) => {
    const jws = await signer.sign({ notificationType: 'TEST' }, { x5c });
    expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('a chain under a root we were not configured with → CERT_CHAIN_INVALID', async () => {
    const jws = await other.signNotification();
    expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'] }).verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('a foreign chain that ends in a copy of the trusted root in x5c[2] → CERT_CHAIN_INVALID', async () => {
    const jws = await other.sign({ notificationType: 'TEST' }, { x5c: [other.x5c[0], other.x5c[1], signer.x5c[2]] });
    expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('x5c[2] is never trusted: any root certificate there is fine when the intermediate chains to ours', async () => {
    const jws = await signer.sign({ notificationType: 'TEST' }, { x5c: [signer.x5c[0], signer.x5c[1], other.x5c[2]] });
    expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('ACCEPTED');
  });

  it('x5c in the wrong order → CERT_CHAIN_INVALID', async () => {
    const [leaf, intermediate, root] = signer.x5c;
    for (const x5c of [
      [intermediate, leaf, root],
      [root, intermediate, leaf],
      [leaf, root, intermediate],
    ]) {
      const jws = await signer.sign({ notificationType: 'TEST' }, { x5c });
      expect(await codeOf(verifierFor(signer).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
    }
  });

  it('leaf signed by the root directly → CERT_CHAIN_INVALID', async () => {
    const s = await createAppleTestSigner({ leafIssuedByRoot: true });
    expect(await codeOf(verifierFor(s).verifyNotification(await s.signNotification()))).toBe('CERT_CHAIN_INVALID');
  });

  it('intermediate without the CA flag → CERT_CHAIN_INVALID', async () => {
    const s = await createAppleTestSigner({ intermediateNotCa: true });
    expect(await codeOf(verifierFor(s).verifyNotification(await s.signNotification()))).toBe('CERT_CHAIN_INVALID');
  });

  it('leaf without OID 1.2.840.113635.100.6.11.1 → CERT_OID_MISSING', async () => {
    const s = await createAppleTestSigner({ leafWithoutOid: true });
    expect(await codeOf(verifierFor(s).verifyNotification(await s.signNotification()))).toBe('CERT_OID_MISSING');
  });

  it('intermediate without OID 1.2.840.113635.100.6.2.1 → CERT_OID_MISSING', async () => {
    const s = await createAppleTestSigner({ intermediateWithoutOid: true });
    expect(await codeOf(verifierFor(s).verifyNotification(await s.signNotification()))).toBe('CERT_OID_MISSING');
  });

  it('several configured roots: the matching one is used', async () => {
    const verifier = createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [other.rootCertificate, signer.rootCertificate] });
    expect(await codeOf(verifier.verifyNotification(await signer.signNotification()))).toBe('ACCEPTED');
    expect(await codeOf(verifier.verifyNotification(await other.signNotification()))).toBe('ACCEPTED');
  });
});

describe('certificate validity at signedDate', () => {
  const notBefore = new Date(Date.UTC(2020, 0, 1));
  const notAfter = new Date(Date.UTC(2021, 0, 1));
  let old: AppleTestSigner;
  beforeAll(async () => {
    old = await createAppleTestSigner({ notBefore, notAfter });
  });

  it('leaf expired at signedDate → CERT_CHAIN_INVALID', async () => {
    const jws = await old.signNotification({ signedDate: Date.now() });
    expect(await codeOf(verifierFor(old).verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('leaf not yet valid at signedDate → CERT_CHAIN_INVALID', async () => {
    const s = await createAppleTestSigner({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) });
    expect(await codeOf(verifierFor(s).verifyNotification(await s.signNotification()))).toBe('CERT_CHAIN_INVALID');
  });

  it('a leaf that has expired since signedDate is fine: validity is judged at signedDate, not now', async () => {
    const expired = await createAppleTestSigner({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - 5 * DAY) });
    const jws = await expired.signNotification({ signedDate: Date.now() - 7 * DAY });
    expect(await codeOf(verifierFor(expired).verifyNotification(jws))).toBe('ACCEPTED');
  });

  it('root and intermediate must be valid at signedDate too', async () => {
    // The test CA certificates start a year before now; the old leaf covers 2020.
    const jws = await old.signNotification({ signedDate: Date.UTC(2020, 6, 1) });
    expect(await codeOf(verifierFor(old).verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('60 s of clock skew is tolerated at both ends, 61 s is not', async () => {
    const start = Math.floor((Date.now() - 10 * DAY) / 1000) * 1000;
    const end = start + 2 * DAY;
    const s = await createAppleTestSigner({ notBefore: new Date(start), notAfter: new Date(end) });
    const v = verifierFor(s);
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: start - 60_000 })))).toBe('ACCEPTED');
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: start - 61_000 })))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: end + 60_000 })))).toBe('ACCEPTED');
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: end + 61_000 })))).toBe('CERT_CHAIN_INVALID');
  });

  it('an absurd signedDate → CERT_CHAIN_INVALID, not a crash', async () => {
    for (const signedDate of [1e20, -1e20, 0]) {
      expect(await codeOf(verifierFor(signer).verifyNotification(await signer.signNotification({ signedDate })))).toBe('CERT_CHAIN_INVALID');
    }
  });

  it('without signedDate the verifier clock decides (verifyJws)', async () => {
    const s = await createAppleTestSigner({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    const jws = await s.sign({ hello: 'world' });
    expect(await codeOf(verifierFor(s).verifyJws(jws))).toBe('ACCEPTED');
    expect(await codeOf(verifierFor(s, { now: () => Date.now() + 3 * DAY }).verifyJws(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('a cache hit still enforces validity at signedDate', async () => {
    const s = await createAppleTestSigner({ notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    const v = verifierFor(s);
    expect(await codeOf(v.verifyNotification(await s.signNotification()))).toBe('ACCEPTED');
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: Date.now() + 3 * DAY })))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(v.verifyNotification(await s.signNotification({ signedDate: Date.now() - 3 * DAY })))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(v.verifyNotification(await s.signNotification()))).toBe('ACCEPTED');
  });
});

describe('chain cache', () => {
  it('a known chain costs one ECDSA verification', async () => {
    const v = verifierFor(signer);
    const first = await signer.signNotification();
    const second = await signer.signNotification();
    // Certificates are checked with WebCrypto; the JWS signature with node:crypto where the runtime has it.
    const nodeCrypto = process.getBuiltinModule('node:crypto') as typeof import('node:crypto');
    const subtle = vi.spyOn(globalThis.crypto.subtle, 'verify');
    const node = vi.spyOn(nodeCrypto, 'verify');
    const count = () => subtle.mock.calls.length + node.mock.calls.length;
    await v.verifyNotification(first);
    expect(count()).toBe(3); // intermediate, leaf, JWS
    subtle.mockClear();
    node.mockClear();
    await v.verifyNotification(second);
    expect(count()).toBe(1);
  });

  it('a failed chain is not cached', async () => {
    const s = await createAppleTestSigner({ leafWithoutOid: true });
    const v = verifierFor(s);
    const jws = await s.signNotification();
    expect(await codeOf(v.verifyNotification(jws))).toBe('CERT_OID_MISSING');
    expect(await codeOf(v.verifyNotification(jws))).toBe('CERT_OID_MISSING');
  });

  it('eviction keeps results correct (size 1 and size 0)', async () => {
    for (const chainCacheSize of [0, 1]) {
      const v = createAppleVerifier({
        bundleId: BUNDLE,
        environments: ['Sandbox'],
        rootCertificates: [signer.rootCertificate, other.rootCertificate],
        chainCacheSize,
      });
      for (let i = 0; i < 3; i++) {
        expect(await codeOf(v.verifyNotification(await signer.signNotification()))).toBe('ACCEPTED');
        expect(await codeOf(v.verifyNotification(await other.signNotification()))).toBe('ACCEPTED');
        expect(await codeOf(v.verifyNotification((await other.signNotification()).replace(/.{4}$/, 'AAAA')))).toBe('SIGNATURE_INVALID');
      }
    }
  });
});

describe('signature', () => {
  it('tampered payload → SIGNATURE_INVALID', async () => {
    const jws = await signer.signNotification();
    const payload = decodePart(jws, 1);
    const [header, , signature] = jws.split('.');
    const tampered = `${header}.${json64({ ...payload, notificationType: 'REFUND' })}.${signature}`;
    expect(await codeOf(verifierFor(signer).verifyNotification(tampered))).toBe('SIGNATURE_INVALID');
  });

  it('signature from another key → SIGNATURE_INVALID', async () => {
    const mine = await signer.signNotification();
    const theirs = await other.signNotification();
    const swapped = `${mine.split('.').slice(0, 2).join('.')}.${theirs.split('.')[2]}`;
    expect(await codeOf(verifierFor(signer).verifyNotification(swapped))).toBe('SIGNATURE_INVALID');
  });

  it('a signature of the wrong length → SIGNATURE_INVALID', async () => {
    const jws = await signer.signNotification();
    const sig = Buffer.from(jws.split('.')[2]!, 'base64url');
    for (const bad of [sig.subarray(0, 63), Buffer.concat([sig, Buffer.from([0])]), Buffer.alloc(0)]) {
      const tampered = `${jws.split('.').slice(0, 2).join('.')}.${bad.toString('base64url')}`;
      expect(await codeOf(verifierFor(signer).verifyNotification(tampered))).toBe('SIGNATURE_INVALID');
    }
  });

  it('jku / x5u / jwk / kid headers are ignored and nothing is fetched', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const attacker = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', attacker.publicKey);
    const header = { jku: 'https://127.0.0.1:1/jwks.json', x5u: 'https://127.0.0.1:1/chain.pem', kid: 'attacker', jwk };
    const good = await signer.sign(
      { notificationType: 'TEST', notificationUUID: crypto.randomUUID(), signedDate: Date.now(), data: { bundleId: BUNDLE, environment: 'Sandbox' } },
      header,
    );
    expect(await codeOf(verifierFor(signer).verifyNotification(good))).toBe('ACCEPTED');
    // A JWS signed by the key in `jwk` but carrying our x5c must not verify.
    const [h, p] = good.split('.');
    const forgedSig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, attacker.privateKey, new TextEncoder().encode(`${h}.${p}`)));
    expect(await codeOf(verifierFor(signer).verifyNotification(`${h}.${p}.${b64url(forgedSig)}`))).toBe('SIGNATURE_INVALID');
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('structure', () => {
  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['one part', 'abc'],
    ['two parts', 'abc.def'],
    ['four parts', 'a.b.c.d'],
  ])('%s → JWS_MALFORMED', async (_name, input) => {
    expect(await codeOf(verifierFor(signer).verifyNotification(input as string))).toBe('JWS_MALFORMED');
  });

  it('malformed base64 in any part → JWS_MALFORMED', async () => {
    const jws = await signer.signNotification();
    const [h, p, s] = jws.split('.') as [string, string, string];
    for (const bad of [`${h}!.${p}.${s}`, `${h}.${p}=.${s}`, `${h}.${p}.${s}+`, `${h}.${p}.${s}/`, `${h} .${p}.${s}`, `${h}.${p}x.${s}`]) {
      expect(await codeOf(verifierFor(signer).verifyNotification(bad))).toBe('JWS_MALFORMED');
    }
  });

  it('non-canonical base64url (non-zero padding bits) → JWS_MALFORMED', async () => {
    const jws = await signer.signNotification();
    const [h, p, s] = jws.split('.') as [string, string, string];
    // 64 bytes encode to 86 characters whose last one carries 4 unused bits; set one of them.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s.at(-1)!);
    const sloppy = `${h}.${p}.${s.slice(0, -1)}${alphabet[last ^ 0x01]}`;
    expect(Buffer.from(sloppy.split('.')[2]!, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    expect(await codeOf(verifierFor(signer).verifyNotification(sloppy))).toBe('JWS_MALFORMED');
  });

  it('malformed JSON header or payload → JWS_MALFORMED', async () => {
    const jws = await signer.signNotification();
    const [h, p, s] = jws.split('.') as [string, string, string];
    const cases = [
      `${b64url('{"alg":"ES256",')}.${p}.${s}`,
      `${json64(['ES256'])}.${p}.${s}`,
      `${json64('ES256')}.${p}.${s}`,
      `${h}.${b64url('{"notificationType":')}.${s}`,
      `${h}.${json64([1, 2])}.${s}`,
      `${h}.${json64(null)}.${s}`,
      `${h}.${b64url(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))}.${s}`,
    ];
    for (const bad of cases) expect(await codeOf(verifierFor(signer).verifyNotification(bad))).toBe('JWS_MALFORMED');
  });

  it('crit header → JWS_MALFORMED, even when validly signed', async () => {
    for (const crit of [['exp'], ['b64'], []]) {
      const jws = await signer.sign(
        { notificationType: 'TEST', notificationUUID: crypto.randomUUID(), signedDate: Date.now(), data: { bundleId: BUNDLE, environment: 'Sandbox' } },
        { crit, exp: 1 },
      );
      expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('JWS_MALFORMED');
    }
  });
});

describe('payload checks', () => {
  it('wrong bundleId → BUNDLE_ID_MISMATCH', async () => {
    const jws = await signer.signNotification({ data: { bundleId: 'com.evil.app' } });
    expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('BUNDLE_ID_MISMATCH');
  });

  it('nested transaction for another app → BUNDLE_ID_MISMATCH', async () => {
    const jws = await signer.signNotification({ data: { transaction: { bundleId: 'com.evil.app' } } });
    expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('BUNDLE_ID_MISMATCH');
  });

  it('a notification naming no app at all → BUNDLE_ID_MISMATCH', async () => {
    const jws = await signer.sign({ notificationType: 'TEST', notificationUUID: crypto.randomUUID(), signedDate: Date.now() });
    expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('BUNDLE_ID_MISMATCH');
  });

  it('bundle id and environment come from summary / externalPurchaseToken / appData when there is no data', async () => {
    const v = verifierFor(signer);
    const summary = await signer.signNotification({
      notificationType: 'RENEWAL_EXTENSION',
      subtype: 'SUMMARY',
      summary: {
        requestIdentifier: 'r-1',
        environment: 'Sandbox',
        bundleId: BUNDLE,
        productId: 'p',
        storefrontCountryCodes: ['USA'],
        succeededCount: 3,
        failedCount: 0,
      },
    });
    expect((await v.verifyNotification(summary)).payload.summary?.succeededCount).toBe(3);
    const token = await signer.signNotification({
      notificationType: 'EXTERNAL_PURCHASE_TOKEN',
      subtype: 'UNREPORTED',
      externalPurchaseToken: { externalPurchaseId: 'SANDBOX_0001', tokenCreationDate: Date.now(), bundleId: BUNDLE },
    });
    expect((await v.verifyNotification(token)).environment).toBe('Sandbox');
    const prodToken = await signer.signNotification({
      notificationType: 'EXTERNAL_PURCHASE_TOKEN',
      subtype: 'ACTIVE_TOKEN_REMINDER',
      externalPurchaseToken: { externalPurchaseId: '0001', tokenCreationDate: Date.now(), bundleId: BUNDLE },
    });
    expect(await codeOf(v.verifyNotification(prodToken))).toBe('ENVIRONMENT_REJECTED');
    const rescind = await signer.signNotification({
      notificationType: 'RESCIND_CONSENT',
      appData: {
        bundleId: BUNDLE,
        environment: 'Sandbox',
        signedAppTransactionInfo: await signer.sign({ bundleId: BUNDLE, appTransactionId: '704', receiptType: 'Sandbox' }),
      },
    });
    const verified = await v.verifyNotification(rescind);
    expect(verified.payload.appData?.bundleId).toBe(BUNDLE);
    expect(verified.appTransaction).toMatchObject({ appTransactionId: '704', bundleId: BUNDLE });
    // The nested app transaction is decoded and checked like a nested transaction.
    const garbled = await signer.signNotification({
      notificationType: 'RESCIND_CONSENT',
      appData: { bundleId: BUNDLE, environment: 'Sandbox', signedAppTransactionInfo: 'x.y.z' },
    });
    expect(await codeOf(v.verifyNotification(garbled))).toBe('BODY_INVALID');
    const otherApp = await signer.signNotification({
      notificationType: 'RESCIND_CONSENT',
      appData: { bundleId: BUNDLE, environment: 'Sandbox', signedAppTransactionInfo: await signer.sign({ bundleId: 'com.evil.app', appTransactionId: '704' }) },
    });
    expect(await codeOf(v.verifyNotification(otherApp))).toBe('BUNDLE_ID_MISMATCH');
    const wrongApp = await signer.signNotification({ notificationType: 'RESCIND_CONSENT', appData: { bundleId: 'com.evil.app', environment: 'Sandbox' } });
    expect(await codeOf(v.verifyNotification(wrongApp))).toBe('BUNDLE_ID_MISMATCH');
  });

  describe('appAppleId (Production only)', () => {
    let prod: AppleTestSigner;
    beforeAll(async () => {
      prod = await createAppleTestSigner({ bundleId: BUNDLE, environment: 'Production', appAppleId: 1234567890 });
    });
    const prodVerifier = (appAppleId?: number) =>
      createAppleVerifier({ bundleId: BUNDLE, appAppleId, environments: ['Production', 'Sandbox'], rootCertificates: [prod.rootCertificate] });

    it('matching → accepted', async () => {
      expect(await codeOf(prodVerifier(1234567890).verifyNotification(await prod.signNotification()))).toBe('ACCEPTED');
    });

    it('different → APP_APPLE_ID_MISMATCH', async () => {
      expect(await codeOf(prodVerifier(987654321).verifyNotification(await prod.signNotification()))).toBe('APP_APPLE_ID_MISMATCH');
    });

    it('payload has one, none configured → APP_APPLE_ID_MISMATCH', async () => {
      expect(await codeOf(prodVerifier().verifyNotification(await prod.signNotification()))).toBe('APP_APPLE_ID_MISMATCH');
    });

    it('Production payload without appAppleId → APP_APPLE_ID_MISMATCH (Apple documents it as always present)', async () => {
      const jws = await prod.signNotification({ data: { appAppleId: undefined } });
      expect(await codeOf(prodVerifier(1234567890).verifyNotification(jws))).toBe('APP_APPLE_ID_MISMATCH');
    });

    it('Sandbox payloads are not checked', async () => {
      const jws = await prod.signNotification({ data: { environment: 'Sandbox', appAppleId: 1 } });
      expect(await codeOf(prodVerifier(1234567890).verifyNotification(jws))).toBe('ACCEPTED');
    });
  });

  describe('environment', () => {
    it.each(['Xcode', 'LocalTesting', 'Production', 'Staging'])('%s not configured → ENVIRONMENT_REJECTED', async (environment) => {
      const s = await createAppleTestSigner({ environment, appAppleId: 1 });
      const v = verifierFor(s, { environments: ['Sandbox'], appAppleId: 1 });
      expect(await codeOf(v.verifyNotification(await s.signNotification()))).toBe('ENVIRONMENT_REJECTED');
      expect(await codeOf(v.verifyTransaction(await s.signTransaction()))).toBe('ENVIRONMENT_REJECTED');
      expect(await codeOf(v.verifyRenewalInfo(await s.signRenewalInfo()))).toBe('ENVIRONMENT_REJECTED');
    });

    it('no environment at all → ENVIRONMENT_REJECTED', async () => {
      const jws = await signer.signNotification({ data: { environment: undefined } });
      expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('ENVIRONMENT_REJECTED');
    });

    it('Xcode is accepted when listed, and its signature is still checked', async () => {
      const s = await createAppleTestSigner({ environment: 'Xcode' });
      const v = verifierFor(s, { environments: ['Xcode'] });
      const jws = await s.signNotification();
      expect(await codeOf(v.verifyNotification(jws))).toBe('ACCEPTED');
      expect(await codeOf(v.verifyNotification(jws.replace(/.{4}$/, 'AAAA')))).toBe('SIGNATURE_INVALID');
      const unsigned = `${json64({ alg: 'none' })}.${jws.split('.')[1]}.`;
      expect(await codeOf(v.verifyNotification(unsigned))).toBe('JWS_ALG_UNSUPPORTED');
    });
  });

  describe('schema', () => {
    it('unknown notification types, subtypes and fields are accepted and kept', async () => {
      const jws = await signer.signNotification({
        notificationType: 'SOMETHING_APPLE_ADDS_IN_2030',
        subtype: 'ALSO_NEW',
        futureField: { nested: true },
        data: { futureDataField: 1, transaction: { futureTransactionField: 'x', offerType: 9 } },
      });
      const result = await verifierFor(signer).verifyNotification(jws);
      expect(result.payload.notificationType).toBe('SOMETHING_APPLE_ADDS_IN_2030');
      expect(result.payload.futureField).toEqual({ nested: true });
      expect(result.payload.data?.futureDataField).toBe(1);
      expect(result.transaction?.futureTransactionField).toBe('x');
    });

    it.each([
      ['missing notificationUUID', { notificationUUID: undefined }],
      ['missing notificationType', { notificationType: undefined }],
      ['signedDate as a string', { signedDate: String(Date.now()) }],
      ['appAppleId as a string', { data: { appAppleId: '123' } }],
    ])('%s → BODY_INVALID', async (_name, override) => {
      const jws = await signer.signNotification(override as never);
      expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('BODY_INVALID');
    });

    it('data that is not an object → BODY_INVALID', async () => {
      for (const data of [[], 'text', 1]) {
        const jws = await signer.sign({ notificationType: 'TEST', notificationUUID: crypto.randomUUID(), signedDate: Date.now(), data });
        expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('BODY_INVALID');
      }
    });

    it('a nested transaction that is not a JWS or misses required fields → BODY_INVALID', async () => {
      for (const data of [
        { signedTransactionInfo: 'garbage' },
        { signedTransactionInfo: await signer.sign({ productId: 'p' }) },
        { signedRenewalInfo: await signer.sign({ autoRenewStatus: 'on' }) },
      ]) {
        expect(await codeOf(verifierFor(signer).verifyNotification(await signer.signNotification({ data })))).toBe('BODY_INVALID');
      }
    });

    it('verifyTransaction requires the transaction fields', async () => {
      const jws = await signer.sign({ bundleId: BUNDLE, environment: 'Sandbox', signedDate: Date.now() });
      expect(await codeOf(verifierFor(signer).verifyTransaction(jws))).toBe('BODY_INVALID');
    });
  });

  describe('nested JWS', () => {
    it('are decoded without verification by default, and verified with strictNested', async () => {
      const foreignTx = await other.signTransaction({ bundleId: BUNDLE });
      const jws = await signer.signNotification({ notificationType: 'DID_RENEW', data: { signedTransactionInfo: foreignTx } });
      expect(await codeOf(verifierFor(signer).verifyNotification(jws))).toBe('ACCEPTED');
      expect(await codeOf(verifierFor(signer, { strictNested: true }).verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
      const own = await signer.signNotification({ notificationType: 'DID_RENEW', data: { transaction: {}, renewalInfo: {} } });
      expect(await codeOf(verifierFor(signer, { strictNested: true }).verifyNotification(own))).toBe('ACCEPTED');
    });
  });

  describe('verifyTransaction / verifyRenewalInfo', () => {
    it('accept their own kind and check bundle id and environment', async () => {
      const v = verifierFor(signer);
      const tx = await v.verifyTransaction(await signer.signTransaction({ productId: 'pro.yearly' }));
      expect(tx.productId).toBe('pro.yearly');
      expect(await codeOf(v.verifyTransaction(await signer.signTransaction({ bundleId: 'com.evil.app' })))).toBe('BUNDLE_ID_MISMATCH');
      const info = await v.verifyRenewalInfo(await signer.signRenewalInfo({ autoRenewStatus: 0 }));
      expect(info.autoRenewStatus).toBe(0);
    });
  });
});

describe('configuration', () => {
  it.each([
    ['no bundleId', { bundleId: '', environments: ['Sandbox'] }],
    ['no environments', { bundleId: BUNDLE, environments: [] }],
    ['a root that is not a certificate', { bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [new Uint8Array([1, 2, 3])] }],
  ])('%s → CONFIG_INVALID', (_name, options) => {
    expect(() => createAppleVerifier(options as AppleVerifierOptions)).toThrowError(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('runtimes without node:crypto', () => {
  it('verify the JWS signature through jose + WebCrypto, with the same results', async () => {
    const original = process.getBuiltinModule;
    vi.resetModules();
    (process as { getBuiltinModule: unknown }).getBuiltinModule = () => undefined;
    try {
      const fresh = await import('../../../src/providers/apple/verifier.js');
      const errors = await import('../../../src/core/errors.js');
      const v = fresh.createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [signer.rootCertificate] });
      const jws = await signer.signNotification({ notificationType: 'SUBSCRIBED', data: { transaction: {} } });
      expect((await v.verifyNotification(jws)).payload.notificationType).toBe('SUBSCRIBED');
      const [h, p, s] = jws.split('.') as [string, string, string];
      const tampered = `${h}.${p.slice(0, -4)}${p.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}.${s}`;
      const code = await v.verifyNotification(tampered).then(
        () => 'ACCEPTED',
        (e: unknown) => (e instanceof errors.SubscriptionWebhooksError ? e.code : String(e)),
      );
      expect(['SIGNATURE_INVALID', 'JWS_MALFORMED']).toContain(code);
    } finally {
      (process as { getBuiltinModule: unknown }).getBuiltinModule = original;
      vi.resetModules();
    }
  });
});
