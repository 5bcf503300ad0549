import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { z } from 'zod';
import { createAppStoreServerApi, type AppStoreServerApiOptions } from '../../src/index.js';
import { APP_APPLE_ID, BUNDLE_ID } from './apple-harness.js';

/** What the fake saw for one request. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** Decoded JWT header and claims, when the bearer token verified. */
  jwtHeader: Record<string, unknown> | null;
  claims: Record<string, unknown> | null;
  token: string | null;
  authError: string | null;
  /** Why the body did not match Apple's request schema for the endpoint (null: it did, or it has none). */
  schemaError: string | null;
}

/** A scripted answer that replaces the normal handling of the next matching request. */
export interface Scripted {
  status: number;
  /** Never answer (the caller sees a hung request); nothing is recorded. `seen` resolves `held` waiters. */
  hold?: boolean;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HistoryEntry {
  signedPayload: string;
  /** Delivery attempts Apple made; the last decides `onlyFailures`. */
  sendAttempts?: Array<{ attemptDate: number; sendAttemptResult: string }>;
  signedDate: number;
}

/**
 * Plays Apple's App Store Server API on 127.0.0.1: checks every bearer token against the public half
 * of the key it hands out (header and claims as Apple requires), and serves paginated notification
 * history, transactions and statuses that tests put into it.
 */
export async function startFakeAppleApi(options: { bundleId: string; keyId?: string; issuerId?: string; pageSize?: number }) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = options.keyId ?? 'ABC123DEFG';
  const issuerId = options.issuerId ?? randomUUID();
  const pageSize = options.pageSize ?? 20;
  const seen: SeenRequest[] = [];
  const history: HistoryEntry[] = [];
  const transactions = new Map<string, string>();
  const statuses = new Map<string, unknown>();
  const transactionHistory = new Map<string, string[]>();
  const testNotifications = new Map<string, { signedPayload: string; sendAttempts: unknown[] }>();
  let nextTestNotification: { signedPayload: string; sendAttempts: unknown[] } | null = null;
  const script: Array<{ match: (r: SeenRequest) => boolean; answer: Scripted }> = [];
  const held: import('node:http').ServerResponse[] = [];
  const heldWaiters: Array<(r: SeenRequest) => void> = [];

