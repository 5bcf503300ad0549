import { describe, it, expect, beforeAll, vi, afterEach } from 'vitest';
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { createAppleVerifier } from '../../../src/providers/apple/verifier.js';
import type { AppleVerifier } from '../../../src/providers/apple/verifier.js';
import { APPLE_ROOT_CA_G3_DER } from '../../../src/providers/apple/root-certificate.js';
import { SubscriptionWebhooksError } from '../../../src/core/errors.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import type { AppleTestSigner } from '../../../src/testing/apple-signer.js';
import { appleHarness, type AppleHarness } from '../../helpers/apple-harness.js';
import { codeOf } from '../../helpers/code-of.js';

// Hardening of the Apple verifier against forged certificate chains:
// 1. a chain that makes the certificate library throw (a malformed ECDSA signature on the intermediate,
//    a garbled extension) is a 400 CERT_CHAIN_INVALID, never a 500 or a non-library error;
// 2. a protected header over 16 K characters (JWS_MALFORMED) and an x5c entry over 8 K (CERT_CHAIN_INVALID)
//    are refused before they are decoded or parsed, and x5c[2] (the sender's copy of the root) is not parsed
//    when it is a trusted root's bytes. Spies on JSON.parse, Buffer.from and the certificate parser show
//    what was not attempted (the codes are the ones those parts always had).

const BUNDLE = 'com.example.app';
const DAY = 86_400_000;
const b64url = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
const json64 = (value: unknown) => b64url(JSON.stringify(value));

// --- minimal DER surgery: replace a certificate's signatureValue, keeping tbsCertificate and its algorithm.
function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}
const tlv = (tag: number, ...body: Uint8Array[]): Buffer => {
  const content = Buffer.concat(body);
  return Buffer.concat([Uint8Array.from([tag, ...derLength(content.length)]), content]);
};
function element(der: Uint8Array, at: number): { start: number; body: number; end: number } {
  let length = der[at + 1]!;
  let header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[at + 2 + i]!;
    header += n;
  }
  return { start: at, body: at + header, end: at + header + length };
}
/** The certificate (base64 DER) with its signature BIT STRING holding `signature` instead of a DER ECDSA-Sig-Value. */
function withSignature(certBase64: string, signature: Uint8Array): string {
  const der = Buffer.from(certBase64, 'base64');
  const outer = element(der, 0);
  const tbs = element(der, outer.body);
  const algorithm = element(der, tbs.end);
  return tlv(0x30, der.subarray(tbs.start, algorithm.end), tlv(0x03, Uint8Array.of(0), signature)).toString('base64');
}

/** Signature values that are not a valid DER ECDSA-Sig-Value: each makes WebCrypto / asn1 throw. */
const MALFORMED_SIGNATURES: [string, Uint8Array][] = [
  ['not a SEQUENCE', Uint8Array.of(0xde, 0xad, 0xbe, 0xef)],
  ['a SEQUENCE with a bogus length', Uint8Array.of(0x30, 0x99, 0x01, 0x02)],
  ['64 raw bytes (P1363, not DER)', new Uint8Array(64).fill(7)],
  ['empty', new Uint8Array(0)],
];

// --- the real Apple chain (leaf, WWDR G6 intermediate issued by Apple Root CA - G3, root), from a real notification.
const realJws = readFileSync(new URL('../../fixtures/apple-real/02-notification-TEST.jws', import.meta.url), 'utf8').trim();
const realHeader = JSON.parse(Buffer.from(realJws.split('.')[0]!, 'base64url').toString('utf8')) as { alg: string; x5c: string[] };
const realPayload = realJws.split('.')[1]!;
/** A JWS whose header carries the real Apple leaf and root and `intermediate`; the signature is never reached. */
const forgedReal = (intermediate: string, payload = realPayload) =>
  `${json64({ alg: 'ES256', x5c: [realHeader.x5c[0], intermediate, realHeader.x5c[2]] })}.${payload}.${b64url(new Uint8Array(64).fill(1))}`;

