import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminDashboard } from '../../adapters/express.js';
import { adminDashboard as fetchDashboard } from '../../adapters/fetch.js';
import { createSubscriptionWebhooks, type AdminAuditEntry, type Logger, type AdminRole, type SubscriptionWebhooks } from '../../src/index.js';
import { eventId } from '../../src/core/ids.js';
import { memoryStore } from '../../src/store/memory.js';
import { sampleDelivery, sampleEvent, sampleInbox, sampleSubscription } from '../../src/testing/store-conformance.js';
import type { DomainEvent } from '../../src/events/types.js';
import { codeOf } from '../helpers/code-of.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const XSS = '<script>alert(1)</script>';
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const BASE = '/admin/subscriptions';

function makeHooks(logger = quiet): SubscriptionWebhooks {
  return createSubscriptionWebhooks({
    store: memoryStore(),
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    delivery: { timeoutMs: 2000 },
    logger,
  });
}

describe('admin dashboard (Express, memory store)', () => {
  const receiver = webhookReceiver();
  let rx: Awaited<typeof receiver>;
  let hooks: SubscriptionWebhooks;
  let server: Server;
  let origin: string;
  let endpointId: string;
  const audit: AdminAuditEntry[] = [];
  const evt = eventId('apple', 'n-xss', 0);

  beforeAll(async () => {
    rx = await receiver;
    hooks = makeHooks();
    const endpoint = await hooks.webhookEndpoints.create({ url: rx.url, enabled_events: ['*'] });
    endpointId = endpoint.id;
    const sub = sampleSubscription('x', { id: 'sub_x', user_id: `user ${XSS}`, contract_id: 'cX' });
    await hooks.store.transaction(async (tx) => {
      await tx.insertNotification(
        sampleInbox('x', { notification_id: 'n-xss', notification_type: XSS, payload: { note: XSS, '<img src=x onerror=alert(2)>': 1 } }),
      );
      await tx.saveSubscription(sub);
      await tx.insertEvents([
        sampleEvent('x', 0, { id: evt, data: { object: sub }, source: { notification_id: 'n-xss', notification_type: XSS } } as Partial<DomainEvent>),
      ]);
      await tx.insertDeliveries([
        sampleDelivery(endpointId, evt, Date.now(), {
          id: 'dlv_failed',
          status: 'failed',
          attempts: 8,
          next_attempt_at: null,
          last_status: 500,
          last_error: XSS,
        }),
      ]);
    });
    const app = express();
    app.use(
      BASE,
      adminDashboard(hooks, {
        authorize: (req) => ({ role: (req.get('x-role') ?? 'denied') as AdminRole, actor: req.get('x-actor') ?? 'tester' }),
        audit: (e) => void audit.push(e),
      }),
    );
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rx.stop();
  });

  const get = (path: string, role: string) => fetch(`${origin}${BASE}${path}`, { headers: { 'x-role': role } });
  const post = (path: string, role: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${origin}${BASE}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'x-role': role, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  const csrfOf = async (role = 'read-write') => /name="csrf" value="([^"]+)"/.exec(await (await get('/endpoints', role)).text())![1]!;

  it('serves the pages with a strict Content-Security-Policy, its own CSS and JS, no inline script', async () => {
    for (const path of [
      '/',
      '/notifications',
      '/notifications/apple/n-xss',
      '/subscriptions?q=cX',
      '/subscriptions/sub_x',
      '/orders',
      '/deliveries',
      '/endpoints',
    ]) {
      const res = await get(path, 'read');
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      const body = await res.text();
      expect(body).not.toMatch(/<script>|<script [^s]|<style|style="/);
      expect(body).toContain(`${BASE}/assets/dashboard.css`);
    }
    expect((await get('/assets/dashboard.css', 'denied')).headers.get('content-type')).toMatch(/^text\/css/);
    expect((await get('/nope', 'read')).status).toBe(404);
  });

  it('renders attacker-controlled notification fields as text', async () => {
    for (const path of ['/notifications', '/notifications/apple/n-xss', '/subscriptions?q=cX', '/deliveries?status=failed', '/subscriptions/sub_x']) {
      const body = await (await get(path, 'read')).text();
      expect(body, path).not.toContain(XSS);
      expect(body, path).not.toContain('<img src=x');
      expect(body, path).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    }
  });

  it('refuses the denied role everything but the static assets (page 403, API 403 JSON)', async () => {
    expect((await get('/', 'denied')).status).toBe(403);
    const api = await get('/api/notifications', 'denied');
    expect(api.status).toBe(403);
    expect(await api.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'Not allowed' } });
    expect((await post(`/deliveries/dlv_failed/replay`, 'denied', {})).status).toBe(403);
  });

  it('lets the read role read (pages and API) and shows it no action; refuses its POSTs', async () => {
    expect(await (await get('/deliveries?status=failed', 'read')).text()).not.toContain('Replay');
    const csrf = await csrfOf();
    expect((await post('/deliveries/dlv_failed/replay', 'read', { csrf })).status).toBe(403);
    expect((await hooks.delivery.get('dlv_failed'))!.status).toBe('failed');
  });

  it('refuses a POST without the form token, with a wrong one, or from another site', async () => {
    expect((await post('/deliveries/dlv_failed/replay', 'read-write', {})).status).toBe(403);
    expect((await post('/deliveries/dlv_failed/replay', 'read-write', { csrf: 'x'.repeat(43) })).status).toBe(403);
    // Another actor's token is not this actor's.
    const other = /name="csrf" value="([^"]+)"/.exec(
      await (await fetch(`${origin}${BASE}/endpoints`, { headers: { 'x-role': 'read-write', 'x-actor': 'mallory' } })).text(),
    )![1]!;
    expect((await post('/deliveries/dlv_failed/replay', 'read-write', { csrf: other })).status).toBe(403);
    const csrf = await csrfOf();
    expect((await post('/deliveries/dlv_failed/replay', 'read-write', { csrf }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/deliveries/dlv_failed/replay', 'read-write', { csrf }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await hooks.delivery.get('dlv_failed'))!.status).toBe('failed');
    expect(audit).toEqual([]);
  });

  it('replays a failed delivery for the read-write role (audited), and it arrives at the receiver', async () => {
    const csrf = await csrfOf();
    const res = await post('/deliveries/dlv_failed/replay', 'read-write', { csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${BASE}/deliveries?status=pending`);
    expect((await hooks.delivery.get('dlv_failed'))!.status).toBe('pending');
    await hooks.delivery.runOnce();
    expect(rx.received.map((r) => r.id)).toContain(evt);
    expect((await hooks.delivery.get('dlv_failed'))!.status).toBe('delivered');
    expect(audit.at(-1)).toMatchObject({ actor: 'tester', action: 'delivery.replay', target: 'dlv_failed', result: 'ok' });
    const log = (await (await get('/api/audit', 'read')).json()) as { items: Array<{ actor: string; action: string; target: string }> };
    expect(log.items.map((x) => [x.actor, x.action, x.target])).toEqual([['tester', 'delivery.replay', 'dlv_failed']]);
  });

  it('rotates a secret: shown once on the answer, masked everywhere after', async () => {
    const csrf = await csrfOf();
    const res = await post(`/endpoints/${endpointId}/rotate`, 'read-write', { csrf });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const secret = /id="secret">(whsec_[^<]+)</.exec(await res.text())![1]!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{20,}$/);
    for (const path of ['/endpoints', '/api/endpoints', '/deliveries', '/'])
      expect(await (await get(path, 'read-write')).text(), path).not.toContain(secret.slice(6, 20));
    expect(audit.at(-1)).toMatchObject({ action: 'endpoint.rotate_secret', target: endpointId, result: 'ok' });
  });

  it('answers the JSON API with keyset pages and stable error codes', async () => {
    const page = (await (await get('/api/notifications?limit=1', 'read')).json()) as { items: Array<{ notification_id: string }>; next: string | null };
    expect(page.items.map((n) => n.notification_id)).toEqual(['n-xss']);
    expect(page.next).toBeNull();
    const bad = await get('/api/notifications?after=garbage', 'read');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    expect((await get('/api/notifications?limit=abc', 'read')).status).toBe(400);
    expect((await get('/api/notifications?provider=amazon', 'read')).status).toBe(400);
    expect((await get('/api/subscriptions/sub_nope', 'read')).status).toBe(404);
    const found = (await (await get('/api/subscriptions?q=cX', 'read')).json()) as { subscriptions: Array<{ id: string }> };
    expect(found.subscriptions.map((s) => s.id)).toEqual(['sub_x']);
    const detail = (await (await get('/api/notifications/apple/n-xss', 'read')).json()) as { events: Array<{ id: string }> };
    expect(detail.events.map((e) => e.id)).toEqual([evt]);
    expect((await fetch(`${origin}${BASE}/api/overview`, { method: 'POST', headers: { 'x-role': 'read-write' } })).status).toBe(405);
    expect((await get('/api/notifications/apple/%E0%A4%A', 'read')).status).toBe(400);
    expect((await get('/notifications/apple/%E0%A4%A', 'read')).status).toBe(400);
    const csrf = await csrfOf();
    const big = await post(`/endpoints`, 'read-write', { csrf, url: 'https://example.com/hook', description: 'x'.repeat(40_000) });
    expect(big.status).toBe(400);
    expect((await hooks.webhookEndpoints.list()).map((e) => e.url)).not.toContain('https://example.com/hook');
  });
});

describe('admin dashboard mounting', () => {
  it('refuses to start without authorize; allowUnauthenticated warns on every start and is refused in production', async () => {
    const warnings: unknown[] = [];
    const hooks = makeHooks({ ...quiet, warn: (o: unknown) => void warnings.push(o) });
    expect(await codeOf(Promise.resolve().then(() => fetchDashboard(hooks, { basePath: BASE })))).toBe('CONFIG_INVALID');
    fetchDashboard(hooks, { basePath: BASE, allowUnauthenticated: true });
    fetchDashboard(hooks, { basePath: BASE, allowUnauthenticated: true });
    expect(warnings).toHaveLength(2);
    vi.stubEnv('NODE_ENV', 'production');
    try {
      expect(await codeOf(Promise.resolve().then(() => fetchDashboard(hooks, { basePath: BASE, allowUnauthenticated: true })))).toBe('CONFIG_INVALID');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('serves through the fetch adapter under its base path', async () => {
    const handle = fetchDashboard(makeHooks(), { basePath: BASE, authorize: () => 'read' });
    const res = await handle(new Request(`http://x${BASE}/api/overview`));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ deliveries: { pending: 0, failed: 0, oldestPending: null } });
  });
});

describe('admin dashboard on Koa and as a Next.js route handler', () => {
  it('Koa: serves under basePath, passes other paths on, and takes a POST with its form token', async () => {
    const { default: Koa } = await import('koa');
    const { adminDashboard: koaDashboard } = await import('../../adapters/koa.js');
    const hooks = makeHooks();
    const endpoint = await hooks.webhookEndpoints.create({ url: 'http://127.0.0.1:9/hooks', enabled_events: ['*'] });
    const app = new Koa();
    app.use(koaDashboard(hooks, { basePath: BASE, authorize: (ctx) => (ctx.get('x-role') || 'denied') as AdminRole }));
    app.use((ctx) => {
      ctx.body = 'the app';
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${origin}/elsewhere`)).text()).toBe('the app');
      expect((await fetch(`${origin}${BASE}/`, { headers: { 'x-role': 'denied' } })).status).toBe(403);
      const page = await fetch(`${origin}${BASE}/endpoints`, { headers: { 'x-role': 'read-write' } });
      expect(page.status).toBe(200);
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const res = await fetch(`${origin}${BASE}/endpoints/${endpoint.id}/disable`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'x-role': 'read-write', 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${csrf}`,
      });
      expect(res.status).toBe(303);
      expect((await hooks.webhookEndpoints.get(endpoint.id))!.status).toBe('disabled');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('Next.js: GET and POST route handlers of a catch-all segment', async () => {
    const { adminDashboard: nextDashboard } = await import('../../adapters/next.js');
    const hooks = makeHooks();
    const { GET, POST } = nextDashboard(() => hooks, { basePath: BASE, authorize: (req) => (req.headers.get('x-role') ?? 'denied') as AdminRole });
    expect((await GET(new Request(`http://x${BASE}/api/orders`, { headers: { 'x-role': 'read' } }))).status).toBe(200);
    expect((await POST(new Request(`http://x${BASE}/deliveries/dlv_1/replay`, { method: 'POST', headers: { 'x-role': 'read' } }))).status).toBe(403);
  });
});

describe('admin dashboard: Apple reconcile for a time range', () => {
  it('runs against the App Store Server API (a local stand-in) for the read-write role, audited; says when the API is not configured', async () => {
    const { startFakeAppleApi, seenSince } = await import('../helpers/fake-apple-api.js');
    const { APP_APPLE_ID, BUNDLE_ID, sharedSigner } = await import('../helpers/apple-harness.js');
    const signer = await sharedSigner();
    const apple = await startFakeAppleApi({ bundleId: BUNDLE_ID });
    try {
      const audit: AdminAuditEntry[] = [];
      const configured = createSubscriptionWebhooks({
        store: memoryStore(),
        logger: quiet,
        apple: {
          bundleId: BUNDLE_ID,
          appAppleId: APP_APPLE_ID,
          rootCertificates: [signer.rootCertificate],
          api: { keyId: apple.keyId, issuerId: apple.issuerId, privateKey: apple.privateKeyPem, baseUrl: apple.baseUrl },
        },
      });
      const handle = fetchDashboard(configured, {
        basePath: BASE,
        authorize: (req) => ({ role: (req.headers.get('x-role') ?? 'denied') as AdminRole, actor: 'ops' }),
        audit: (e) => void audit.push(e),
      });
      const page = await handle(new Request(`http://x${BASE}/apple`, { headers: { 'x-role': 'read-write' } }));
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const post = (role: string, dashboard = handle) =>
        dashboard(
          new Request(`http://x${BASE}/apple/reconcile`, {
            method: 'POST',
            headers: { 'x-role': role, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ csrf, since: '2026-11-01T00:00:00Z', until: '2026-11-02T00:00:00Z' }).toString(),
          }),
        );
      const history = seenSince(apple, '/inApps/v1/notifications/history');
      expect((await post('read')).status).toBe(403);
      expect(history()).toHaveLength(0);
      const res = await post('read-write');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<b id="reconcile-seen">0</b>');
      expect(history()).toHaveLength(1);
      expect(audit).toMatchObject([{ action: 'apple.reconcile', target: '2026-11-01T00:00:00Z..2026-11-02T00:00:00Z', result: 'ok' }]);

      const bare = fetchDashboard(makeHooks(), { basePath: BASE, authorize: () => ({ role: 'read-write', actor: 'ops' }) });
      const csrfBare = /name="csrf" value="([^"]+)"/.exec(await (await bare(new Request(`http://x${BASE}/apple`))).text())![1]!;
      const unconfigured = await bare(
        new Request(`http://x${BASE}/apple/reconcile`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `csrf=${csrfBare}&since=24h`,
        }),
      );
      expect(unconfigured.status).toBe(409);
      expect(await unconfigured.text()).toContain('not configured');
    } finally {
      await apple.close();
    }
  });
});
