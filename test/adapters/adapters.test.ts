/**
 * One adapter suite, run against every adapter on a real server on 127.0.0.1: Express 5, Express 4,
 * Koa 3, Koa 2, fetch (behind Node's own http server) and Next.js (`next build` + `next start` of
 * examples/nextjs, once per run). Then each example is started with its README's commands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import express from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Koa2 from 'koa2';
import koaBodyParser from 'koa-bodyparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, type SubscriptionWebhooks } from '../../src/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { fetchHandler } from '../../adapters/fetch.js';
import { subscriptionWebhooksRouter } from '../../adapters/koa.js';
import { nextRouteHandler } from '../../adapters/next.js';
import { createAppleTestSigner } from '../../src/testing/index.js';
import { APP_APPLE_ID, BUNDLE_ID, PRODUCT, recordingLogger, sharedSigner } from '../helpers/apple-harness.js';
import { waitUntil } from '../helpers/reliability.js';

const root = new URL('../..', import.meta.url).pathname;
const ROUTES = { apple: '/api/users/app-store-notifications', tx: '/api/users/app-store-transactions' };
const seenEvents = (lines: string[]) =>
  lines.flatMap((l) => {
    const m = /^event (\S+) (\S+)$/.exec(l);
    return m ? [{ type: m[1]!, id: m[2]! }] : [];
  });

type Events = () => { type: string; id: string }[];
interface Target {
  name: string;
  url: string;
  events: Events;
  close(): Promise<void>;
}

function newHooks() {
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [rootDer] },
    store: memoryStore(),
    logger: recordingLogger(),
  });
  const lines: string[] = [];
  hooks.bus.subscribe((e) => void lines.push(`event ${e.type} ${e.id}`));
  return { hooks, events: () => seenEvents(lines) };
}
const userFromHeader = (headers: IncomingMessage['headers'] | Headers) =>
  (headers instanceof Headers ? headers.get('x-user-id') : (headers['x-user-id'] as string | undefined)) ?? null;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
async function serve(name: string, handler: Parameters<typeof createServer>[1], events: Events): Promise<Target> {
  const server = createServer(handler);
  const url = await listen(server);
  return { name, url, events, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Node's http server in front of a fetch handler: the small Request/Response bridge a Node host needs. */
function nodeToFetch(handle: (request: Request) => Promise<Response>): Parameters<typeof createServer>[1] {
  return async (req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const headers = new Headers(
      Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v] as [string, string]])),
    );
    const init = { method: req.method, headers, body: hasBody ? (Readable.toWeb(req) as ReadableStream) : null, duplex: 'half' };
    const response = await handle(new Request(`http://${req.headers.host}${req.url}`, init as RequestInit));
    response.headers.forEach((value, name) => res.setHeader(name, value));
    res.statusCode = response.status;
    res.end(Buffer.from(await response.arrayBuffer()));
  };
}

