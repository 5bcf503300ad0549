import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { SUBSCRIPTION_NOTIFICATION_TYPES } from '../providers/google/schemas.js';

/** A scripted answer for the next matching Play Developer API (or token) request. */
export interface GooglePlayScriptedAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Which requests it answers: a substring of `METHOD path`. @default every API request */
  match?: string;
  /** How many requests it answers. @default 1 */
  times?: number;
}

/** One request the stand-in received. */
export interface GooglePlaySeenRequest {
  method: string;
  path: string;
  /** Whether its bearer token was one the token endpoint issued (API) or its assertion verified (token endpoint). */
  authorized: boolean;
  status: number;
}

/** The kit's keys, as PEM: keep them to run a later kit that the same server still trusts. */
export interface GooglePlayTestKitKeys {
  /** Signs push tokens; its public half is the JWKS. */
  push: { kid: string; privateKey: string };
  /** The Play Developer API's service account. */
  api: { keyId: string; privateKey: string; email: string };
}

/** Options of {@link createGooglePlayTestKit}. */
export interface GooglePlayTestKitOptions {
  /** Listen on this port of 127.0.0.1. @default a free port */
  port?: number;
  /** Keys from an earlier kit's `keys()`. @default new keys */
  keys?: GooglePlayTestKitKeys;
  /** @default "com.example.app" */
  packageName?: string;
  /** The push audience. @default "https://example.com/api/google/rtdn" */
  audience?: string;
  /** The push subscription's service account. @default "rtdn-push@example-project.iam.gserviceaccount.com" */
  serviceAccountEmail?: string;
  /** `Cache-Control` of the JWKS answer. @default "public, max-age=3600" */
  jwksCacheControl?: string;
  /** Lifetime of issued access tokens, in seconds. @default 3600 */
  accessTokenLifetimeSeconds?: number;
}

/** Claims of a push token, over the kit's defaults. */
export interface PushTokenInput {
  audience?: string;
  email?: string;
  email_verified?: boolean;
  issuer?: string;
  /** Seconds since epoch. @default now */
  iat?: number;
  /** Seconds since epoch. @default iat + 3600 */
  exp?: number;
  /** Sign with this key id (one of `kit.keyIds()`, or any string to forge). @default the current key */
  kid?: string;
  /** Sign with another private key (a forgery). */
  privateKey?: KeyObject;
}

/** What {@link GooglePlayTestKit.push} builds: a Pub/Sub push request. */
export interface GooglePlayPush {
  body: string;
  headers: Record<string, string>;
  messageId: string;
}

