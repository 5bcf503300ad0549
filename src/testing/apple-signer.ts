// @peculiar/x509 resolves its ASN.1 formatters through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type {
  AppData,
  ExternalPurchaseToken,
  JWSRenewalInfoDecodedPayload,
  JWSTransactionDecodedPayload,
  NotificationData,
  NotificationSummary,
  ResponseBodyV2DecodedPayload,
} from '../providers/apple/schemas.js';

const LEAF_OID = '1.2.840.113635.100.6.11.1';
const INTERMEDIATE_OID = '1.2.840.113635.100.6.2.1';
/** DER NULL: Apple's marker extensions carry no meaningful value, only their presence counts. */
const DER_NULL = new Uint8Array([0x05, 0x00]);
const DAY = 86_400_000;
const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Options of {@link createAppleTestSigner}. The last group builds deliberately broken chains for negative tests. */
export interface AppleTestSignerOptions {
  /** `bundleId` put in notifications and transactions. Default `'com.example.app'`. */
  bundleId?: string;
  /** `appAppleId` put in notifications. Default: none (as in Apple's sandbox). */
  appAppleId?: number;
  /** `environment` put in every payload. Default `'Sandbox'`. */
  environment?: string;
  /** Leaf certificate without the App Store receipt-signing OID 1.2.840.113635.100.6.11.1. */
  leafWithoutOid?: boolean;
  /** Intermediate certificate without the WWDR OID 1.2.840.113635.100.6.2.1. */
  intermediateWithoutOid?: boolean;
  /** Intermediate certificate with basicConstraints cA = false. */
  intermediateNotCa?: boolean;
  /** Leaf issued and signed by the root directly (x5c still lists leaf, intermediate, root). */
  leafIssuedByRoot?: boolean;
  /** Leaf certificate notBefore. Default: one day ago. */
  notBefore?: Date;
  /** Leaf certificate notAfter. Default: in one year. */
  notAfter?: Date;
}

/** Transaction fields for the signer; anything left out gets a plausible default. */
export type AppleTestTransactionInput = Partial<JWSTransactionDecodedPayload>;
/** Renewal info fields for the signer; anything left out gets a plausible default. */
export type AppleTestRenewalInfoInput = Partial<JWSRenewalInfoDecodedPayload>;

/**
 * A notification for the signer. `data.transaction` / `data.renewalInfo` objects are signed into
 * `data.signedTransactionInfo` / `data.signedRenewalInfo`. Set a field to `undefined` to leave it out.
 */
export interface AppleTestNotificationInput {
  notificationType?: ResponseBodyV2DecodedPayload['notificationType'];
  subtype?: string;
  notificationUUID?: string;
  version?: string;
  signedDate?: number;
  data?: Partial<NotificationData> & { transaction?: AppleTestTransactionInput; renewalInfo?: AppleTestRenewalInfoInput };
  summary?: Partial<NotificationSummary>;
  externalPurchaseToken?: Partial<ExternalPurchaseToken>;
  appData?: Partial<AppData>;
  [field: string]: unknown;
}