const builders: Record<string, (options?: { parseFirst?: boolean; bodyTimeoutMs?: number }) => Promise<Target>> = {
  'Express 5': async (o = {}) => {
    const { hooks, events } = newHooks();
    const app = express();
    if (o.parseFirst) app.use(express.json());
    app.use(subscriptionWebhooks(hooks, { getUserId: (req) => userFromHeader(req.headers), bodyTimeoutMs: o.bodyTimeoutMs }));
    return serve('Express 5', app, events);
  },
  'Express 4': async (o = {}) => {
    const { hooks, events } = newHooks();
    const e4 = express4 as unknown as typeof express;
    const app = e4();
    if (o.parseFirst) app.use(e4.json());
    app.use(subscriptionWebhooks(hooks, { getUserId: (req) => userFromHeader(req.headers), bodyTimeoutMs: o.bodyTimeoutMs }));
    return serve('Express 4', app, events);
  },
  Koa: async (o = {}) => {
    const { hooks, events } = newHooks();
    const app = new Koa();
    // A parser that keeps no raw body (as koa-body or a hand-written one would).
    if (o.parseFirst)
      app.use(
        async (ctx, next) => (
          ((ctx.request as unknown as { body: unknown }).body = JSON.parse(await new Response(Readable.toWeb(ctx.req) as ReadableStream).text())),
          next()
        ),
      );
    const router = subscriptionWebhooksRouter(hooks, { getUserId: (ctx) => userFromHeader(ctx.req.headers), bodyTimeoutMs: o.bodyTimeoutMs });
    app.use(router.routes()).use(router.allowedMethods());
    return serve('Koa', app.callback(), events);
  },
  'Koa 2': async (o = {}) => {
    const { hooks, events } = newHooks();
    const app = new Koa2();
    if (o.parseFirst)
      app.use(
        async (ctx, next) => (
          ((ctx.request as unknown as { body: unknown }).body = JSON.parse(await new Response(Readable.toWeb(ctx.req) as ReadableStream).text())),
          next()
        ),
      );
    const router = subscriptionWebhooksRouter(hooks, { getUserId: (ctx) => userFromHeader(ctx.req.headers), bodyTimeoutMs: o.bodyTimeoutMs });
    app.use(router.routes() as never).use(router.allowedMethods() as never);
    return serve('Koa 2', app.callback(), events);
  },
  fetch: async (o = {}) => {
    const { hooks, events } = newHooks();
    const handle = fetchHandler(hooks, { getUserId: (req) => userFromHeader(req.headers), bodyTimeoutMs: o.bodyTimeoutMs });
    return serve('fetch', nodeToFetch(o.parseFirst ? async (req) => (await req.json(), handle(req)) : handle), events);
  },
};

let rootDer: Uint8Array;
let signer: Awaited<ReturnType<typeof sharedSigner>>;
let next: Target & { lines: string[] };
const targets: Target[] = [];
const work = mkdtempSync(join(tmpdir(), 'sw-adapters-'));

/** Runs an npm script in an example folder the way its README says, without `npm install`: the root's node_modules serve it. */
function npm(example: string, args: string[], env: Record<string, string>): ChildProcess & { lines: string[] } {
  const cwd = join(root, 'examples', example);
  // What `npm install` does with the example's `file:../..` dependency.
  if (!existsSync(join(cwd, 'node_modules', 'subscription-webhooks'))) {
    mkdirSync(join(cwd, 'node_modules'), { recursive: true });
    symlinkSync('../../..', join(cwd, 'node_modules', 'subscription-webhooks'));
  }
  const child = spawn('npm', args, { cwd, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return Object.assign(child, { lines });
}
const waitFor = (child: ChildProcess & { lines: string[] }, pattern: RegExp) =>
  new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      const line = child.lines.find((l) => pattern.test(l));
      if (line) (clearInterval(check), resolve(line));
    }, 50);
    child.once('exit', (code) => (clearInterval(check), reject(new Error(`exited (${code}) before ${pattern}:\n${child.lines.join('\n')}`))));
  });
const stopGroup = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
};
async function freePort(): Promise<number> {
  const s = createServer();
  const url = await listen(s);
  await new Promise((resolve) => s.close(resolve));
  return Number(new URL(url).port);
}
function exampleEnv(name: string, port: number): Record<string, string> {
  return {
    PORT: String(port),
    APPLE_BUNDLE_ID: BUNDLE_ID,
    APPLE_APP_APPLE_ID: String(APP_APPLE_ID),
    APPLE_ENVIRONMENTS: 'Production',
    APPLE_ROOT_CERTIFICATES: join(work, 'root.der'),
    DATABASE_FILE: join(work, `${name}.sqlite`),
  };
}

