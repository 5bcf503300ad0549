// @peculiar/x509 resolves its ASN.1 formatters through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { APPLE_INTERMEDIATE_OID, APPLE_LEAF_OID } from '../providers/apple/verifier.js';

const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** DER NULL: Apple's marker extensions carry no value, only their presence counts. */
const DER_NULL = new Uint8Array([0x05, 0x00]);

/** A test chain kept on disk so the dev server trusts it once and every CLI run signs with it. */
export interface LocalChain {
  dir: string;
  /** DER root certificate file: what the dev server trusts (`APPLE_ROOT_CERTIFICATES`). */
  rootPath: string;
  rootPemPath: string;
  rootCertificate: Uint8Array;
  /** True when this call generated the chain. */
  created: boolean;
  /** Compact JWS of `payload`, signed by the leaf with `x5c` = leaf, intermediate, root. */
  sign(payload: object): Promise<string>;
}

interface ChainFile {
  version: 1;
  x5c: string[];
  /** PKCS#8 of the leaf key, base64. */
  leafKey: string;
  leafNotAfter: number;
}

const b64 = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('base64');
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

async function keys(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

/**
 * Generates a root → intermediate → leaf ES256 chain shaped like Apple's (WWDR OID on the intermediate,
 * receipt-signing OID on the leaf). Not persisted: the CLI uses it as is for the "forged" step.
 */
export async function generateChain(): Promise<{ file: ChainFile; rootDer: Uint8Array; rootPem: string }> {
  const crypto = globalThis.crypto;
  const now = Date.now();
  const [rootKeys, intKeys, leafKeys] = await Promise.all([keys(), keys(), keys()]);
  const ca = { notBefore: new Date(now - DAY), notAfter: new Date(now + 3650 * DAY) };
  const caExtensions = () => [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const org = 'O=subscription-webhooks local test chain, C=US';
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    { name: `CN=Local Test Apple Root CA, ${org}`, keys: rootKeys, signingAlgorithm: ES256, ...ca, extensions: caExtensions() },
    crypto,
  );
  const intermediate = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=Local Test WWDR CA, ${org}`,
      issuer: root.subjectName,
      publicKey: intKeys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: ES256,
      ...ca,
      extensions: [...caExtensions(), new x509.Extension(APPLE_INTERMEDIATE_OID, false, DER_NULL)],
    },
    crypto,
  );
  const leafNotAfter = now + 365 * DAY;
  const leaf = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=Local Test App Store Receipt Signing, ${org}`,
      issuer: intermediate.subjectName,
      publicKey: leafKeys.publicKey,
      signingKey: intKeys.privateKey,
      signingAlgorithm: ES256,
      notBefore: new Date(now - DAY),
      notAfter: new Date(leafNotAfter),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.Extension(APPLE_LEAF_OID, false, DER_NULL),
      ],
    },
    crypto,
  );
  const leafKey = b64(await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey));
  return {
    file: { version: 1, x5c: [leaf, intermediate, root].map((c) => b64(c.rawData)), leafKey, leafNotAfter },
    rootDer: new Uint8Array(root.rawData),
    rootPem: root.toString('pem'),
  };
}

async function signer(file: ChainFile): Promise<(payload: object) => Promise<string>> {
  const key = await globalThis.crypto.subtle.importKey('pkcs8', Buffer.from(file.leafKey, 'base64'), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const enc = new TextEncoder();
  return async (payload) => {
    const input = `${b64url(enc.encode(JSON.stringify({ alg: 'ES256', x5c: file.x5c })))}.${b64url(enc.encode(JSON.stringify(payload)))}`;
    const signature = new Uint8Array(await globalThis.crypto.subtle.sign(ES256, key, enc.encode(input)));
    return `${input}.${b64url(signature)}`;
  };
}

/** An in-memory chain nobody trusts: signs the "forged" notification of `simulate lifecycle`. */
export async function untrustedSigner(): Promise<(payload: object) => Promise<string>> {
  return signer((await generateChain()).file);
}

/**
 * Loads the chain stored in `dir` (default `.subscription-webhooks/` under the working directory), or
 * creates it: `chain.json` (certificates and the leaf's private key: a test key, never Apple's),
 * `root.cer` (DER) and `root.pem`. A chain whose leaf expires within a day is replaced.
 */
export async function loadOrCreateChain(dir: string): Promise<LocalChain> {
  const abs = resolve(dir);
  const chainPath = join(abs, 'chain.json');
  const rootPath = join(abs, 'root.cer');
  const rootPemPath = join(abs, 'root.pem');
  let file: ChainFile | null = null;
  if (existsSync(chainPath) && existsSync(rootPath)) {
    const parsed = JSON.parse(readFileSync(chainPath, 'utf8')) as ChainFile;
    if (parsed.version === 1 && parsed.leafNotAfter > Date.now() + DAY) file = parsed;
  }
  let created = false;
  if (!file) {
    const generated = await generateChain();
    mkdirSync(abs, { recursive: true });
    // Keys for local testing only, but still nothing for version control.
    writeFileSync(join(abs, '.gitignore'), '*\n');
    writeFileSync(chainPath, `${JSON.stringify(generated.file, null, 2)}\n`, { mode: 0o600 });
    writeFileSync(rootPath, generated.rootDer);
    writeFileSync(rootPemPath, generated.rootPem);
    file = generated.file;
    created = true;
  }
  return {
    dir: abs,
    rootPath,
    rootPemPath,
    rootCertificate: new Uint8Array(readFileSync(rootPath)),
    created,
    sign: await signer(file),
  };
}
