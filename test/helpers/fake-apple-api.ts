import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';

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
}

/** A scripted answer that replaces the normal handling of the next matching request. */
export interface Scripted {
  status: number;
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

  const encodeToken = (offset: number, body: unknown) => Buffer.from(JSON.stringify({ offset, body })).toString('base64url');

  function route(r: SeenRequest): Scripted {
    if (r.method === 'POST' && r.path === '/inApps/v1/notifications/history') {
      const body = r.body as { startDate?: number; endDate?: number; onlyFailures?: boolean; notificationType?: string; transactionId?: string };
      if (typeof body?.startDate !== 'number') return { status: 400, body: { errorCode: 4000015, errorMessage: 'Invalid start date.' } };
      if (body.notificationType && body.transactionId) return { status: 400, body: { errorCode: 4000101, errorMessage: 'Invalid request. Supply either a transaction id or a notification type, but not both.' } };
      let offset = 0;
      const pagination = r.query.get('paginationToken');
      if (pagination) {
        const decoded = JSON.parse(Buffer.from(pagination, 'base64url').toString('utf8')) as { offset: number; body: unknown };
        // Apple requires the follow-up request to repeat the first request's body.
        if (JSON.stringify(decoded.body) !== JSON.stringify(body)) return { status: 400, body: { errorCode: 4000016, errorMessage: 'Invalid pagination token.' } };
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
      return jws ? { status: 200, body: { signedTransactionInfo: jws } } : { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
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
        body: { revision: String(offset + pageSize), hasMore, bundleId: options.bundleId, environment: 'Production', signedTransactions: all.slice(offset, offset + pageSize) },
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
        };
        seen.push(record);
        const i = script.findIndex((s) => s.match(record));
        let answer: Scripted;
        if (i >= 0) answer = script.splice(i, 1)[0]!.answer;
        else if (!(await authenticate(req, record))) answer = { status: 401 };
        else answer = route(record);
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
    /** The next requested test notification will report this. */
    setTestNotification(value: { signedPayload: string; sendAttempts: unknown[] }) {
      nextTestNotification = value;
    },
    /** Answer the next `count` requests matching `path` (any method) with `answer`, before authentication. */
    failNext(path: string, answer: Scripted, count = 1) {
      for (let i = 0; i < count; i++) script.push({ match: (r) => r.path === path, answer });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type FakeAppleApi = Awaited<ReturnType<typeof startFakeAppleApi>>;