const children: ChildProcess[] = [];
beforeAll(async () => {
  signer = await sharedSigner();
  rootDer = signer.rootCertificate;
  writeFileSync(join(work, 'root.der'), rootDer);
  expect(existsSync(join(root, 'dist', 'next.js')), 'run npm run build first (npm test does)').toBe(true);
  for (const build of Object.values(builders)) targets.push(await build());
  // Next.js: the example app, built and started with its README's commands.
  const build = npm('nextjs', ['run', 'build'], {});
  const code = await new Promise<number | null>((resolve) => build.once('exit', resolve));
  expect(code, build.lines.join('\n')).toBe(0);
  const port = await freePort();
  const server = npm('nextjs', ['start', '--', '-H', '127.0.0.1'], exampleEnv('nextjs', port));
  children.push(server);
  await waitFor(server, /Ready in/);
  next = { name: 'Next.js', url: `http://127.0.0.1:${port}`, events: () => seenEvents(server.lines), close: () => stopGroup(server), lines: server.lines };
  targets.push(next);
}, 600_000);

afterAll(async () => {
  await Promise.all(targets.map((t) => t.close()));
  await Promise.all(children.map(stopGroup));
  rmSync(work, { recursive: true, force: true });
});

const post = async (url: string, body: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  const json = text.startsWith('{') ? (JSON.parse(text) as { code: number; message: string; data: Record<string, unknown> }) : null;
  return { status: res.status, json, headers: res.headers };
};
/** Waits until a target reports `n` more events (Next.js reports them on its stdout). */
async function eventsAfter(t: Target, before: number, n: number) {
  const arrived = await waitUntil(() => t.events().length >= before + n, 20_000);
  expect(arrived, `${t.name} reported ${t.events().length - before} of ${n} events: ${JSON.stringify(t.events().slice(before))}`).toBe(true);
  return t.events().slice(before);
}

function transaction(originalTransactionId: string) {
  const now = Math.floor(Date.now() / 1000) * 1000;
  return {
    transactionId: originalTransactionId,
    originalTransactionId,
    bundleId: BUNDLE_ID,
    productId: PRODUCT,
    purchaseDate: now,
    originalPurchaseDate: now,
    expiresDate: now + 30 * 86_400_000,
    type: 'Auto-Renewable Subscription',
    inAppOwnershipType: 'PURCHASED',
    signedDate: now,
    environment: 'Production',
    transactionReason: 'PURCHASE',
    price: 9990,
    currency: 'USD',
  };
}
const notification = (tx: Record<string, unknown>) =>
  signer.signNotification({
    notificationType: 'SUBSCRIBED',
    subtype: 'INITIAL_BUY',
    notificationUUID: crypto.randomUUID(),
    signedDate: Math.floor(Date.now() / 1000) * 1000,
    data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production', transaction: tx },
  } as never);

