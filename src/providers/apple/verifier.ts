// @peculiar/x509 resolves its ASN.1 formatters through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { flattenedVerify } from 'jose';
import type { z } from 'zod';
import { jsonTooDeep } from '../../core/json-depth.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/errors.js';
import { APPLE_ROOT_CA_G3_DER } from './root-certificate.js';
import {
  JWSRenewalInfoDecodedPayloadSchema,
  JWSAppTransactionDecodedPayloadSchema,
  JWSTransactionDecodedPayloadSchema,
  ResponseBodyV2DecodedPayloadSchema,
} from './schemas.js';
import type { JWSAppTransactionDecodedPayload, JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload, ResponseBodyV2DecodedPayload } from './schemas.js';

/** Said with an untrusted root: the usual cause in development is a test chain the config does not list. */
const TEST_CHAIN_HINT = ' (signed by a test chain? list its root in apple.rootCertificates or env APPLE_ROOT_CERTIFICATES, in tests and development only)';

/** Extension Apple puts on its App Store receipt-signing leaf certificates. */
export const APPLE_LEAF_OID = '1.2.840.113635.100.6.11.1';
/** Extension Apple puts on its WWDR intermediate certificates. */
export const APPLE_INTERMEDIATE_OID = '1.2.840.113635.100.6.2.1';

/** Clock skew tolerated on certificate validity, as in Apple's own library. */
const MAX_SKEW_MS = 60_000;
const BASIC_CONSTRAINTS_OID = '2.5.29.19';
/**
 * Size caps checked before anything is decoded or parsed (a forged header is otherwise decoded, JSON-parsed
 * and its certificates ASN.1-parsed, up to the body limit). Apple's protected headers are ~4.4 K base64url
 * characters and its x5c entries ~0.8-1.5 K base64 characters: the caps leave several times that.
 */
const MAX_HEADER_CHARS = 16 * 1024;
const MAX_X5C_ENTRY_CHARS = 8 * 1024;

/** Options of {@link createAppleVerifier}. */
export interface AppleVerifierOptions {
  /** The app's bundle identifier; payloads for any other app are rejected. */
  bundleId: string;
  /** The app's Apple ID. Checked on Production payloads that carry one. */
  appAppleId?: number;
  /** Accepted environments, e.g. `['Production', 'Sandbox']`. `Xcode`/`LocalTesting` only when listed (the signature is still checked). */
  environments: string[];
  /** DER root certificates to trust. Default: the bundled Apple Root CA - G3. */
  rootCertificates?: Uint8Array[];
  /** Also verify the signature and chain of the nested `signedTransactionInfo` / `signedRenewalInfo`. Default false. */
  strictNested?: boolean;
  /** How many verified certificate chains to remember. Default 64. */
  chainCacheSize?: number;
  /** Clock in ms since epoch, used only when a payload has no `signedDate`. Default `Date.now`. */
  now?: () => number;
}

/** Result of {@link AppleVerifier.verifyNotification}. */
export interface VerifiedAppleNotification {
  /** The decoded, schema-checked notification. */
  payload: ResponseBodyV2DecodedPayload;
  /** The decoded `data.signedTransactionInfo`, if present. */
  transaction?: JWSTransactionDecodedPayload;
  /** The decoded `data.signedRenewalInfo`, if present. */
  renewalInfo?: JWSRenewalInfoDecodedPayload;
  /** The decoded `appData.signedAppTransactionInfo` (RESCIND_CONSENT), if present; checked like the nested transaction. */
  appTransaction?: JWSAppTransactionDecodedPayload;
  /** The environment the notification belongs to, `null` if it names none. */
  environment: string | null;
  /** The notification's `signedDate` (ms since epoch). */
  signedDate: number;
}

/**
 * The verifier returned by {@link createAppleVerifier}. Every method rejects with {@link SubscriptionWebhooksError}.
 *
 * @example
 * const tx = await verifier.verifyTransaction(req.body.signedTransaction);
 */
