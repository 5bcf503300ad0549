import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { SignedDataVerifier } from '@apple/app-store-server-library';
import type { Environment } from '@apple/app-store-server-library';
import { createAppleVerifier } from '../../../src/providers/apple/verifier.js';
import type { AppleVerifier } from '../../../src/providers/apple/verifier.js';
import { APPLE_NOTIFICATION_TYPES, APPLE_SUBTYPES } from '../../../src/providers/apple/schemas.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import type { AppleTestSigner } from '../../../src/testing/apple-signer.js';
import { isSubscriptionWebhooksError } from '../../../src/core/errors.js';

// Differential test against Apple's own verifier (@apple/app-store-server-library 3.1.0,
// SignedDataVerifier with online checks off, so it judges certificates at the payload's signedDate
// exactly as we do). For every generated JWS, valid or corrupted, both must agree on accept/reject.
// Apple's verifier checks one environment at a time, so ours is configured with that one environment.
// Cases where the two differ on purpose are not generated here; each is pinned in "known differences".

const BUNDLE = 'com.example.app';
const APP_ID = 1234567890;
const DAY = 86_400_000;
const NOW = Date.now();

type ChainName = 'main' | 'foreign' | 'expired' | 'notYetValid' | 'leafWithoutOid' | 'intermediateWithoutOid' | 'intermediateNotCa' | 'leafIssuedByRoot';
type Env = 'Sandbox' | 'Production';

interface Case {
  target: 'notification' | 'transaction' | 'renewal';
  env: Env;
  payloadEnv: string;
  payloadBundle: string;
  payloadAppAppleId: number;
  notificationType: string;
  subtype: string | undefined;
  withTransaction: boolean;
  withRenewal: boolean;
  chain: ChainName;
  signedDate: 'now' | 'weekAgo';
  mutation:
    | { kind: 'none' }
    | { kind: 'flip'; part: 0 | 1 | 2; at: number; bit: number }
    | { kind: 'truncate'; part: 0 | 1 | 2; cut: number }
    | { kind: 'dropSignature' }
    | { kind: 'reorderX5c'; order: [number, number, number] }
    | { kind: 'x5cFromForeignChain'; index: 0 | 1 | 2 }
    | { kind: 'alg'; alg: string };
}

const signers = {} as Record<ChainName, AppleTestSigner>;
const ours = new Map<string, AppleVerifier>();
const apples = new Map<string, SignedDataVerifier>();

beforeAll(async () => {
  const entries = await Promise.all([
    ['main', createAppleTestSigner({ bundleId: BUNDLE })],
    ['foreign', createAppleTestSigner({ bundleId: BUNDLE })],
    ['expired', createAppleTestSigner({ notBefore: new Date(NOW - 10 * DAY), notAfter: new Date(NOW - 5 * DAY) })],
    ['notYetValid', createAppleTestSigner({ notBefore: new Date(NOW + DAY), notAfter: new Date(NOW + 2 * DAY) })],
    ['leafWithoutOid', createAppleTestSigner({ leafWithoutOid: true })],
    ['intermediateWithoutOid', createAppleTestSigner({ intermediateWithoutOid: true })],
    ['intermediateNotCa', createAppleTestSigner({ intermediateNotCa: true })],
    ['leafIssuedByRoot', createAppleTestSigner({ leafIssuedByRoot: true })],
  ] as const);
  for (const [name, signer] of entries) signers[name] = await signer;
});

/** The root both verifiers trust for a chain: its own, except the foreign chain, judged against main's. */
const trustedRootOf = (chain: ChainName) => signers[chain === 'foreign' ? 'main' : chain].rootCertificate;

// Verifiers are reused across cases, so ours also runs with a warm chain cache.
function oursFor(chain: ChainName, env: Env): AppleVerifier {
  const key = `${chain}/${env}`;
  let verifier = ours.get(key);
  if (!verifier) {
    verifier = createAppleVerifier({ bundleId: BUNDLE, appAppleId: APP_ID, environments: [env], rootCertificates: [trustedRootOf(chain)] });
    ours.set(key, verifier);
  }
  return verifier;
}