/** The local stand-in for Google's push authentication, OAuth token endpoint and Play Developer API. */
export interface GooglePlayTestKit {
  /** The stand-in's base URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly packageName: string;
  readonly audience: string;
  readonly serviceAccountEmail: string;
  /** The `google` config for `createSubscriptionWebhooks`, pointed at this stand-in. */
  config(): {
    packageName: string;
    audience: string;
    serviceAccountEmail: string;
    jwksUrl: string;
    api: { serviceAccountKey: Record<string, unknown>; baseUrl: string; tokenUrl: string };
  };
  /** A push token (the `Authorization: Bearer` value's token) signed with the kit's current key. */
  signPushToken(input?: PushTokenInput): Promise<string>;
  /** A whole Pub/Sub push of `notification` (a DeveloperNotification; `packageName` and `eventTimeMillis` filled in). */
  push(notification: Record<string, unknown>, options?: { messageId?: string; token?: PushTokenInput; authorization?: string | null }): Promise<GooglePlayPush>;
  /** The DeveloperNotification of a subscription notification (`type`: a name like `SUBSCRIPTION_RENEWED`, or its number). */
  subscriptionNotification(type: string | number, purchaseToken: string): Record<string, unknown>;
  /** Adds a new signing key and makes it current; the old one stays published unless `retireOld`. */
  rotateKey(options?: { retireOld?: boolean }): string;
  /** Key ids currently published. */
  keyIds(): string[];
  /** The current push key and the API service account key, as PEM (see {@link GooglePlayTestKitOptions.keys}). */
  keys(): GooglePlayTestKitKeys;
  /** Sets what `purchases.subscriptionsv2.get` answers for `purchaseToken` (a SubscriptionPurchaseV2). */
  setSubscription(purchaseToken: string, purchase: Record<string, unknown>): void;
  /** Sets what `purchases.products.get` answers for `(productId, purchaseToken)` (a ProductPurchase). */
  setProduct(productId: string, purchaseToken: string, purchase: Record<string, unknown>): void;
  /**
   * Adds a purchase to what `purchases.voidedpurchases.list` answers (a VoidedPurchase; `voidedTimeMillis`
   * defaults to now). `productType` 2 (a one-time product) is listed for `type=0` too; 1 (a subscription,
   * the default) only for `type=1`.
   */
  setVoidedPurchase(voided: {
    purchaseToken: string;
    orderId: string;
    voidedReason?: number;
    voidedSource?: number;
    voidedQuantity?: number;
    voidedTimeMillis?: number;
    purchaseTimeMillis?: number;
    productType?: 1 | 2;
  }): void;
  /** A SubscriptionPurchaseV2 with sensible defaults: active, auto-renewing, one line item. */
  subscriptionPurchase(input: {
    productId: string;
    state?: string;
    expiryTime?: number;
    orderId?: string;
    accountId?: string;
    linkedPurchaseToken?: string;
    autoRenew?: boolean;
    acknowledged?: boolean;
    test?: boolean;
    price?: { units: string; nanos?: number; currencyCode: string };
    startTime?: number;
    replaced?: boolean;
  }): Record<string, unknown>;
  /** Answers the next matching request(s) with this instead. */
  script(answer: GooglePlayScriptedAnswer): void;
  /** Every request received, oldest first. */
  readonly seen: GooglePlaySeenRequest[];
  /** Acknowledgements Google recorded, as `kind:productId:token`. */
  readonly acknowledged: string[];
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  close(): Promise<void>;
}

const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });

/**
 * A local stand-in for Google, for tests of the Google Play route: signs Pub/Sub push OIDC tokens with a
 * local RSA key and serves its JWKS, plays the OAuth token endpoint (checking the service-account
 * assertion) and the Play Developer API (`purchases.subscriptionsv2.get`, `purchases.products.get`,
 * acknowledge, `purchases.voidedpurchases.list`) with purchase states your test scripts. Nothing leaves 127.0.0.1.
 *
 * @example
 * ```ts
 * const kit = await createGooglePlayTestKit();
 * const hooks = createSubscriptionWebhooks({ google: kit.config(), store: memoryStore() });
 * kit.setSubscription('tok_1', kit.subscriptionPurchase({ productId: 'pro_monthly', orderId: 'GPA.1' }));
 * const push = await kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', 'tok_1'));
 * await request(app).post('/api/google/rtdn').set(push.headers).send(push.body).expect(200);
 * ```
 */