export interface AppleVerifier {
  /**
   * Verifies an App Store Server Notification V2 `signedPayload` and decodes its nested JWS.
   * @throws {SubscriptionWebhooksError} any verification code, see {@link createAppleVerifier}.
   */
  verifyNotification(signedPayload: string): Promise<VerifiedAppleNotification>;
  /**
   * Verifies a signed transaction (StoreKit 2 `jwsRepresentation`, App Store Server API `signedTransactionInfo`).
   * @throws {SubscriptionWebhooksError} any verification code but `APP_APPLE_ID_MISMATCH` (transactions carry no app id).
   */
  verifyTransaction(jws: string): Promise<JWSTransactionDecodedPayload>;
  /**
   * Verifies a signed renewal info. Renewal info carries no bundle id, so only the environment is matched.
   * @throws {SubscriptionWebhooksError} any verification code but `BUNDLE_ID_MISMATCH` and `APP_APPLE_ID_MISMATCH`.
   */
  verifyRenewalInfo(jws: string): Promise<JWSRenewalInfoDecodedPayload>;
  /**
   * Checks structure, algorithm, certificate chain and signature only; returns the parsed payload object.
   * @throws {SubscriptionWebhooksError} `JWS_MALFORMED`, `JWS_ALG_UNSUPPORTED`, `CERT_CHAIN_INVALID`, `CERT_OID_MISSING`, `SIGNATURE_INVALID`.
   */
  verifyJws(jws: string): Promise<unknown>;
}

interface VerifiedChain {
  leafKey: CryptoKey;
  /** The same key as a node:crypto KeyObject, where the runtime has node:crypto (see verifySigned). */
  nodeKey?: import('node:crypto').KeyObject;
  /** notBefore/notAfter (ms) of leaf, intermediate and the configured root the chain ends in. */
  validity: Array<{ notBefore: number; notAfter: number }>;
}

interface ParsedJws {
  parts: [string, string, string];
  /** `null` when the caller skipped the header (see verifySigned: a header text whose chain is cached). */
  header: Record<string, unknown> | null;
  payload: Record<string, unknown>;
  signature: Uint8Array<ArrayBuffer>;
}

function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new SubscriptionWebhooksError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * What leaves the verifier: its own errors as they are, anything else (a bug, a runtime without WebCrypto)
 * as `INTERNAL` with the original as `cause`. Certificate parsing and checking errors never get here:
 * verifyChain already turns them into `CERT_CHAIN_INVALID`.
 */