function appleFor(chain: ChainName, env: Env): SignedDataVerifier {
  const key = `${chain}/${env}`;
  let verifier = apples.get(key);
  if (!verifier) {
    verifier = new SignedDataVerifier([Buffer.from(trustedRootOf(chain))], false, env as Environment, BUNDLE, APP_ID);
    apples.set(key, verifier);
  }
  return verifier;
}

async function outcome(run: () => Promise<unknown>): Promise<{ accepted: boolean; detail: string }> {
  try {
    await run();
    return { accepted: true, detail: 'accepted' };
  } catch (error) {
    if (isSubscriptionWebhooksError(error)) return { accepted: false, detail: error.code };
    const status = (error as { status?: unknown }).status;
    if (status !== undefined) return { accepted: false, detail: `VerificationStatus ${String(status)}` };
    throw error;
  }
}

async function buildJws(c: Case): Promise<string> {
  const signer = signers[c.chain];
  const signedDate = c.signedDate === 'now' ? Date.now() : Date.now() - 7 * DAY;
  let jws: string;
  if (c.target === 'transaction') {
    jws = await signer.signTransaction({ bundleId: c.payloadBundle, environment: c.payloadEnv, signedDate });
  } else if (c.target === 'renewal') {
    jws = await signer.signRenewalInfo({ environment: c.payloadEnv, signedDate });
  } else {
    jws = await signer.signNotification({
      notificationType: c.notificationType,
      subtype: c.subtype,
      signedDate,
      data: {
        bundleId: c.payloadBundle,
        environment: c.payloadEnv,
        appAppleId: c.payloadAppAppleId,
        transaction: c.withTransaction ? {} : undefined,
        renewalInfo: c.withRenewal ? {} : undefined,
      },
    });
  }
  const parts = jws.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as object;
  const m = c.mutation;
  switch (m.kind) {
    case 'none':
      return jws;
    case 'flip': {
      const bytes = Buffer.from(parts[m.part], 'base64url');
      const i = m.at % bytes.length;
      bytes[i] = bytes[i]! ^ (1 << m.bit);
      parts[m.part] = bytes.toString('base64url');
      return parts.join('.');
    }
    case 'truncate':
      parts[m.part] = parts[m.part].slice(0, Math.max(0, parts[m.part].length - m.cut));
      return parts.join('.');
    case 'dropSignature':
      return `${parts[0]}.${parts[1]}`;
    case 'reorderX5c':
      return signer.sign(payload, { x5c: m.order.map((i) => signer.x5c[i]) });
    case 'x5cFromForeignChain': {
      const x5c = [...signer.x5c];
      x5c[m.index] = signers[c.chain === 'foreign' ? 'main' : 'foreign'].x5c[m.index]!;
      return signer.sign(payload, { x5c });
    }
    case 'alg':
      return signer.sign(payload, { alg: m.alg });
  }
}

const mutationArb: fc.Arbitrary<Case['mutation']> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      part: fc.constantFrom(0 as const, 1 as const, 2 as const),
      at: fc.nat(),
      bit: fc.nat({ max: 7 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      part: fc.constantFrom(0 as const, 1 as const, 2 as const),
      cut: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'dropSignature' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reorderX5c' as const),
      order: fc.constantFrom<[number, number, number]>([1, 0, 2], [2, 1, 0], [0, 2, 1], [1, 2, 0], [2, 0, 1], [0, 0, 0], [1, 1, 2]),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('x5cFromForeignChain' as const), index: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('alg' as const), alg: fc.constantFrom('ES384', 'ES512', 'RS256', 'PS256', 'HS256', 'none', 'EdDSA', 'es256') }),
  },
);

type Fault =
  | { kind: 'none' }
  | { kind: 'mutation'; mutation: Case['mutation'] }
  | { kind: 'chain'; chain: ChainName; signedDate: Case['signedDate'] }
  | { kind: 'payloadEnv'; env: string }
  | { kind: 'payloadBundle'; bundleId: string }
  | { kind: 'wrongAppAppleId' };