const MAX_HEADER = 16 * 1024;
const MAX_X5C_ENTRY = 8 * 1024;

/** A real, parseable certificate whose base64 is over MAX_X5C_ENTRY characters (a big private extension). */
async function bigCertificate(): Promise<string> {
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=Big',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      extensions: [new x509.Extension('1.2.3.4', false, new Uint8Array(7000).fill(0x41))],
    },
    crypto,
  );
  const b64 = Buffer.from(cert.rawData).toString('base64');
  expect(b64.length).toBeGreaterThan(MAX_X5C_ENTRY);
  expect(b64.length).toBeLessThan(MAX_X5C_ENTRY + 2048); // the header stays under its own cap
  return b64;
}

let signer: AppleTestSigner;
let other: AppleTestSigner;
const verifierFor = (s: AppleTestSigner): AppleVerifier =>
  createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [s.rootCertificate] });

beforeAll(async () => {
  [signer, other] = await Promise.all([createAppleTestSigner({ bundleId: BUNDLE }), createAppleTestSigner({ bundleId: BUNDLE })]);
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('a certificate chain the certificate library throws on → 400 CERT_CHAIN_INVALID (never a non-library error)', () => {
  it.each(MALFORMED_SIGNATURES)('test chain: intermediate signature %s', async (_name, signature) => {
    const x5c = [signer.x5c[0], withSignature(signer.x5c[1]!, signature), signer.x5c[2]];
    const jws = await signer.sign({ notificationType: 'TEST', signedDate: Date.now() }, { x5c });
    const error = await rejection(verifierFor(signer).verifyJws(jws));
    expect(error).toBeInstanceOf(SubscriptionWebhooksError);
    expect(error).toMatchObject({ code: 'CERT_CHAIN_INVALID', status: 400 });
    // The library's own error is kept for whoever debugs it.
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect((error as Error).cause).not.toBeInstanceOf(SubscriptionWebhooksError);
  });

  it.each(MALFORMED_SIGNATURES)('real chain: WWDR intermediate naming Apple Root CA - G3, signature %s (default roots)', async (_name, signature) => {
    const verifier = createAppleVerifier({ bundleId: 'com.loki-project.loki-messenger', environments: ['Production', 'Sandbox'] });
    const jws = forgedReal(withSignature(realHeader.x5c[1]!, signature));
    for (const call of [verifier.verifyNotification, verifier.verifyJws, verifier.verifyTransaction, verifier.verifyRenewalInfo]) {
      const error = await rejection(call(jws));
      expect(error).toBeInstanceOf(SubscriptionWebhooksError);
      expect(error).toMatchObject({ code: 'CERT_CHAIN_INVALID', status: 400 });
    }
  });

  it('strictNested: a nested JWS with such a chain → CERT_CHAIN_INVALID', async () => {
    const nested = await signer.sign(
      { transactionId: '1', originalTransactionId: '1', bundleId: BUNDLE, environment: 'Sandbox', signedDate: Date.now() },
      { x5c: [signer.x5c[0], withSignature(signer.x5c[1]!, Uint8Array.of(1, 2, 3)), signer.x5c[2]] },
    );
    const jws = await signer.signNotification({ data: { signedTransactionInfo: nested } });
    const verifier = createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [signer.rootCertificate], strictNested: true });
    expect(await codeOf(verifier.verifyNotification(jws))).toBe('CERT_CHAIN_INVALID');
  });

  it('a validly signed intermediate whose basicConstraints extension is garbage → CERT_CHAIN_INVALID', async () => {
    // Our own CA, so that the garbled intermediate is still properly signed and reaches the extension checks.
    const alg = { name: 'ECDSA', hash: 'SHA-256' } as const;
    const gen = () => crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const [rootKeys, intermediateKeys, leafKeys] = await Promise.all([gen(), gen(), gen()]);
    const validity = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) };
    const root = await x509.X509CertificateGenerator.createSelfSigned(
      {
        name: 'CN=Hardening Root',
        keys: rootKeys,
        signingAlgorithm: alg,
        ...validity,
        extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
      },
      crypto,
    );
    const intermediate = await x509.X509CertificateGenerator.create(
      {
        subject: 'CN=Hardening Intermediate',
        issuer: root.subjectName,
        publicKey: intermediateKeys.publicKey,
        signingKey: rootKeys.privateKey,
        signingAlgorithm: alg,
        ...validity,
        extensions: [
          new x509.Extension('2.5.29.19', true, Uint8Array.of(0x30, 0x03, 0xff, 0xff)),
          new x509.Extension('1.2.840.113635.100.6.2.1', false, Uint8Array.of(5, 0)),
        ],
      },
      crypto,
    );
    const leaf = await x509.X509CertificateGenerator.create(
      {
        subject: 'CN=Hardening Leaf',
        issuer: intermediate.subjectName,
        publicKey: leafKeys.publicKey,
        signingKey: intermediateKeys.privateKey,
        signingAlgorithm: alg,
        ...validity,
        extensions: [new x509.Extension('1.2.840.113635.100.6.11.1', false, Uint8Array.of(5, 0))],
      },
      crypto,
    );
    const x5c = [leaf, intermediate, root].map((c) => Buffer.from(c.rawData).toString('base64'));
    const input = `${json64({ alg: 'ES256', x5c })}.${json64({ notificationType: 'TEST', signedDate: Date.now() })}`;
    const signature = new Uint8Array(await crypto.subtle.sign(alg, leafKeys.privateKey, new TextEncoder().encode(input)));
    const verifier = createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [new Uint8Array(root.rawData)] });
    const error = await rejection(verifier.verifyJws(`${input}.${b64url(signature)}`));
    expect(error).toBeInstanceOf(SubscriptionWebhooksError);
    expect(error).toMatchObject({ code: 'CERT_CHAIN_INVALID', status: 400 });
  });

  it('the same verifier still accepts a good chain afterwards (nothing broken is cached)', async () => {
    const verifier = verifierFor(signer);
    const bad = await signer.sign(
      { notificationType: 'TEST', signedDate: Date.now() },
      { x5c: [signer.x5c[0], withSignature(signer.x5c[1]!, Uint8Array.of(9)), signer.x5c[2]] },
    );
    expect(await codeOf(verifier.verifyJws(bad))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(verifier.verifyJws(bad))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(verifier.verifyNotification(await signer.signNotification()))).toBe('ACCEPTED');
  });
});