function asLibraryError(error: unknown): SubscriptionWebhooksError {
  if (error instanceof SubscriptionWebhooksError) return error;
  return new SubscriptionWebhooksError('INTERNAL', 'apple: unexpected failure while verifying signed data', { cause: error });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Strict decoding: `atob` and `Buffer` skip stray characters and ignore non-zero padding bits, which
 * would let several different strings stand for the same token. We accept only the canonical form.
 */
function decodeBase64(text: string, url: boolean): Uint8Array<ArrayBuffer> | null {
  if (url && NodeBuffer) {
    // Faster than the alphabet regex + native decode (the regex alone cost ~10 µs on a 10 KB payload), same
    // result: the canonical unpadded base64url encoding of the decoded bytes equals `text` exactly when
    // `text` is strict, unpadded, canonical base64url (invalid characters, padding, `+`/`/`, a length of
    // 4n+1 or non-zero trailing bits all make the re-encoding differ), and then those bytes are its value.
    const b = NodeBuffer.from(text, 'base64url');
    if (b.toString('base64url') !== text) return null;
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) as Uint8Array<ArrayBuffer>;
  }
  if (url ? !BASE64URL.test(text) || text.length % 4 === 1 : !BASE64.test(text)) return null;
  const std = url ? text.replace(/-/g, '+').replace(/_/g, '/') : text.replace(/=+$/, '');
  const rest = std.length % 4;
  const last = std.charAt(std.length - 1);
  if (rest !== 0 && (ALPHABET.indexOf(last) & (rest === 2 ? 0x0f : 0x03)) !== 0) return null;
  // Hot path (a notification carries ~12 KB of base64 certificates across its JWS headers): the
  // runtime's native decoder where there is one (Node, Bun, Deno), else a plain loop over atob.
  if (NodeBuffer) {
    const b = NodeBuffer.from(std, 'base64');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) as Uint8Array<ArrayBuffer>;
  }
  const binary = atob(std + '='.repeat((4 - rest) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
/** node:crypto when the runtime has it (Node >= 20.16, Bun, Deno), without a static import that would break other runtimes. */
const nodeCrypto = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as
  typeof import('node:crypto') | undefined;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One reusable buffer for bytes that are consumed synchronously right after being written (a JWS part
 * decoded then turned into a string, the signing input then verified), never handed out or kept across
 * an await. Allocating a fresh >4 KB Buffer per call cost more than the decoding itself (~5-10 µs each).
 */
const SCRATCH_BYTES = 64 * 1024;
let scratchBuffer: Buffer | undefined;
function scratch(bytes: number): Buffer | undefined {
  if (!NodeBuffer || bytes > SCRATCH_BYTES) return undefined;
  return (scratchBuffer ??= NodeBuffer.allocUnsafeSlow(SCRATCH_BYTES));
}

/** A base64url JWS part holding a JSON object, decoded as strictly as decodeBase64 does, or null. */
function parseJsonPart(text: string): Record<string, unknown> | null {
  const buf = scratch(Math.ceil((text.length * 3) / 4));
  if (!buf) return parseJsonObject(decodeBase64(text, true));
  // Same decoding and same canonical re-encoding check as decodeBase64, into the scratch buffer (faster).
  const n = buf.write(text, 0, 'base64url');
  if (buf.toString('base64url', 0, n) !== text) return null;
  return parseJsonObject(buf.subarray(0, n));
}

function parseJsonObject(bytes: Uint8Array | null): Record<string, unknown> | null {
  if (!bytes) return null;
  try {
    const text = utf8.decode(bytes);
    if (jsonTooDeep(text)) return null;
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function splitCompact(jws: unknown): [string, string, string] {
  if (typeof jws !== 'string') fail('JWS_MALFORMED', 'JWS must be a string');
  const parts = jws.split('.');
  if (parts.length !== 3) fail('JWS_MALFORMED', 'JWS must have three dot-separated parts');
  return parts as [string, string, string];
}

/**
 * Decodes the three parts. With `skipHeader` the header is not decoded at all: the caller already knows
 * this exact header text passed every check below and in verifySigned (it only skips repeating them).
 */
function parseCompact(parts: [string, string, string], skipHeader = false): ParsedJws {
  const [h, p, s] = parts;
  // Before decoding it: a skipped header is a known one, which passed this check.
  if (!skipHeader && h.length > MAX_HEADER_CHARS) fail('JWS_MALFORMED', `JWS header exceeds ${MAX_HEADER_CHARS} characters`);
  const header = skipHeader ? null : parseJsonPart(h);
  if (!skipHeader && !header) fail('JWS_MALFORMED', 'JWS header is not base64url-encoded JSON object');
  const payload = parseJsonPart(p);
  if (!payload) fail('JWS_MALFORMED', 'JWS payload is not base64url-encoded JSON object');
  const signature = decodeBase64(s, true);
  if (!signature) fail('JWS_MALFORMED', 'JWS signature is not base64url');
  // We implement no JWS extension, so per RFC 7515 §4.1.11 any `crit` makes the JWS unusable.
  if (header && 'crit' in header) fail('JWS_MALFORMED', 'JWS header has a "crit" parameter');
  return { parts, header, payload, signature };
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function hasExtension(cert: x509.X509Certificate, oid: string): boolean {
  return cert.extensions.some((e) => e.type === oid);
}

function isCa(cert: x509.X509Certificate): boolean {
  const ext = cert.getExtension(BASIC_CONSTRAINTS_OID);
  return ext !== null && new x509.BasicConstraintsExtension(ext.rawData).ca;
}

function validityOf(cert: x509.X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

/** Canonical padded base64, as x5c carries certificates. */
function encodeBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary);
}

/** An x5c entry (strict base64 of DER) as a certificate, or CERT_CHAIN_INVALID. */
function parseCertificate(b64: string): x509.X509Certificate {
  const der = decodeBase64(b64, false);
  if (!der) return fail('CERT_CHAIN_INVALID', 'x5c entry is not base64');
  try {
    return new x509.X509Certificate(der);
  } catch (error) {
    return fail('CERT_CHAIN_INVALID', 'x5c entry is not a DER certificate', error);
  }
}

/**
 * Creates a verifier for App Store signed data: notifications, transactions and renewal info.
 * It never fetches anything (`jku`, `x5u`, `jwk`, `kid` are ignored) and trusts only `rootCertificates`.
 *
 * Checks, in this order: JWS structure, `alg` exactly ES256, a 3-certificate `x5c` whose intermediate is
 * signed by a configured root and whose leaf is signed by the intermediate, Apple's OIDs, certificate
 * validity at the payload's `signedDate` (±60 s), the ES256 signature, the payload schema, bundle id,
 * app Apple id (Production) and environment.
 *
 * @example
 * const verifier = createAppleVerifier({ bundleId: 'com.example.app', appAppleId: 1234567890, environments: ['Production', 'Sandbox'] });
 * const { payload, transaction } = await verifier.verifyNotification(body.signedPayload);
 *
 * @throws {SubscriptionWebhooksError} `CONFIG_INVALID` for unusable options (no bundle id, no environments, a root that is not a certificate).
 * The returned methods reject only with {@link SubscriptionWebhooksError}: `JWS_MALFORMED` (also: a protected header over
 * 16 K characters, refused before it is decoded), `JWS_ALG_UNSUPPORTED`, `CERT_CHAIN_INVALID` (also: an x5c entry over
 * 8 K characters, refused before it is decoded, and any certificate that cannot be parsed or checked), `CERT_OID_MISSING`,
 * `SIGNATURE_INVALID`, `BODY_INVALID`, `BUNDLE_ID_MISMATCH`, `APP_APPLE_ID_MISMATCH` or `ENVIRONMENT_REJECTED`;
 * `INTERNAL` (500) only for an unexpected failure of ours.
 */
export function createAppleVerifier(options: AppleVerifierOptions): AppleVerifier {
  if (typeof options?.bundleId !== 'string' || options.bundleId === '') fail('CONFIG_INVALID', 'apple: bundleId is required');
  if (!Array.isArray(options.environments) || options.environments.length === 0) {
    fail('CONFIG_INVALID', 'apple: environments must list at least one environment');
  }
  const { bundleId, appAppleId, strictNested = false } = options;
  const environments = new Set(options.environments);
  const now = options.now ?? Date.now;
  const cacheSize = Math.max(0, Math.floor(options.chainCacheSize ?? 64));
  const crypto = globalThis.crypto;
  const rootDers = options.rootCertificates ?? [APPLE_ROOT_CA_G3_DER];
  const roots = rootDers.map((der, i) => {
    try {
      return new x509.X509Certificate(new Uint8Array(der));
    } catch (error) {
      return fail('CONFIG_INVALID', `apple: rootCertificates[${i}] is not a DER certificate`, error);
    }
  });
  // The configured roots as x5c spells them: an x5c[2] equal to one of these is a certificate (it parsed above).
  const rootsBase64 = new Set(rootDers.map((der) => encodeBase64(new Uint8Array(der))));

  // Least-recently-used cache of chains that passed, keyed by the exact x5c strings. A Map keeps
  // insertion order, which is all an LRU needs; a dependency would be more code than this.
  const chainCache = new Map<string, VerifiedChain>();
  const cacheGet = (key: string): VerifiedChain | undefined => {
    const hit = chainCache.get(key);
    if (hit) {
      chainCache.delete(key);
      chainCache.set(key, hit);
    }
    return hit;
  };
  const cacheSet = (key: string, value: VerifiedChain): void => {
    if (cacheSize === 0) return;
    chainCache.delete(key);
    chainCache.set(key, value);
    while (chainCache.size > cacheSize) chainCache.delete(chainCache.keys().next().value as string);
  };

  // The few most recent protected-header texts whose chain is in the cache, each with its cache key.
  // Hot path: comparing the ~3 KB header text with === costs well under a microsecond, while decoding and
  // parsing it, joining x5c into the key and hashing that key for the Map cost ~15-20 µs. A byte-identical
  // header gives identical results for every header check (structure, crit, alg, x5c), so only those are
  // skipped; the chain still comes from the LRU cache (so eviction and chainCacheSize behave as before),
  // and the validity at signedDate and the signature are checked on every call.
  const knownHeaders: Array<{ text: string; key: string }> = [];
  const knownHeaderLimit = Math.min(cacheSize, 4);
  /** The cache key of this exact header text if its chain is still cached (the LRU order is not touched here). */
  const knownHeader = (h: string): string | undefined => {
    for (let i = 0; i < knownHeaders.length; i++) {
      const known = knownHeaders[i]!;
      if (known.text !== h) continue;
      if (chainCache.has(known.key)) return known.key;
      knownHeaders.splice(i, 1); // evicted from the chain cache: forget it and take the full path
      return undefined;
    }
    return undefined;
  };
  const rememberHeader = (h: string, key: string): void => {
    if (knownHeaderLimit === 0 || knownHeaders.some((k) => k.text === h)) return;
    // A flat copy, so that the entry does not keep the whole JWS it was sliced from alive.
    knownHeaders.unshift({ text: NodeBuffer ? NodeBuffer.from(h, 'latin1').toString('latin1') : h, key });
    if (knownHeaders.length > knownHeaderLimit) knownHeaders.pop();
  };

  /**
   * The chain check, where any failure is CERT_CHAIN_INVALID: the certificate library (asn1 parsing,
   * WebCrypto) throws its own errors on forged input, e.g. an intermediate whose signature is not a DER
   * ECDSA-Sig-Value; those are the sender's fault (4xx), never ours (5xx).
   */
  async function verifyChain(x5c: string[]): Promise<VerifiedChain> {
    try {
      return await checkChain(x5c);
    } catch (error) {
      if (error instanceof SubscriptionWebhooksError) throw error;
      return fail('CERT_CHAIN_INVALID', 'certificate chain could not be parsed or checked', error);
    }
  }

  async function checkChain(x5c: string[]): Promise<VerifiedChain> {
    const leaf = parseCertificate(x5c[0]!);
    const intermediate = parseCertificate(x5c[1]!);
    // x5c[2] is the sender's claim, never trusted and never used: it only has to be a certificate, as always.
    // Apple sends a byte-identical copy of the configured root, which is one: only anything else is parsed.
    if (!rootsBase64.has(x5c[2]!)) parseCertificate(x5c[2]!);

    // The intermediate must chain to a root we were configured with.
    let root: x509.X509Certificate | undefined;
    for (const candidate of roots) {
      if (!sameBytes(intermediate.issuerName.toArrayBuffer(), candidate.subjectName.toArrayBuffer())) continue;
      if (await intermediate.verify({ publicKey: candidate.publicKey, signatureOnly: true }, crypto)) {
        root = candidate;
        break;
      }
    }
    if (!root) fail('CERT_CHAIN_INVALID', `intermediate certificate is not issued by a trusted root${TEST_CHAIN_HINT}`);
    if (
      !sameBytes(leaf.issuerName.toArrayBuffer(), intermediate.subjectName.toArrayBuffer()) ||
      !(await leaf.verify({ publicKey: intermediate.publicKey, signatureOnly: true }, crypto))
    ) {
      fail('CERT_CHAIN_INVALID', 'leaf certificate is not issued by the intermediate');
    }
    if (!isCa(intermediate)) fail('CERT_CHAIN_INVALID', 'intermediate certificate is not a CA');
    if (!hasExtension(leaf, APPLE_LEAF_OID)) fail('CERT_OID_MISSING', `leaf certificate lacks ${APPLE_LEAF_OID}`);
    if (!hasExtension(intermediate, APPLE_INTERMEDIATE_OID)) {
      fail('CERT_OID_MISSING', `intermediate certificate lacks ${APPLE_INTERMEDIATE_OID}`);
    }
    let leafKey: CryptoKey;
    try {
      leafKey = await leaf.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify'], crypto);
    } catch (error) {
      return fail('CERT_CHAIN_INVALID', 'leaf key is not a P-256 key', error);
    }
    const nodeKey = nodeCrypto?.createPublicKey({ key: Buffer.from(leaf.publicKey.rawData), format: 'der', type: 'spki' });
    return { leafKey, ...(nodeKey ? { nodeKey } : {}), validity: [validityOf(leaf), validityOf(intermediate), validityOf(root)] };
  }

  /** Structure → alg → chain → OIDs → dates → signature. Returns the unverified-by-schema payload. */
  async function verifySigned(jws: string): Promise<Record<string, unknown>> {
    const split = splitCompact(jws);
    const knownKey = knownHeader(split[0]);
    const { parts, header, payload, signature } = parseCompact(split, knownKey !== undefined);
    let chain: VerifiedChain;
    const knownChain = knownKey === undefined ? undefined : cacheGet(knownKey); // always found: nothing ran in between
    if (knownChain) {
      chain = knownChain;
    } else {
      // Only narrows the type: without skipHeader, parseCompact has already thrown for a missing header.
      if (!header) return fail('JWS_MALFORMED', 'JWS header is not base64url-encoded JSON object');
      if (header.alg !== 'ES256') fail('JWS_ALG_UNSUPPORTED', `JWS alg ${JSON.stringify(header.alg)} is not ES256`);
      const x5c = header.x5c;
      if (!Array.isArray(x5c) || x5c.length !== 3 || !x5c.every((c): c is string => typeof c === 'string')) {
        fail('CERT_CHAIN_INVALID', 'x5c must hold exactly three certificates');
      }
      // Before decoding or parsing any of them (and before joining them into a cache key).
      if (x5c[0]!.length > MAX_X5C_ENTRY_CHARS || x5c[1]!.length > MAX_X5C_ENTRY_CHARS || x5c[2]!.length > MAX_X5C_ENTRY_CHARS) {
        fail('CERT_CHAIN_INVALID', `x5c entry exceeds ${MAX_X5C_ENTRY_CHARS} characters`);
      }
      const key = x5c.join('.');
      let cached = cacheGet(key);
      if (!cached) {
        cached = await verifyChain(x5c);
        cacheSet(key, cached);
      }
      chain = cached;
      if (chainCache.has(key)) rememberHeader(parts[0], key);
    }
    // Apple signs with certificates valid when it signed; a leaf that expired since is still fine.
    const at = typeof payload.signedDate === 'number' ? payload.signedDate : now();
    for (const { notBefore, notAfter } of chain.validity) {
      if (notBefore > at + MAX_SKEW_MS || notAfter < at - MAX_SKEW_MS) {
        fail('CERT_CHAIN_INVALID', `certificate chain not valid at ${at} (ms since epoch)`);
      }
    }
    // With node:crypto, verify the ES256 signature synchronously with the cached KeyObject: one ECDSA
    // verification and nothing else, about 4x faster than WebCrypto's thread-pool round trip (and jose
    // decoding the payload a second time). Elsewhere (Workers, browsers), jose over WebCrypto.
    let valid = false;
    if (chain.nodeKey && nodeCrypto) {
      // The signing input is ASCII (both parts passed the strict base64url check), so its latin1 bytes are
      // its bytes. Written into the scratch buffer (faster than a fresh Buffer) and verified right away.
      const length = parts[0].length + 1 + parts[1].length;
      const buf = scratch(length);
      const signingInput = buf ? buf.subarray(0, buf.write(jws, 0, length, 'latin1')) : Buffer.from(jws.slice(0, length), 'latin1');
      valid = signature.length === 64 && nodeCrypto.verify('sha256', signingInput, { key: chain.nodeKey, dsaEncoding: 'ieee-p1363' }, signature);
    } else {
      valid = await flattenedVerify({ protected: parts[0], payload: parts[1], signature: parts[2] }, chain.leafKey, { algorithms: ['ES256'] }).then(
        () => true,
        () => false,
      );
    }
    if (!valid) fail('SIGNATURE_INVALID', 'JWS signature does not verify');
    return payload;
  }

  function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
    const result = schema.safeParse(value);
    if (!result.success) fail('BODY_INVALID', `${what} does not match its schema`, result.error);
    return result.data;
  }

  function checkBundle(actual: unknown, what: string): void {
    if (actual !== bundleId) fail('BUNDLE_ID_MISMATCH', `${what} bundleId ${JSON.stringify(actual)} is not ${bundleId}`);
  }

  function checkEnvironment(actual: string | null | undefined, what: string): void {
    if (typeof actual !== 'string' || !environments.has(actual)) {
      fail(
        'ENVIRONMENT_REJECTED',
        `${what} environment ${JSON.stringify(actual)} is not accepted: accepted are ${[...environments].join(', ')} (apple.environments, or env APPLE_ENVIRONMENTS, e.g. APPLE_ENVIRONMENTS=Production,Sandbox)`,
      );
    }
  }

  async function decodeNestedStrict<T>(jws: string, schema: z.ZodType<T>, what: string): Promise<T> {
    return parseWith(schema, await verifySigned(jws), what);
  }

  // Synchronous; called from the async verifyNotification, so whatever it throws still becomes a rejection of that promise.
  function decodeNested<T>(jws: string, schema: z.ZodType<T>, what: string): T {
    // Not verified by default: the outer signature already covers these exact bytes.
    // Only the payload is read: its header (another ~4 KB certificate chain) and signature are not used.
    const parts = typeof jws === 'string' ? jws.split('.') : [];
    const payload = parts.length === 3 ? parseJsonPart(parts[1]!) : null;
    if (!payload) return fail('BODY_INVALID', `${what} is not a JWS`);
    return parseWith(schema, payload, what);
  }

  return {
    // Each method converts whatever else was thrown at its boundary (see asLibraryError); try/catch costs nothing when nothing throws.
    async verifyJws(jws) {
      try {
        return await verifySigned(jws);
      } catch (error) {
        throw asLibraryError(error);
      }
    },

    async verifyTransaction(jws) {
      try {
        const tx = parseWith(JWSTransactionDecodedPayloadSchema, await verifySigned(jws), 'transaction');
        checkBundle(tx.bundleId, 'transaction');
        checkEnvironment(tx.environment, 'transaction');
        return tx;
      } catch (error) {
        throw asLibraryError(error);
      }
    },

    async verifyRenewalInfo(jws) {
      try {
        const info = parseWith(JWSRenewalInfoDecodedPayloadSchema, await verifySigned(jws), 'renewal info');
        checkEnvironment(info.environment, 'renewal info');
        return info;
      } catch (error) {
        throw asLibraryError(error);
      }
    },

    async verifyNotification(signedPayload) {
      try {
        const payload = parseWith(ResponseBodyV2DecodedPayloadSchema, await verifySigned(signedPayload), 'notification');
        const { data, summary, externalPurchaseToken, appData } = payload;
        const nested = async <T>(jws: string | undefined, schema: z.ZodType<T>, what: string): Promise<T | undefined> =>
          jws === undefined ? undefined : strictNested ? decodeNestedStrict(jws, schema, what) : decodeNested(jws, schema, what);
        const [transaction, renewalInfo, appTransaction] = await Promise.all([
          nested(data?.signedTransactionInfo, JWSTransactionDecodedPayloadSchema, 'signedTransactionInfo'),
          nested(data?.signedRenewalInfo, JWSRenewalInfoDecodedPayloadSchema, 'signedRenewalInfo'),
          nested(appData?.signedAppTransactionInfo, JWSAppTransactionDecodedPayloadSchema, 'signedAppTransactionInfo'),
        ]);

        // Same precedence as Apple's library: the first container present names the app and environment.
        const source = data ?? summary ?? externalPurchaseToken ?? appData;
        let environment: string | null = null;
        if (source !== undefined && source === externalPurchaseToken) {
          // externalPurchaseToken has no environment field; Apple marks sandbox tokens by this prefix.
          environment = externalPurchaseToken.externalPurchaseId?.startsWith('SANDBOX') ? 'Sandbox' : 'Production';
        } else if (source !== undefined) {
          environment = (source as { environment?: string }).environment ?? null;
        }

        checkBundle(source?.bundleId, 'notification');
        if (transaction) checkBundle(transaction.bundleId, 'signedTransactionInfo');
        if (appTransaction) checkBundle(appTransaction.bundleId, 'signedAppTransactionInfo');
        const payloadAppAppleId = source?.appAppleId;
        // Apple documents appAppleId as always present in Production; a Production payload without it, or
        // with another app's, is not for us (Apple's own library rejects both too).
        if (environment === 'Production' && payloadAppAppleId !== appAppleId) {
          fail('APP_APPLE_ID_MISMATCH', `notification appAppleId ${payloadAppAppleId} is not ${appAppleId ?? '(none configured)'}`);
        }
        checkEnvironment(environment, 'notification');
        if (transaction?.environment !== undefined) checkEnvironment(transaction.environment, 'signedTransactionInfo');
        if (renewalInfo?.environment !== undefined) checkEnvironment(renewalInfo.environment, 'signedRenewalInfo');

        const result: VerifiedAppleNotification = { payload, environment, signedDate: payload.signedDate };
        if (transaction) result.transaction = transaction;
        if (renewalInfo) result.renewalInfo = renewalInfo;
        if (appTransaction) result.appTransaction = appTransaction;
        return result;
      } catch (error) {
        throw asLibraryError(error);
      }
    },
  };
}