describe('adapter suite: the same signed requests get the same answers and events everywhere', () => {
  it('a signed notification: 200 in the seed 002 shape, the same body and the same events on every adapter; a redelivery is a duplicate', async () => {
    const body = JSON.stringify({ signedPayload: await notification(transaction('2000000111000001')) });
    const answers = [];
    const events = [];
    for (const t of targets) {
      const before = t.events().length;
      const r = await post(t.url + ROUTES.apple, body);
      expect(r.status, t.name).toBe(200);
      answers.push(r.json);
      events.push(await eventsAfter(t, before, 4));
      const dup = await post(t.url + ROUTES.apple, body);
      expect(dup.json?.data, t.name).toMatchObject({ processed: true, duplicate: true });
    }
    expect(answers[0]).toMatchObject({ code: 200, data: { processed: true, notificationType: 'SUBSCRIBED', transactionId: '2000000111000001' } });
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(events[0]!.map((e) => e.type)).toEqual([
      'provider.notification.received',
      'customer.subscription.created',
      'customer.subscription.started',
      'order.paid',
    ]);
    for (const e of events) expect(e).toEqual(events[0]);
  });

  it('forged, malformed and unsigned-in requests get the same 4xx answers', async () => {
    const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
    const forged = JSON.stringify({
      signedPayload: await attacker.signNotification({ notificationType: 'TEST', notificationUUID: crypto.randomUUID(), signedDate: Date.now() } as never),
    });
    const signedTransaction = await signer.signTransaction(transaction('2000000111000002'));
    const cases: [string, string, Record<string, string>, number, string | undefined][] = [
      [ROUTES.apple, forged, {}, 400, undefined],
      [ROUTES.apple, 'not json', {}, 400, 'BODY_INVALID'],
      [ROUTES.tx, JSON.stringify({ signedTransaction }), {}, 401, 'USER_NOT_FOUND'],
      [ROUTES.tx, JSON.stringify({ signedTransaction }), { 'x-user-id': 'u-7' }, 200, undefined],
    ];
    for (const [path, body, headers, status, error] of cases) {
      const answers = [];
      for (const t of targets) {
        const r = await post(t.url + path, body, headers);
        expect(r.status, `${t.name} ${path} ${status}`).toBe(status);
        if (error) expect(r.json?.data.error, t.name).toBe(error);
        answers.push(r.json);
      }
      for (const a of answers) expect(a).toEqual(answers[0]);
    }
  });

  it('a 2 MiB body → 413 BODY_TOO_LARGE; another method on a mounted path → 405', async () => {
    const big = JSON.stringify({ signedPayload: 'a'.repeat(2 * 1024 * 1024) });
    for (const t of targets) {
      const r = await post(t.url + ROUTES.apple, big);
      expect(r.status, t.name).toBe(413);
      expect(r.json?.data.error, t.name).toBe('BODY_TOO_LARGE');
      const get = await fetch(t.url + ROUTES.apple);
      expect(get.status, t.name).toBe(405);
      // Next.js answers 405 itself for a method the route file does not export, without an Allow header.
      if (t !== next) expect(get.headers.get('allow'), t.name).toBe('POST');
    }
  });

  it('the body already parsed → 500 BODY_NOT_RAW naming the fix', async () => {
    const body = JSON.stringify({ signedPayload: await notification(transaction('2000000111000003')) });
    for (const [name, build] of Object.entries(builders)) {
      const t = await build({ parseFirst: true });
      const r = await post(t.url + ROUTES.apple, body);
      await t.close();
      expect(r.status, name).toBe(500);
      expect(r.json?.data.error, name).toBe('BODY_NOT_RAW');
      expect(r.json?.message, name).toMatch(/body parser|already read/);
    }
    // Next.js App Router: the handler Next calls, handed a Request whose body was read already.
    const { hooks } = newHooks();
    const request = new Request('http://x/', { method: 'POST', body });
    await request.text();
    const r = await nextRouteHandler(hooks, 'apple').POST(request);
    expect(r.status).toBe(500);
    expect(((await r.json()) as { data: { error: string } }).data.error).toBe('BODY_NOT_RAW');
  });

  it('Koa behind @koa/bodyparser or koa-bodyparser uses ctx.request.rawBody', async () => {
    for (const parser of [bodyParser(), koaBodyParser()]) {
      const { hooks, events } = newHooks();
      const app = new Koa();
      app.use(parser as Koa.Middleware);
      app.use(subscriptionWebhooksRouter(hooks).routes());
      const t = await serve('Koa+parser', app.callback(), events);
      const r = await post(t.url + ROUTES.apple, JSON.stringify({ signedPayload: await notification(transaction('2000000111000004')) }));
      await t.close();
      expect(r.status).toBe(200);
    }
  });

  it('a body that stops arriving → 408 BODY_TIMEOUT (bodyTimeoutMs)', async () => {
    for (const [name, build] of Object.entries(builders)) {
      const t = await build({ bodyTimeoutMs: 100 });
      const { port } = new URL(t.url);
      const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: ROUTES.apple, headers: { 'content-type': 'application/json', 'content-length': '100' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString())).on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.write('{"signedPayload":');
      });
      await t.close();
      expect(status.status, name).toBe(408);
      expect(JSON.parse(status.body).data.error, name).toBe('BODY_TIMEOUT');
    }
  });

  it('routes come from hooks.mounts, with a Koa prefix', async () => {
    const hooks: SubscriptionWebhooks = createSubscriptionWebhooks({
      apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'] },
      routes: { apple: '/hooks/apple' },
      logger: recordingLogger(),
    });
    const app = new Koa();
    app.use(subscriptionWebhooksRouter(hooks, { prefix: '/v1' }).routes());
    const t = await serve('Koa prefix', app.callback(), () => []);
    const r = await post(`${t.url}/v1/hooks/apple`, JSON.stringify({ signedPayload: 'x.y.z' }));
    const f = await serve('fetch', nodeToFetch(fetchHandler(hooks)), () => []);
    const g = await post(`${f.url}/hooks/apple`, JSON.stringify({ signedPayload: 'x.y.z' }));
    const missing = await post(`${f.url}${ROUTES.apple}`, '{}');
    await Promise.all([t.close(), f.close()]);
    expect([r.status, r.json?.data.error, g.status, g.json?.data.error, missing.status]).toEqual([400, 'JWS_MALFORMED', 400, 'JWS_MALFORMED', 404]);
  });
});