/** What {@link createAppleTestSigner} returns. */
export interface AppleTestSigner {
  /** The test root, DER: pass it as `rootCertificates: [signer.rootCertificate]`. */
  rootCertificate: Uint8Array;
  /** The test root as PEM. */
  rootCertificatePem: string;
  /** The `x5c` header value: base64 DER of leaf, intermediate, root. */
  x5c: string[];
  /** Signs a notification `signedPayload`, filling defaults (TEST type, random UUID, version 2.0, signedDate now, data from the options). */
  signNotification(payload?: AppleTestNotificationInput): Promise<string>;
  /** Signs a transaction JWS, filling defaults (an auto-renewable subscription purchased just now). */
  signTransaction(tx?: AppleTestTransactionInput): Promise<string>;
  /** Signs a renewal info JWS, filling defaults (auto-renew on). */
  signRenewalInfo(info?: AppleTestRenewalInfoInput): Promise<string>;
  /** Signs `payload` as is with the leaf key. `header` is merged over `{ alg: 'ES256', x5c }`; the signature is always ES256. */
  sign(payload: object, header?: object): Promise<string>;
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function base64url(bytes: Uint8Array): string {
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomDigits(length: number): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(length));
  return String(1 + (bytes[0]! % 9)) + Array.from(bytes.subarray(1), (b) => String(b % 10)).join('');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

/**
 * Creates a signer that produces App Store-shaped JWS under its own freshly generated 3-certificate
 * ES256 chain (root CA → intermediate CA with Apple's WWDR OID → leaf with Apple's receipt-signing OID),
 * so tests exercise the real verification path with `rootCertificates: [signer.rootCertificate]`.
 * Nothing is cached: every call generates three new P-256 keys (a few milliseconds).
 *
 * @example
 * const signer = await createAppleTestSigner({ bundleId: 'com.example.app', environment: 'Sandbox' });
 * const verifier = createAppleVerifier({ bundleId: 'com.example.app', environments: ['Sandbox'], rootCertificates: [signer.rootCertificate] });
 * const signedPayload = await signer.signNotification({
 *   notificationType: 'SUBSCRIBED',
 *   subtype: 'INITIAL_BUY',
 *   data: { transaction: { productId: 'pro.monthly', appAccountToken: order.no }, renewalInfo: {} },
 * });
 * const { transaction } = await verifier.verifyNotification(signedPayload);
 *
 * @throws {Error} only if WebCrypto cannot generate or sign (not expected on Node 20+).
 */
export async function createAppleTestSigner(options: AppleTestSignerOptions = {}): Promise<AppleTestSigner> {
  const crypto = globalThis.crypto;
  const bundleId = options.bundleId ?? 'com.example.app';
  const environment = options.environment ?? 'Sandbox';
  const now = Date.now();
  const [rootKeys, intermediateKeys, leafKeys] = await Promise.all([generateKeys(), generateKeys(), generateKeys()]);
  const caValidity = { notBefore: new Date(now - 365 * DAY), notAfter: new Date(now + 3650 * DAY) };

  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=Test Apple Root CA - G3, OU=Test Certification Authority, O=subscription-webhooks tests, C=US',
      keys: rootKeys,
      signingAlgorithm: ES256,
      ...caValidity,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    },
    crypto,
  );
  const intermediateExtensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(!options.intermediateNotCa, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  if (!options.intermediateWithoutOid) intermediateExtensions.push(new x509.Extension(INTERMEDIATE_OID, false, DER_NULL));
  const intermediate = await x509.X509CertificateGenerator.create(
    {
      subject: 'CN=Test Worldwide Developer Relations CA - G6, OU=Test Certification Authority, O=subscription-webhooks tests, C=US',
      issuer: root.subjectName,
      publicKey: intermediateKeys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: ES256,
      ...caValidity,
      extensions: intermediateExtensions,
    },
    crypto,
  );
  const leafExtensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ];
  if (!options.leafWithoutOid) leafExtensions.push(new x509.Extension(LEAF_OID, false, DER_NULL));
  const leaf = await x509.X509CertificateGenerator.create(
    {
      subject: 'CN=Test Mac App Store and iTunes Store Receipt Signing, OU=Test Developer Relations, O=subscription-webhooks tests, C=US',
      issuer: options.leafIssuedByRoot ? root.subjectName : intermediate.subjectName,
      publicKey: leafKeys.publicKey,
      signingKey: options.leafIssuedByRoot ? rootKeys.privateKey : intermediateKeys.privateKey,
      signingAlgorithm: ES256,
      notBefore: options.notBefore ?? new Date(now - DAY),
      notAfter: options.notAfter ?? new Date(now + 365 * DAY),
      extensions: leafExtensions,
    },
    crypto,
  );

  const x5c = [leaf, intermediate, root].map((cert) => base64(new Uint8Array(cert.rawData)));
  const encoder = new TextEncoder();

  async function sign(payload: object, header: object = {}): Promise<string> {
    const input = `${base64url(encoder.encode(JSON.stringify({ alg: 'ES256', x5c, ...header })))}.${base64url(encoder.encode(JSON.stringify(payload)))}`;
    // WebCrypto ECDSA signatures are already the raw r||s form JWS wants.
    const signature = new Uint8Array(await crypto.subtle.sign(ES256, leafKeys.privateKey, encoder.encode(input)));
    return `${input}.${base64url(signature)}`;
  }

  function fillTransaction(tx: AppleTestTransactionInput, defaults: { bundleId: unknown; environment: unknown; signedDate: number }) {
    const transactionId = tx.transactionId ?? randomDigits(16);
    const type = tx.type ?? 'Auto-Renewable Subscription';
    const purchaseDate = tx.purchaseDate ?? defaults.signedDate - 1000;
    const subscription =
      type === 'Auto-Renewable Subscription'
        ? {
            webOrderLineItemId: randomDigits(16),
            subscriptionGroupIdentifier: '21000000',
            expiresDate: purchaseDate + 30 * DAY,
          }
        : {};
    return {
      transactionId,
      originalTransactionId: transactionId,
      bundleId: defaults.bundleId,
      productId: 'com.example.premium.monthly',
      ...subscription,
      purchaseDate,
      originalPurchaseDate: purchaseDate,
      quantity: 1,
      type,
      inAppOwnershipType: 'PURCHASED',
      signedDate: defaults.signedDate,
      environment: defaults.environment,
      transactionReason: 'PURCHASE',
      storefront: 'USA',
      storefrontId: '143441',
      price: 9990,
      currency: 'USD',
      ...tx,
    };
  }

  function fillRenewalInfo(
    info: AppleTestRenewalInfoInput,
    defaults: { environment: unknown; signedDate: number; originalTransactionId?: unknown; productId?: unknown },
  ) {
    const productId = info.productId ?? defaults.productId ?? 'com.example.premium.monthly';
    return {
      originalTransactionId: defaults.originalTransactionId ?? randomDigits(16),
      autoRenewProductId: productId,
      productId,
      autoRenewStatus: 1,
      signedDate: defaults.signedDate,
      environment: defaults.environment,
      recentSubscriptionStartDate: defaults.signedDate - 1000,
      renewalDate: defaults.signedDate + 30 * DAY,
      ...info,
    };
  }

  return {
    rootCertificate: new Uint8Array(root.rawData),
    rootCertificatePem: root.toString('pem'),
    x5c,
    sign,

    async signTransaction(tx = {}) {
      return sign(fillTransaction(tx, { bundleId, environment, signedDate: tx.signedDate ?? Date.now() }));
    },

    async signRenewalInfo(info = {}) {
      return sign(fillRenewalInfo(info, { environment, signedDate: info.signedDate ?? Date.now() }));
    },

    async signNotification(input = {}) {
      const signedDate = input.signedDate ?? Date.now();
      const { data: dataInput, ...rest } = input;
      const payload: Record<string, unknown> = {
        notificationType: 'TEST',
        notificationUUID: crypto.randomUUID(),
        version: '2.0',
        signedDate,
        ...rest,
      };
      // data, summary, externalPurchaseToken and appData are mutually exclusive: default data only when none is given.
      const otherContainer = rest.summary !== undefined || rest.externalPurchaseToken !== undefined || rest.appData !== undefined;
      if (dataInput !== undefined || !otherContainer) {
        const { transaction, renewalInfo, ...fields } = dataInput ?? {};
        const data: Record<string, unknown> = {
          ...(options.appAppleId === undefined ? {} : { appAppleId: options.appAppleId }),
          bundleId,
          bundleVersion: '1',
          environment,
          ...fields,
        };
        const tx = transaction && fillTransaction(transaction, { bundleId: data.bundleId, environment: data.environment, signedDate });
        if (tx) data.signedTransactionInfo = await sign(tx);
        if (renewalInfo) {
          const defaults = { environment: data.environment, signedDate, originalTransactionId: tx?.originalTransactionId, productId: tx?.productId };
          data.signedRenewalInfo = await sign(fillRenewalInfo(renewalInfo, defaults));
        }
        if (tx && data.status === undefined && !('status' in fields)) data.status = 1;
        payload.data = data;
      }
      return sign(payload);
    },
  };
}