// One fault per case (or none), so every kind of corruption is seen on its own many times.
const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 9, arbitrary: fc.record({ kind: fc.constant('mutation' as const), mutation: mutationArb }) },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('chain' as const),
      chain: fc.constantFrom<ChainName>(
        'main',
        'foreign',
        'expired',
        'notYetValid',
        'leafWithoutOid',
        'intermediateWithoutOid',
        'intermediateNotCa',
        'leafIssuedByRoot',
      ),
      signedDate: fc.constantFrom('now' as const, 'weekAgo' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('payloadEnv' as const), env: fc.constantFrom('Sandbox', 'Production', 'Xcode', 'LocalTesting', 'sandbox') }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('payloadBundle' as const),
      bundleId: fc.constantFrom('com.example.other', 'com.example.app.extension', 'COM.EXAMPLE.APP', ''),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'wrongAppAppleId' as const }) },
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    target: fc.constantFrom('notification' as const, 'notification' as const, 'notification' as const, 'transaction' as const, 'renewal' as const),
    env: fc.constantFrom<Env>('Sandbox', 'Production'),
    notificationType: fc.constantFrom<string>(...APPLE_NOTIFICATION_TYPES, 'A_TYPE_APPLE_ADDS_LATER'),
    subtype: fc.option(fc.constantFrom<string>(...APPLE_SUBTYPES), { nil: undefined }),
    withTransaction: fc.boolean(),
    withRenewal: fc.boolean(),
    fault: faultArb,
  })
  .map(({ fault, ...r }) => ({
    ...r,
    payloadEnv: fault.kind === 'payloadEnv' ? fault.env : r.env,
    payloadBundle: fault.kind === 'payloadBundle' ? fault.bundleId : BUNDLE,
    payloadAppAppleId: fault.kind === 'wrongAppAppleId' ? APP_ID + 1 : APP_ID,
    chain: fault.kind === 'chain' ? fault.chain : 'main',
    signedDate: fault.kind === 'chain' ? fault.signedDate : 'now',
    mutation: fault.kind === 'mutation' ? fault.mutation : { kind: 'none' as const },
  }));

describe('differential: our verifier vs @apple/app-store-server-library SignedDataVerifier', () => {
  it('agree on accept/reject for 300 generated JWS (fixed seed)', async () => {
    const seen = { accepted: 0, rejected: 0 };
    const rejectedBy = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const jws = await buildJws(c);
        const mine = oursFor(c.chain, c.env);
        const apple = appleFor(c.chain, c.env);
        const [a, b] = await Promise.all([
          outcome(() =>
            c.target === 'notification' ? mine.verifyNotification(jws) : c.target === 'transaction' ? mine.verifyTransaction(jws) : mine.verifyRenewalInfo(jws),
          ),
          outcome(() =>
            c.target === 'notification'
              ? apple.verifyAndDecodeNotification(jws)
              : c.target === 'transaction'
                ? apple.verifyAndDecodeTransaction(jws)
                : apple.verifyAndDecodeRenewalInfo(jws),
          ),
        ]);
        if (a.accepted !== b.accepted) {
          throw new Error(`disagreement: ours ${a.detail}, Apple ${b.detail} for ${JSON.stringify(c)}`);
        }
        seen[a.accepted ? 'accepted' : 'rejected']++;
        if (!a.accepted) rejectedBy.set(a.detail, (rejectedBy.get(a.detail) ?? 0) + 1);
      }),
      { seed: 20261122, numRuns: 300 },
    );
    // The generator must exercise both outcomes and most of our rejection reasons.
    expect(seen.accepted).toBeGreaterThanOrEqual(50);
    expect(seen.rejected).toBeGreaterThanOrEqual(100);
    for (const code of [
      'JWS_MALFORMED',
      'JWS_ALG_UNSUPPORTED',
      'CERT_CHAIN_INVALID',
      'CERT_OID_MISSING',
      'SIGNATURE_INVALID',
      'BUNDLE_ID_MISMATCH',
      'APP_APPLE_ID_MISMATCH',
      'ENVIRONMENT_REJECTED',
    ]) {
      expect(rejectedBy.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  });
});