describe('through hooks and the HTTP routes (Express, memory store)', () => {
  let h: AppleHarness;
  beforeAll(async () => {
    // The real Apple root is trusted too, so the forged real intermediate reaches the signature check against it.
    h = await appleHarness({ extraRoots: [APPLE_ROOT_CA_G3_DER] });
  });
  const forgedTestChain = async () => {
    const s = h.signer;
    const tx = h.contract().transaction();
    return s.sign(tx, { x5c: [s.x5c[0], withSignature(s.x5c[1]!, Uint8Array.of(0xde, 0xad)), s.x5c[2]] });
  };
  const forgedAppleChain = () => forgedReal(withSignature(realHeader.x5c[1]!, Uint8Array.of(0x30, 0x99, 0x01, 0x02)));

  it('hooks.apple.verifyTransaction rejects with SubscriptionWebhooksError CERT_CHAIN_INVALID', async () => {
    for (const jws of [await forgedTestChain(), forgedAppleChain()]) {
      const error = await rejection(h.hooks.apple.verifyTransaction(jws));
      expect(error).toBeInstanceOf(SubscriptionWebhooksError);
      expect(error).toMatchObject({ code: 'CERT_CHAIN_INVALID', status: 400 });
      expect(await codeOf(h.hooks.apple.verifyRenewalInfo(jws))).toBe('CERT_CHAIN_INVALID');
    }
  });

  it.each([
    ['notification route, test chain', 'apple', 'signedPayload', forgedTestChain],
    ['notification route, real Apple chain', 'apple', 'signedPayload', async () => forgedAppleChain()],
    ['client transaction route, test chain', 'appleTransactions', 'signedTransaction', forgedTestChain],
    ['client transaction route, real Apple chain', 'appleTransactions', 'signedTransaction', async () => forgedAppleChain()],
  ] as const)('%s → 400 CERT_CHAIN_INVALID, nothing recorded, nothing logged at error level', async (_name, route, field, make) => {
    const errorsBefore = h.logger.errors.length;
    const r = await h.post(h.hooks.routes[route], { [field]: await make() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 400, data: { processed: false, error: 'CERT_CHAIN_INVALID' } });
    expect(r.events).toEqual([]);
    expect(await h.store.countNotifications()).toBe(0);
    expect(h.logger.errors.slice(errorsBefore)).toEqual([]);
  });

  it('a valid but 9 KB certificate as x5c[2] (the untrusted root copy, any certificate used to pass) → 400 CERT_CHAIN_INVALID on the route', async () => {
    const s = h.signer;
    const jws = await s.sign(h.contract().transaction(), { x5c: [s.x5c[0], s.x5c[1], await bigCertificate()] });
    const r = await h.post(h.hooks.routes.appleTransactions, { signedTransaction: jws });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 400, data: { processed: false, error: 'CERT_CHAIN_INVALID' } });
    expect(await h.store.countNotifications()).toBe(0);
  });
});