describe('adapter files stay small and import only the public entry', () => {
  for (const file of ['express', 'koa', 'next', 'fetch', 'node-bridge', 'web-bridge', 'callback']) {
    it(`adapters/${file}.ts`, () => {
      const text = readFileSync(join(root, 'adapters', `${file}.ts`), 'utf8');
      // Code lines only: TSDoc examples and comments do not make an adapter thick.
      const codeLines = text.split('\n').filter((line) => line.trim() !== '' && !/^\s*(\/\/|\/\*\*?|\*)/.test(line));
      expect(codeLines.length, 'an adapter stays a thin wrapper (its routes and the admin dashboard mount)').toBeLessThanOrEqual(60);
      const specifiers = [...text.matchAll(/^(?:import|export) (type )?[^;]*? from '([^']+)';$/gm)].map((m) => m[2]!);
      // Framework packages only for their types (getUserId gets the framework's own request type).
      for (const s of specifiers)
        expect(s, file).toMatch(
          /^(\.\.\/src\/(?:index|adapter-kit|callback-core)\.js|\.\/[a-z-]+\.js|node:http|koa|@koa\/router|next|next\/server\.js|express)$/,
        );
      for (const m of text.matchAll(/^import (?!type )\{?.*? from '(koa|next|next\/server\.js|express)';$/gm))
        expect.fail(`${file} imports ${m[1]} at run time`);
    });
  }
});

describe('examples start with their README commands and answer a signed notification with 200 and the seed 002 body', () => {
  async function lifecycle(url: string) {
    const order = await post(`${url}/api/orders`, JSON.stringify({ productId: PRODUCT }), { 'x-user-id': 'user_12345' });
    expect(order.status).toBe(201);
    const tx = { ...transaction(`20000002${Math.floor(Math.random() * 1e8)}`), appAccountToken: (order.json as unknown as { no: string }).no };
    const r = await post(url + ROUTES.apple, JSON.stringify({ signedPayload: await notification(tx) }));
    expect(r.status).toBe(200);
    expect(Object.keys(r.json!)).toEqual(['code', 'message', 'data']);
    expect(r.json).toMatchObject({
      code: 200,
      data: { processed: true, notificationType: 'SUBSCRIBED', userId: 'user_12345', transactionId: tx.transactionId },
    });
    expect(r.json!.data.notificationUUID).toMatch(/^[0-9a-f-]{36}$/);
    const subs = (await (await fetch(`${url}/api/subscriptions`, { headers: { 'x-user-id': 'user_12345' } })).json()) as { status: string }[];
    expect(subs[0]?.status).toBe('active');
  }

  for (const example of ['express', 'koa']) {
    it(`examples/${example}: npm start`, async () => {
      expect(readFileSync(join(root, 'examples', example, 'README.md'), 'utf8')).toMatch(/npm start/);
      const port = await freePort();
      const child = npm(example, ['start'], exampleEnv(example, port));
      children.push(child);
      await waitFor(child, /listening on/);
      await lifecycle(`http://127.0.0.1:${port}`);
      await stopGroup(child);
    }, 60_000);
  }

  it('examples/nextjs: npm run build, npm start', async () => {
    expect(readFileSync(join(root, 'examples', 'nextjs', 'README.md'), 'utf8')).toMatch(/npm run build[\s\S]*npm start/);
    await lifecycle(next.url);
  });
});