export async function createGooglePlayTestKit(options: GooglePlayTestKitOptions = {}): Promise<GooglePlayTestKit> {
  const packageName = options.packageName ?? 'com.example.app';
  const audience = options.audience ?? 'https://example.com/api/google/rtdn';
  const serviceAccountEmail = options.serviceAccountEmail ?? 'rtdn-push@example-project.iam.gserviceaccount.com';
  const lifetime = options.accessTokenLifetimeSeconds ?? 3600;
  const keys: Array<{ kid: string; privateKey: KeyObject; jwk: JWK }> = [];
  const given = options.keys;
  const pushKey = given ? createPrivateKey(given.push.privateKey) : rsa().privateKey;
  const pushKid = given?.push.kid ?? randomBytes(20).toString('hex');
  keys.push({ kid: pushKid, privateKey: pushKey, jwk: { ...(await exportJWK(createPublicKey(pushKey))), kid: pushKid, alg: 'RS256', use: 'sig' } });
  const apiPrivate = given ? createPrivateKey(given.api.privateKey) : rsa().privateKey;
  const apiAccount = {
    privateKey: apiPrivate,
    publicKey: createPublicKey(apiPrivate),
    email: given?.api.email ?? 'play-api@example-project.iam.gserviceaccount.com',
    keyId: given?.api.keyId ?? randomBytes(20).toString('hex'),
  };
  const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
  const issued = new Map<string, number>();
  const subscriptions = new Map<string, Record<string, unknown>>();
  const products = new Map<string, Record<string, unknown>>();
  const voided: Array<{ productType: number; record: Record<string, unknown> }> = [];
  const scripts: Array<Required<Pick<GooglePlayScriptedAnswer, 'status' | 'times'>> & GooglePlayScriptedAnswer> = [];
  const seen: GooglePlaySeenRequest[] = [];
  const acknowledged: string[] = [];
  let jwksFetches = 0;
  let url = '';

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const notFound = { error: { code: 404, message: 'The purchase token was not found.', status: 'NOT_FOUND' } };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const body = await readBody(req);
    const record = (authorized: boolean, status: number) => seen.push({ method, path, authorized, status });
    // A script without `match` answers Play Developer API requests only.
    const scripted = scripts.find((s) => (s.match !== undefined ? `${method} ${path}`.includes(s.match) : path !== '/token' && path !== '/jwks'));
    if (path === '/jwks') jwksFetches++;
    if (scripted) {
      if (--scripted.times <= 0) scripts.splice(scripts.indexOf(scripted), 1);
      record(true, scripted.status);
      return send(res, scripted.status, scripted.body ?? { error: { code: scripted.status, message: `scripted ${scripted.status}` } }, scripted.headers);
    }
    if (path === '/token') {
      const assertion = new URLSearchParams(body).get('assertion') ?? '';
      try {
        const { payload } = await jwtVerify(assertion, apiAccount.publicKey, { algorithms: ['RS256'], issuer: apiAccount.email, audience: `${url}/token` });
        if (payload.scope !== 'https://www.googleapis.com/auth/androidpublisher') throw new Error('scope');
      } catch {
        record(false, 400);
        return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
      }
      const token = `ya29.${randomBytes(24).toString('base64url')}`;
      issued.set(token, Date.now() + lifetime * 1000);
      record(true, 200);
      return send(res, 200, { access_token: token, expires_in: lifetime, token_type: 'Bearer' });
    }
    if (path === '/jwks') {
      record(true, 200);
      return send(res, 200, { keys: keys.map((k) => k.jwk) }, { 'cache-control': options.jwksCacheControl ?? 'public, max-age=3600' });
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const authorized = bearer !== undefined && (issued.get(bearer) ?? 0) > Date.now();
    if (!authorized) {
      record(false, 401);
      return send(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    }
    const prefix = `/androidpublisher/v3/applications/${packageName}/purchases/`;
    if (!path.startsWith(prefix)) {
      record(true, 404);
      return send(res, 404, notFound);
    }
    const rest = path.slice(prefix.length);
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^subscriptionsv2\/tokens\/([^/]+)$/.exec(rest))) {
      const s = subscriptions.get(m[1]!);
      record(true, s ? 200 : 404);
      return send(res, s ? 200 : 404, s ?? notFound);
    }
    if (method === 'GET' && (m = /^products\/([^/]+)\/tokens\/([^/]+)$/.exec(rest))) {
      const p = products.get(`${m[1]}\u0000${m[2]}`);
      record(true, p ? 200 : 404);
      return send(res, p ? 200 : 404, p ?? notFound);
    }
    if (method === 'GET' && rest === 'voidedpurchases') {
      // Google's rules: startTime at most 30 days back, type 0 lists one-time products only, pages by `token`.
      const now = Date.now();
      const start = Number(query.get('startTime') ?? now - 30 * 86_400_000);
      const end = Number(query.get('endTime') ?? now);
      if (!Number.isFinite(start) || !Number.isFinite(end) || start < now - 30 * 86_400_000 - 1000 || end < start) {
        record(true, 400);
        return send(res, 400, { error: { code: 400, message: 'Invalid startTime/endTime.', status: 'INVALID_ARGUMENT' } });
      }
      const all = voided.filter((v) => {
        const at = Number(v.record.voidedTimeMillis);
        return at >= start && at <= end && (query.get('type') === '1' || v.productType === 2);
      });
      const size = Math.min(1000, Number(query.get('maxResults') ?? 1000) || 1000);
      const from = Number(query.get('token') ?? 0) || 0;
      const page = all.slice(from, from + size);
      record(true, 200);
      return send(res, 200, {
        ...(all.length > from + size ? { tokenPagination: { nextPageToken: String(from + size) } } : {}),
        ...(page.length > 0 ? { voidedPurchases: page.map((v) => v.record) } : {}),
      });
    }
    if (method === 'POST' && (m = /^(subscriptions|products)\/([^/]+)\/tokens\/([^/:]+):acknowledge$/.exec(rest))) {
      const [, kind, productId, token] = m as unknown as [string, string, string, string];
      const target = kind === 'subscriptions' ? subscriptions.get(token) : products.get(`${productId}\u0000${token}`);
      if (!target) {
        record(true, 404);
        return send(res, 404, notFound);
      }
      if (kind === 'subscriptions') target.acknowledgementState = 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED';
      else target.acknowledgementState = 1;
      acknowledged.push(`${kind === 'subscriptions' ? 'subscription' : 'product'}:${productId}:${token}`);
      record(true, 204);
      res.writeHead(204);
      return void res.end();
    }
    record(true, 404);
    return send(res, 404, notFound);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => send(res, 500, { error: { code: 500, message: String(err) } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const typeNumber = (type: string | number): number => {
    if (typeof type === 'number') return type;
    const found = Object.entries(SUBSCRIPTION_NOTIFICATION_TYPES).find(([, name]) => name === type);
    if (!found) throw new Error(`Unknown subscription notification type ${type}`);
    return Number(found[0]);
  };

  const kit: GooglePlayTestKit = {
    url,
    packageName,
    audience,
    serviceAccountEmail,
    seen,
    acknowledged,
    get jwksFetches() {
      return jwksFetches;
    },
    config: () => ({
      packageName,
      audience,
      serviceAccountEmail,
      jwksUrl: `${url}/jwks`,
      api: {
        serviceAccountKey: {
          type: 'service_account',
          project_id: 'example-project',
          private_key_id: apiAccount.keyId,
          private_key: pem(apiAccount.privateKey),
          client_email: apiAccount.email,
          token_uri: `${url}/token`,
        },
        baseUrl: url,
        tokenUrl: `${url}/token`,
      },
    }),
    async signPushToken(input = {}) {
      const current = keys[keys.length - 1]!;
      const iat = input.iat ?? Math.floor(Date.now() / 1000);
      return new SignJWT({ email: input.email ?? serviceAccountEmail, email_verified: input.email_verified ?? true, azp: '1234567890', sub: '1234567890' })
        .setProtectedHeader({ alg: 'RS256', kid: input.kid ?? current.kid, typ: 'JWT' })
        .setIssuer(input.issuer ?? 'https://accounts.google.com')
        .setAudience(input.audience ?? audience)
        .setIssuedAt(iat)
        .setExpirationTime(input.exp ?? iat + 3600)
        .sign(input.privateKey ?? keys.find((k) => k.kid === input.kid)?.privateKey ?? current.privateKey);
    },
    async push(notification, opts = {}) {
      const messageId = opts.messageId ?? String(10_000_000_000 + Math.floor(Math.random() * 1e10));
      const data = { version: '1.0', packageName, eventTimeMillis: String(Date.now()), ...notification };
      const body = JSON.stringify({
        message: {
          attributes: {},
          data: Buffer.from(JSON.stringify(data)).toString('base64'),
          messageId,
          message_id: messageId,
          publishTime: new Date().toISOString(),
        },
        subscription: 'projects/example-project/subscriptions/play-rtdn',
      });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const authorization = opts.authorization === undefined ? `Bearer ${await kit.signPushToken(opts.token)}` : opts.authorization;
      if (authorization !== null) headers.authorization = authorization;
      return { body, headers, messageId };
    },
    subscriptionNotification: (type, purchaseToken) => ({ subscriptionNotification: { version: '1.0', notificationType: typeNumber(type), purchaseToken } }),
    rotateKey(opts = {}) {
      const { privateKey, publicKey } = rsa();
      const kid = randomBytes(20).toString('hex');
      const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' };
      if (opts.retireOld) keys.splice(0, keys.length);
      keys.push({ kid, privateKey, jwk });
      return kid;
    },
    keyIds: () => keys.map((k) => k.kid),
    keys: () => {
      const current = keys[keys.length - 1]!;
      return {
        push: { kid: current.kid, privateKey: pem(current.privateKey) },
        api: { keyId: apiAccount.keyId, privateKey: pem(apiAccount.privateKey), email: apiAccount.email },
      };
    },
    setSubscription: (token, purchase) => void subscriptions.set(token, structuredClone(purchase)),
    setProduct: (productId, token, purchase) => void products.set(`${productId}\u0000${token}`, structuredClone(purchase)),
    setVoidedPurchase(v) {
      const now = Date.now();
      voided.push({
        productType: v.productType ?? 1,
        record: {
          kind: 'androidpublisher#voidedPurchase',
          purchaseToken: v.purchaseToken,
          purchaseTimeMillis: String(v.purchaseTimeMillis ?? now - 86_400_000),
          voidedTimeMillis: String(v.voidedTimeMillis ?? now),
          orderId: v.orderId,
          voidedSource: v.voidedSource ?? 0,
          voidedReason: v.voidedReason ?? 0,
          ...(v.voidedQuantity !== undefined ? { voidedQuantity: v.voidedQuantity } : {}),
        },
      });
    },
    subscriptionPurchase(i) {
      const start = i.startTime ?? Date.now();
      const orderId = i.orderId ?? `GPA.${randomUUID().slice(0, 18)}`;
      const state = i.state ?? 'SUBSCRIPTION_STATE_ACTIVE';
      return {
        kind: 'androidpublisher#subscriptionPurchaseV2',
        regionCode: 'US',
        startTime: new Date(start).toISOString(),
        subscriptionState: state,
        latestOrderId: orderId,
        acknowledgementState: i.acknowledged ? 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' : 'ACKNOWLEDGEMENT_STATE_PENDING',
        ...(i.linkedPurchaseToken ? { linkedPurchaseToken: i.linkedPurchaseToken } : {}),
        ...(i.test ? { testPurchase: {} } : {}),
        ...(i.accountId ? { externalAccountIdentifiers: { obfuscatedExternalAccountId: i.accountId } } : {}),
        ...(state === 'SUBSCRIPTION_STATE_CANCELED' || i.replaced
          ? { canceledStateContext: i.replaced ? { replacementCancellation: {} } : { userInitiatedCancellation: {} } }
          : {}),
        ...(state === 'SUBSCRIPTION_STATE_PAUSED'
          ? { pausedStateContext: { autoResumeTime: new Date((i.expiryTime ?? start) + 30 * 86_400_000).toISOString() } }
          : {}),
        lineItems: [
          {
            productId: i.productId,
            expiryTime: new Date(i.expiryTime ?? start + 30 * 86_400_000).toISOString(),
            latestSuccessfulOrderId: orderId,
            autoRenewingPlan: { autoRenewEnabled: i.autoRenew ?? state === 'SUBSCRIPTION_STATE_ACTIVE', ...(i.price ? { recurringPrice: i.price } : {}) },
            offerDetails: { basePlanId: 'monthly' },
          },
        ],
      };
    },
    script: (answer) => void scripts.push({ ...answer, times: answer.times ?? 1 }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return kit;
}