describe('size caps before decoding and parsing', () => {
  /** Counts certificate parses (every X509Certificate construction runs onInit once). */
  const countParses = () => vi.spyOn(x509.X509Certificate.prototype as unknown as { onInit: (asn: unknown) => void }, 'onInit');
  /**
   * The error code of `call`, and whether it JSON-parsed anything / base64-decoded anything (`Buffer.from(_, 'base64')`)
   * / parsed a certificate. Counted up to the call's first await: where every check before the chain runs.
   */
  async function attempt(call: () => Promise<unknown>) {
    const json = vi.spyOn(JSON, 'parse');
    const from = vi.spyOn(Buffer, 'from');
    const parses = countParses();
    let promise: Promise<unknown>;
    let jsonParsed: number;
    let base64Decoded: number;
    try {
      promise = call();
    } finally {
      // Read before restoring: mockRestore also clears the recorded calls.
      jsonParsed = json.mock.calls.length;
      base64Decoded = from.mock.calls.filter((args) => (args as unknown[])[1] === 'base64').length;
      json.mockRestore();
      from.mockRestore();
    }
    const code = await codeOf(promise);
    const certificatesParsed = parses.mock.calls.length;
    parses.mockRestore();
    return { code, jsonParsed, base64Decoded, certificatesParsed };
  }

  it.each([0, 1, 2])('an x5c[%i] entry over 8 KB → CERT_CHAIN_INVALID, and nothing is base64-decoded or parsed', async (index) => {
    const big = await bigCertificate();
    const v = verifierFor(signer);
    for (const entry of [big, 'A'.repeat(MAX_X5C_ENTRY + 4), '*'.repeat(MAX_X5C_ENTRY + 1)]) {
      const x5c = [...signer.x5c];
      x5c[index] = entry;
      const jws = await signer.sign({ notificationType: 'TEST', signedDate: Date.now() }, { x5c });
      expect(jws.split('.')[0]!.length).toBeLessThanOrEqual(MAX_HEADER);
      expect(await attempt(() => v.verifyJws(jws))).toEqual({ code: 'CERT_CHAIN_INVALID', jsonParsed: 2, base64Decoded: 0, certificatesParsed: 0 });
    }
  });

  it('an x5c entry of exactly 8 KB is not refused for its size (it is decoded and parsed as always)', async () => {
    const jws = await signer.sign({ notificationType: 'TEST', signedDate: Date.now() }, { x5c: [signer.x5c[0], signer.x5c[1], 'A'.repeat(MAX_X5C_ENTRY)] });
    // 8192 'A's are strict base64 of zero bytes, which are no certificate: leaf, intermediate, then this one are parsed.
    const v = verifierFor(signer);
    expect(await attempt(() => v.verifyJws(jws))).toMatchObject({ code: 'CERT_CHAIN_INVALID', base64Decoded: 3 });
  });

  it('a validly signed protected header of exactly 16 KB verifies; one character more → JWS_MALFORMED, never decoded', async () => {
    const bare = JSON.stringify({ alg: 'ES256', x5c: signer.x5c, pad: '' }).length;
    const padded = (jsonLength: number) => signer.sign({ notificationType: 'TEST', signedDate: Date.now() }, { pad: 'x'.repeat(jsonLength - bare) });
    const v = verifierFor(signer);
    const atCap = await padded((MAX_HEADER / 4) * 3);
    expect(atCap.split('.')[0]!.length).toBe(MAX_HEADER);
    expect(await attempt(() => v.verifyJws(atCap))).toMatchObject({ code: 'ACCEPTED', jsonParsed: 2 });
    const over = await padded((MAX_HEADER / 4) * 3 + 1);
    expect(over.split('.')[0]!.length).toBeGreaterThan(MAX_HEADER);
    expect(await attempt(() => v.verifyJws(over))).toEqual({ code: 'JWS_MALFORMED', jsonParsed: 0, base64Decoded: 0, certificatesParsed: 0 });
  });

  it('a ~660 KiB forged header (a huge certificate, or padding, or junk) → JWS_MALFORMED before anything is decoded', async () => {
    const v = verifierFor(signer);
    const jws = await signer.signNotification();
    const [, payload, signature] = jws.split('.');
    for (const header of [
      json64({ alg: 'ES256', x5c: [signer.x5c[0], signer.x5c[1], signer.x5c[2]!.repeat(620)] }),
      json64({ alg: 'ES256', x5c: signer.x5c, pad: 'x'.repeat(480 * 1024) }),
      'e'.repeat(660 * 1024),
    ]) {
      expect(header.length).toBeGreaterThan(480 * 1024);
      const forged = `${header}.${payload}.${signature}`;
      expect(await attempt(() => v.verifyNotification(forged))).toEqual({ code: 'JWS_MALFORMED', jsonParsed: 0, base64Decoded: 0, certificatesParsed: 0 });
    }
  });

  it('x5c[2] byte-identical to a trusted root is not parsed: a cold chain parses leaf and intermediate only', async () => {
    const v = createAppleVerifier({ bundleId: BUNDLE, environments: ['Sandbox'], rootCertificates: [other.rootCertificate, signer.rootCertificate] });
    const parses = countParses();
    expect(await codeOf(v.verifyNotification(await signer.signNotification()))).toBe('ACCEPTED');
    expect(parses).toHaveBeenCalledTimes(2);
  });

  it('x5c[2] is still checked as before when it is not a trusted root: any certificate passes, anything else does not', async () => {
    const v = verifierFor(signer);
    const sign = (root: string) => signer.sign({ notificationType: 'TEST', signedDate: Date.now() }, { x5c: [signer.x5c[0], signer.x5c[1], root] });
    expect(await codeOf(v.verifyJws(await sign(other.x5c[2]!)))).toBe('ACCEPTED');
    expect(await codeOf(v.verifyJws(await sign(signer.x5c[1]!)))).toBe('ACCEPTED');
    expect(await codeOf(v.verifyJws(await sign('AAAA')))).toBe('CERT_CHAIN_INVALID'); // base64, not a certificate
    expect(await codeOf(v.verifyJws(await sign('***')))).toBe('CERT_CHAIN_INVALID'); // not base64
    // The trusted root's base64 in a non-canonical spelling is not its byte-identical copy: still strict base64 only.
    expect(await codeOf(v.verifyJws(await sign(`${signer.x5c[2]}\n`)))).toBe('CERT_CHAIN_INVALID');
  });
});