  async function authenticate(req: IncomingMessage, record: SeenRequest): Promise<boolean> {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    record.token = token;
    if (!token) {
      record.authError = 'no bearer token';
      return false;
    }
    try {
      const header = decodeProtectedHeader(token) as Record<string, unknown>;
      const { payload } = await jwtVerify(token, publicKey as KeyObject, { algorithms: ['ES256'], audience: 'appstoreconnect-v1', issuer: issuerId });
      record.jwtHeader = header;
      record.claims = payload as Record<string, unknown>;
      const problems: string[] = [];
      if (header.kid !== keyId) problems.push('kid');
      if (header.typ !== 'JWT') problems.push('typ');
      if (payload.bid !== options.bundleId) problems.push('bid');
      if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 3600) problems.push('exp > iat + 60 min');
      if (problems.length) {
        record.authError = problems.join(', ');
        return false;
      }
      return true;
    } catch (e) {
      record.authError = (e as Error).message;
      return false;
    }
  }

  // Apple's request bodies of the write endpoints, strict (an unknown key is a schema error here).
  const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  const bodies = {
    consumption: z.strictObject({
      customerConsented: z.boolean(),
      deliveryStatus: z.enum(['DELIVERED', 'UNDELIVERED_QUALITY_ISSUE', 'UNDELIVERED_WRONG_ITEM', 'UNDELIVERED_SERVER_OUTAGE', 'UNDELIVERED_OTHER']),
      sampleContentProvided: z.boolean(),
      consumptionPercentage: z.number().int().min(0).max(100000).optional(),
      refundPreference: z.enum(['DECLINE', 'GRANT_FULL', 'GRANT_PRORATED']).optional(),
    }),
    appAccountToken: z.strictObject({ appAccountToken: uuid }),
    extend: z.strictObject({
      extendByDays: z.number().int().min(1).max(90),
      extendReasonCode: z.number().int().min(0).max(3),
      requestIdentifier: z.string().min(1).max(128),
    }),
    massExtend: z.strictObject({
      requestIdentifier: z.string().min(1).max(128),
      extendByDays: z.number().int().min(1).max(90),
      extendReasonCode: z.number().int().min(0).max(3),
      productId: z.string().min(1),
      storefrontCountryCodes: z
        .array(z.string().regex(/^[A-Z]{3}$/))
        .min(1)
        .optional(),
    }),
  };
  /** What the write endpoints received (successful calls only), in order. */
  const consumption: Array<{ transactionId: string; body: unknown }> = [];
  const appAccountTokens = new Map<string, string>();
  const extensions: Array<{ originalTransactionId: string; body: unknown }> = [];
  const massExtensions = new Map<
    string,
    { productId: string; body: unknown; complete: boolean; succeededCount?: number; failedCount?: number; completeDate?: number }
  >();
  /** Original transaction ids Apple refuses to extend (403 4030004). */
  const ineligibleForExtension = new Set<string>();
  const orders = new Map<string, string[]>();
  const refunds = new Map<string, string[]>();

  const originalOf = (jws: string) => (decodeJwt(jws) as { originalTransactionId?: string }).originalTransactionId;
  const knowsTransaction = (id: string) => transactions.has(id);
  const knowsOriginal = (id: string) => [...transactions.values()].some((jws) => originalOf(jws) === id);
  const schemaFail = (r: SeenRequest, error: z.ZodError): Scripted => {
    r.schemaError = error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    return { status: 400, body: { errorCode: 4000000, errorMessage: `Invalid request: ${r.schemaError}` } };
  };

  function writeRoute(r: SeenRequest): Scripted | null {
    let m = /^\/inApps\/v2\/transactions\/consumption\/([^/]+)$/.exec(r.path);
    if (m) {
      if (r.method !== 'PUT') return { status: 405 };
      const parsed = bodies.consumption.safeParse(r.body);
      if (!parsed.success) return schemaFail(r, parsed.error);
      if (parsed.data.customerConsented !== true)
        return { status: 400, body: { errorCode: 4000183, errorMessage: 'Invalid request. The customer consented field is invalid.' } };
      if (parsed.data.deliveryStatus !== 'DELIVERED' && (parsed.data.consumptionPercentage ?? 0) !== 0) {
        return { status: 400, body: { errorCode: 4000187, errorMessage: 'Invalid request. Consumption percentage must be 0 when undelivered.' } };
      }
      const id = decodeURIComponent(m[1]!);
      if (!knowsTransaction(id)) return { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
      consumption.push({ transactionId: id, body: parsed.data });
      return { status: 202 };
    }
    m = /^\/inApps\/v1\/transactions\/([^/]+)\/appAccountToken$/.exec(r.path);
    if (m) {
      if (r.method !== 'PUT') return { status: 405 };
      const parsed = bodies.appAccountToken.safeParse(r.body);
      if (!parsed.success) return schemaFail(r, parsed.error);
      const id = decodeURIComponent(m[1]!);
      if (!knowsOriginal(id)) return { status: 404, body: { errorCode: 4040005, errorMessage: 'Original transaction id not found.' } };
      appAccountTokens.set(id, parsed.data.appAccountToken);
      return { status: 200 };
    }
    if (r.path === '/inApps/v1/subscriptions/extend/mass') {
      if (r.method !== 'POST') return { status: 405 };
      const parsed = bodies.massExtend.safeParse(r.body);
      if (!parsed.success) return schemaFail(r, parsed.error);
      if (!massExtensions.has(parsed.data.requestIdentifier))
        massExtensions.set(parsed.data.requestIdentifier, { productId: parsed.data.productId, body: parsed.data, complete: false });
      return { status: 200, body: { requestIdentifier: parsed.data.requestIdentifier } };
    }
    m = /^\/inApps\/v1\/subscriptions\/extend\/mass\/([^/]+)\/([^/]+)$/.exec(r.path);
    if (m) {
      if (r.method !== 'GET') return { status: 405 };
      const found = massExtensions.get(decodeURIComponent(m[2]!));
      if (!found || found.productId !== decodeURIComponent(m[1]!))
        return { status: 404, body: { errorCode: 4040009, errorMessage: 'Subscription-renewal-date extension request not found.' } };
      const { complete, succeededCount, failedCount, completeDate } = found;
      return {
        status: 200,
        body: { requestIdentifier: decodeURIComponent(m[2]!), complete, ...(complete ? { succeededCount, failedCount, completeDate } : {}) },
      };
    }
    m = /^\/inApps\/v1\/subscriptions\/extend\/([^/]+)$/.exec(r.path);
    if (m) {
      if (r.method !== 'PUT') return { status: 405 };
      const parsed = bodies.extend.safeParse(r.body);
      if (!parsed.success) return schemaFail(r, parsed.error);
      const id = decodeURIComponent(m[1]!);
      if (!knowsOriginal(id)) return { status: 404, body: { errorCode: 4040005, errorMessage: 'Original transaction id not found.' } };
      if (ineligibleForExtension.has(id))
        return { status: 403, body: { errorCode: 4030004, errorMessage: 'Forbidden - subscription state ineligible for extension.' } };
      extensions.push({ originalTransactionId: id, body: parsed.data });
      return {
        status: 200,
        body: {
          originalTransactionId: id,
          webOrderLineItemId: `${id}-w`,
          success: true,
          effectiveDate: 1_900_000_000_000 + parsed.data.extendByDays * 86_400_000,
        },
      };
    }
    m = /^\/inApps\/v1\/lookup\/([^/]+)$/.exec(r.path);
    if (m) {
      if (r.method !== 'GET') return { status: 405 };
      const found = orders.get(decodeURIComponent(m[1]!));
      return { status: 200, body: found ? { status: 0, signedTransactions: found } : { status: 1 } };
    }
    m = /^\/inApps\/v2\/refund\/lookup\/([^/]+)$/.exec(r.path);
    if (m) {
      if (r.method !== 'GET') return { status: 405 };
      const all = refunds.get(decodeURIComponent(m[1]!));
      if (!all) return { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
      const offset = Number(r.query.get('revision') ?? 0);
      const hasMore = offset + pageSize < all.length;
      return { status: 200, body: { revision: String(offset + pageSize), hasMore, signedTransactions: all.slice(offset, offset + pageSize) } };
    }
    return null;
  }

  const encodeToken = (offset: number, body: unknown) => Buffer.from(JSON.stringify({ offset, body })).toString('base64url');

  function route(r: SeenRequest): Scripted {
    const written = writeRoute(r);
    if (written) return written;
    if (r.method === 'POST' && r.path === '/inApps/v1/notifications/history') {
      const body = r.body as { startDate?: number; endDate?: number; onlyFailures?: boolean; notificationType?: string; transactionId?: string };
      if (typeof body?.startDate !== 'number') return { status: 400, body: { errorCode: 4000015, errorMessage: 'Invalid start date.' } };
      if (body.notificationType && body.transactionId)
        return {
          status: 400,
          body: { errorCode: 4000101, errorMessage: 'Invalid request. Supply either a transaction id or a notification type, but not both.' },
        };
      let offset = 0;
      const pagination = r.query.get('paginationToken');
      if (pagination) {
        const decoded = JSON.parse(Buffer.from(pagination, 'base64url').toString('utf8')) as { offset: number; body: unknown };
        // Apple requires the follow-up request to repeat the first request's body.
        if (JSON.stringify(decoded.body) !== JSON.stringify(body))
          return { status: 400, body: { errorCode: 4000016, errorMessage: 'Invalid pagination token.' } };
        offset = decoded.offset;
      }
      const end = body.endDate ?? Date.now();
      const matching = history
        .filter((h) => h.signedDate >= body.startDate! && h.signedDate < end)
        .filter((h) => !body.onlyFailures || h.sendAttempts?.at(-1)?.sendAttemptResult !== 'SUCCESS');
      const page = matching.slice(offset, offset + pageSize);
      const hasMore = offset + pageSize < matching.length;
      return {
        status: 200,
        body: {
          notificationHistory: page.map((h) => ({ signedPayload: h.signedPayload, sendAttempts: h.sendAttempts ?? [] })),
          hasMore,
          ...(hasMore ? { paginationToken: encodeToken(offset + pageSize, body) } : {}),
        },
      };
    }
    if (r.method === 'POST' && r.path === '/inApps/v1/notifications/test') {
      const token = `${randomUUID()}_${Date.now()}`;
      if (nextTestNotification) testNotifications.set(token, nextTestNotification);
      return { status: 200, body: { testNotificationToken: token } };
    }
    let m = /^\/inApps\/v1\/notifications\/test\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && m) {
      const t = testNotifications.get(decodeURIComponent(m[1]!));
      return t ? { status: 200, body: t } : { status: 404, body: { errorCode: 4040008, errorMessage: 'Test notification not found.' } };
    }
    m = /^\/inApps\/v1\/transactions\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && m) {
      const jws = transactions.get(m[1]!);
      return jws
        ? { status: 200, body: { signedTransactionInfo: jws } }
        : { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
    }
    m = /^\/inApps\/v1\/subscriptions\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && m) {
      const s = statuses.get(m[1]!);
      return s ? { status: 200, body: s } : { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
    }
    m = /^\/inApps\/v2\/history\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && m) {
      const all = transactionHistory.get(m[1]!);
      if (!all) return { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
      const offset = Number(r.query.get('revision') ?? 0);
      const hasMore = offset + pageSize < all.length;
      return {
        status: 200,
        body: {
          revision: String(offset + pageSize),
          hasMore,
          bundleId: options.bundleId,
          environment: 'Production',
          signedTransactions: all.slice(offset, offset + pageSize),
        },
      };
    }
    return { status: 404, body: { errorCode: 4040000, errorMessage: 'Not found.' } };
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const text = Buffer.concat(chunks).toString('utf8');
        const record: SeenRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          body: text ? (JSON.parse(text) as unknown) : null,
          jwtHeader: null,
          claims: null,
          token: null,
          authError: null,
          schemaError: null,
        };
        seen.push(record);
        const i = script.findIndex((s) => s.match(record));
        let answer: Scripted;
        if (i >= 0) answer = script.splice(i, 1)[0]!.answer;
        else if (!(await authenticate(req, record))) answer = { status: 401 };
        else answer = route(record);
        if (answer.hold) {
          held.push(res);
          for (const w of heldWaiters.splice(0)) w(record);
          return;
        }
        res.writeHead(answer.status, { ...(answer.body !== undefined ? { 'content-type': 'application/json' } : {}), ...answer.headers });
        res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    keyId,
    issuerId,
    /** The `.p8` contents to give the client. */
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    seen,
    history,
    transactions,
    statuses,
    transactionHistory,
    consumption,
    appAccountTokens,
    extensions,
    massExtensions,
    ineligibleForExtension,
    /** Order id (as on the customer's receipt) → the signed transactions Look Up Order ID answers. */
    orders,
    /** Any transaction id of the customer → their refunded signed transactions (Get Refund History). */
    refunds,
    /** The next requested test notification will report this. */
    setTestNotification(value: { signedPayload: string; sendAttempts: unknown[] }) {
      nextTestNotification = value;
    },
    /** Answer the next `count` requests matching `path` (any method) with `answer`, before authentication. */
    failNext(path: string, answer: Scripted, count = 1) {
      for (let i = 0; i < count; i++) script.push({ match: (r) => r.path === path, answer });
    },
    /** Resolves with the next request a `hold` answer keeps hanging. */
    nextHeld: () => new Promise<SeenRequest>((resolve) => heldWaiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of held.splice(0)) r.destroy();
        server.close(() => resolve());
      }),
  };
}

export type FakeAppleApi = Awaited<ReturnType<typeof startFakeAppleApi>>;

/** An App Store Server API client pointed at the stand-in, trusting `rootCertificate`; retry sleeps are recorded, not slept. */
export function fakeAppleApiClient(apple: FakeAppleApi, rootCertificate: Uint8Array, over: Partial<AppStoreServerApiOptions> = {}) {
  const sleeps: number[] = [];
  const api = createAppStoreServerApi({
    keyId: apple.keyId,
    issuerId: apple.issuerId,
    privateKey: apple.privateKeyPem,
    bundleId: BUNDLE_ID,
    environment: 'Production',
    appAppleId: APP_APPLE_ID,
    baseUrl: apple.baseUrl,
    rootCertificates: [rootCertificate],
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...over,
  });
  return { api, sleeps };
}

/** The requests the stand-in sees on `path` from now on. */
export function seenSince(apple: FakeAppleApi, path: string): () => SeenRequest[] {
  const start = apple.seen.length;
  return () => apple.seen.slice(start).filter((r) => r.path === path);
}