describe('known differences from @apple/app-store-server-library 3.1.0 (excluded from the comparison above)', () => {
  const base = () => ({
    notificationType: 'TEST',
    notificationUUID: crypto.randomUUID(),
    version: '2.0',
    signedDate: Date.now(),
    data: { bundleId: BUNDLE, environment: 'Sandbox', appAppleId: APP_ID },
  });
  const mine = (env: Env | 'Xcode' = 'Sandbox') =>
    createAppleVerifier({ bundleId: BUNDLE, appAppleId: APP_ID, environments: [env], rootCertificates: [signers.main.rootCertificate] });
  const apple = (env: string = 'Sandbox') => new SignedDataVerifier([Buffer.from(signers.main.rootCertificate)], false, env as Environment, BUNDLE, APP_ID);
  const both = async (jws: string, env: Env | 'Xcode' = 'Sandbox') => ({
    ours: (await outcome(() => mine(env).verifyNotification(jws))).detail,
    apple: (await outcome(() => apple(env).verifyAndDecodeNotification(jws))).detail,
  });

  it('Apple DEFECT: for Xcode/LocalTesting it skips the signature entirely, so an unsigned alg "none" JWS passes; we always verify', async () => {
    const payload = { ...base(), data: { bundleId: BUNDLE, environment: 'Xcode' } };
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    expect(await both(unsigned, 'Xcode')).toEqual({ ours: 'JWS_ALG_UNSUPPORTED', apple: 'accepted' });
  });

  it('Apple DEFECT: it ignores a "crit" header (RFC 7515 §4.1.11 requires rejecting unknown critical extensions); we reject', async () => {
    const jws = await signers.main.sign(base(), { crit: ['exp'], exp: 1 });
    expect(await both(jws)).toEqual({ ours: 'JWS_MALFORMED', apple: 'accepted' });
  });

  it('Apple never parses x5c[2]; we require all three x5c entries to be certificates (x5c[2] is still never trusted)', async () => {
    const jws = await signers.main.sign(base(), { x5c: [signers.main.x5c[0], signers.main.x5c[1], 'AAAA'] });
    expect(await both(jws)).toEqual({ ours: 'CERT_CHAIN_INVALID', apple: 'accepted' });
  });

  it('Apple decodes base64url leniently (non-zero padding bits); we accept only the canonical encoding', async () => {
    const jws = await signers.main.sign(base());
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sloppy = jws.slice(0, -1) + alphabet[alphabet.indexOf(jws.at(-1)!) ^ 0x01];
    expect(await both(sloppy)).toEqual({ ours: 'JWS_MALFORMED', apple: 'accepted' });
  });

  it('Apple (through jsonwebtoken) enforces JWT exp/nbf claims against the current time; App Store payloads are not JWTs and we ignore them', async () => {
    expect(await both(await signers.main.sign({ ...base(), exp: 1 }))).toEqual({ ours: 'accepted', apple: 'VerificationStatus 1' });
    expect(await both(await signers.main.sign({ ...base(), nbf: 9_999_999_999 }))).toEqual({ ours: 'accepted', apple: 'VerificationStatus 1' });
  });

  it('Apple requires no field at all; we require notificationType, notificationUUID and signedDate', async () => {
    const { notificationUUID: _, ...withoutUuid } = base();
    expect(await both(await signers.main.sign(withoutUuid))).toEqual({ ours: 'BODY_INVALID', apple: 'accepted' });
  });

  it('Apple never decodes the nested signedTransactionInfo; we parse it (and verify it with strictNested)', async () => {
    const payload = { ...base(), data: { ...base().data, signedTransactionInfo: 'not-a-jws' } };
    expect(await both(await signers.main.sign(payload))).toEqual({ ours: 'BODY_INVALID', apple: 'accepted' });
  });

  it('a Production notification without appAppleId: both reject it', async () => {
    const payload = { ...base(), data: { bundleId: BUNDLE, environment: 'Production' } };
    expect(await both(await signers.main.sign(payload), 'Production')).toEqual({ ours: 'APP_APPLE_ID_MISMATCH', apple: 'VerificationStatus 3' });
  });
});
