import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, createXsollaSubscriptionsApi, memoryStore } from '../../../src/index.js';
import { waitUntil } from '../../helpers/reliability.js';

// The only stand-in allowed: a real HTTP server on 127.0.0.1 playing Xsolla's side of
// GET /api/user/v1/projects/{projectId}/subscriptions.
const PROJECT_ID = 18404;
type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;
let server: Server;
let baseUrl: string;
let handler: Handler;
const seen: { url: URL; headers: IncomingMessage['headers'] }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    seen.push({ url, headers: req.headers });
    handler(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen.length = 0;
});

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** Xsolla's documented sample item, with a given id. */
const item = (id: number, over: Record<string, unknown> = {}) => ({
  id,
  plan_id: 66053,
  plan_external_id: 'TestChangePlanBase',
  plan_name: 'package_recurrent_name_66053',
  plan_description: 'package_recurrent_description_66053',
  product_id: null,
  product_external_id: null,
  product_name: null,
  product_description: null,
  status: 'active',
  date_create: '2021-03-11T13:50:11+03:00',
  date_next_charge: '2031-04-11T13:51:02+03:00',
  date_last_charge: '2021-03-11T13:51:02+03:00',
  charge: { amount: '0.2500', currency: 'USD' },
  period: { value: 5, unit: 'day' },
  ...over,
});

/** A client whose waits are recorded instead of slept. */
function client(options: { maxRetries?: number; timeoutMs?: number } = {}) {
  const delays: number[] = [];
  const api = createXsollaSubscriptionsApi({
    projectId: PROJECT_ID,
    baseUrl,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...options,
  });
  return { api, delays };
}

describe('Xsolla user-subscriptions API client (against a local server playing Xsolla)', () => {
  it('hooks.xsolla.listUserSubscriptions: documented path, query, headers; dates as Date, amounts as strings', async () => {
    handler = (_req, res) => json(res, 200, { items: [item(13371337)], has_more: false });
    const hooks = createSubscriptionWebhooks({ xsolla: { projectId: PROJECT_ID, secretKey: 's', apiBaseUrl: `${baseUrl}/` }, store: memoryStore() });
    const page = await hooks.xsolla.listUserSubscriptions({ userJwt: 'client.user.jwt' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url.pathname).toBe(`/api/user/v1/projects/${PROJECT_ID}/subscriptions`);
    expect(seen[0]!.url.search).toBe('?locale=en&limit=15&offset=0');
    expect(seen[0]!.headers.authorization).toBe('Bearer client.user.jwt');
    expect(seen[0]!.headers.accept).toBe('application/json');
    expect(page.has_more).toBe(false);
    const s = page.items[0]!;
    expect(s).toMatchObject({
      id: 13371337,
      plan_id: 66053,
      plan_external_id: 'TestChangePlanBase',
      product_id: null,
      product_name: null,
      status: 'active',
      charge: { amount: '0.2500', currency: 'USD' },
      period: { value: 5, unit: 'day' },
    });
    expect(s.date_create).toBeInstanceOf(Date);
    expect(s.date_create.toISOString()).toBe('2021-03-11T10:50:11.000Z');
    expect(s.date_next_charge?.toISOString()).toBe('2031-04-11T10:51:02.000Z');
    expect(typeof s.charge?.amount).toBe('string');
  });

  it('encodes locale, limit and offset as Xsolla documents (?locale=ru&limit=5&offset=5)', async () => {
    handler = (_req, res) => json(res, 200, { items: [], has_more: false });
    const { api } = client();
    await api.listUserSubscriptions({ userJwt: 'jwt', locale: 'ru', limit: 5, offset: 5 });
    await api.listUserSubscriptions({ userJwt: 'Bearer jwt2', locale: 'DE', limit: 100, offset: 0 });
    expect(seen.map((s) => s.url.search)).toEqual(['?locale=ru&limit=5&offset=5', '?locale=de&limit=100&offset=0']);
    expect(seen[1]!.headers.authorization).toBe('Bearer jwt2');
  });

  it('iterateUserSubscriptions follows has_more page by page', async () => {
    const all = [1, 2, 3, 4, 5].map((id) => item(id));
    handler = (_req, res, url) => {
      const offset = Number(url.searchParams.get('offset'));
      const limit = Number(url.searchParams.get('limit'));
      json(res, 200, { items: all.slice(offset, offset + limit), has_more: offset + limit < all.length });
    };
    const { api } = client();
    const ids: number[] = [];
    for await (const s of api.iterateUserSubscriptions({ userJwt: 'jwt', limit: 2, locale: 'fr' })) ids.push(s.id);
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map((s) => s.url.search)).toEqual(['?locale=fr&limit=2&offset=0', '?locale=fr&limit=2&offset=2', '?locale=fr&limit=2&offset=4']);
  });

  it('an empty page that claims has_more ends the iteration (no endless loop)', async () => {
    handler = (_req, res) => json(res, 200, { items: [], has_more: true });
    const { api } = client();
    const got = [];
    for await (const s of api.iterateUserSubscriptions({ userJwt: 'jwt' })) got.push(s);
    expect(got).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('401 and 403 → XSOLLA_UNAUTHORIZED, not retried', async () => {
    for (const status of [401, 403]) {
      seen.length = 0;
      handler = (_req, res) => json(res, status, { error: { code: 'UNAUTHORIZED', message: 'Invalid token' } });
      const { api, delays } = client();
      await expect(api.listUserSubscriptions({ userJwt: 'expired' })).rejects.toMatchObject({
        code: 'XSOLLA_UNAUTHORIZED',
        message: expect.stringContaining('Invalid token'),
      });
      expect(seen).toHaveLength(1);
      expect(delays).toEqual([]);
    }
  });

  it('429 then success: retried after the backoff (Retry-After wins when longer)', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls += 1;
      if (calls === 1) json(res, 429, { message: 'Too many requests' }, { 'retry-after': '2' });
      else json(res, 200, { items: [item(7)], has_more: false });
    };
    const { api, delays } = client();
    const page = await api.listUserSubscriptions({ userJwt: 'jwt' });
    expect(page.items.map((s) => s.id)).toEqual([7]);
    expect(seen).toHaveLength(2);
    expect(delays).toEqual([2000]);
  });

  it('500 until it gives up: bounded exponential backoff, then XSOLLA_UNAVAILABLE', async () => {
    handler = (_req, res) => json(res, 503, { message: 'maintenance' });
    const { api, delays } = client({ maxRetries: 3 });
    await expect(api.listUserSubscriptions({ userJwt: 'jwt' })).rejects.toMatchObject({
      code: 'XSOLLA_UNAVAILABLE',
      message: expect.stringContaining('4 attempt'),
    });
    expect(seen).toHaveLength(4);
    expect(delays).toEqual([500, 1000, 2000]);
  });

  it('a server that never answers: timeout per attempt, retried, then XSOLLA_UNAVAILABLE', async () => {
    handler = () => {
      // Hold the request: never answer.
    };
    const { api, delays } = client({ maxRetries: 1 });
    await expect(api.listUserSubscriptions({ userJwt: 'jwt', timeoutMs: 50 })).rejects.toMatchObject({
      code: 'XSOLLA_UNAVAILABLE',
      message: expect.stringContaining('timed out after 50 ms'),
    });
    expect(seen).toHaveLength(2);
    expect(delays).toEqual([500]);
    server.closeAllConnections();
  });

  it('abort: a signal aborted mid-request ends the call (no retry); one aborted during the wait sends no further request', async () => {
    handler = () => {
      // Hold the request: never answer.
    };
    const { api } = client({ maxRetries: 3 });
    const mid = new AbortController();
    const call = api.listUserSubscriptions({ userJwt: 'jwt', timeoutMs: 10_000, signal: mid.signal });
    expect(await waitUntil(() => seen.length > 0, 20_000), 'the request never reached the server').toBe(true);
    const requests = seen.length;
    mid.abort();
    await expect(call).rejects.toMatchObject({ code: 'XSOLLA_UNAVAILABLE', message: expect.stringContaining('aborted') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(requests);
    server.closeAllConnections();

    handler = (_req, res) => json(res, 503, { message: 'maintenance' });
    const during = new AbortController();
    let atAbort = -1;
    const waiting = createXsollaSubscriptionsApi({
      projectId: PROJECT_ID,
      baseUrl,
      sleep: async () => {
        atAbort = seen.length;
        during.abort();
      },
    });
    await expect(waiting.listUserSubscriptions({ userJwt: 'jwt', signal: during.signal })).rejects.toMatchObject({
      code: 'XSOLLA_UNAVAILABLE',
      message: expect.stringContaining('aborted'),
    });
    expect(atAbort).toBeGreaterThanOrEqual(0);
    expect(seen).toHaveLength(atAbort);
  });

  it('abort: a signal aborted before the call sends no request', async () => {
    handler = (_req, res) => json(res, 200, { items: [], has_more: false });
    const { api } = client();
    await expect(api.listUserSubscriptions({ userJwt: 'jwt', signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'XSOLLA_UNAVAILABLE',
      message: expect.stringContaining('aborted'),
    });
    expect(seen).toHaveLength(0);
  });

  it('a body that is not the documented shape → XSOLLA_RESPONSE_INVALID; a numeric amount is returned as its decimal string', async () => {
    handler = (_req, res) => json(res, 200, { items: [{ id: 'x' }], has_more: false });
    const { api } = client();
    await expect(api.listUserSubscriptions({ userJwt: 'jwt' })).rejects.toMatchObject({
      code: 'XSOLLA_RESPONSE_INVALID',
      message: expect.stringContaining('items.0.id'),
    });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"items": [' + JSON.stringify(item(1)).replace('"0.2500"', '9.99') + '], "has_more": false}');
    };
    expect((await api.listUserSubscriptions({ userJwt: 'jwt' })).items[0]!.charge).toEqual({ amount: '9.99', currency: 'USD' });
  });

  it("bad input → INVALID_ARGUMENT before any request; another 4xx → INVALID_ARGUMENT with Xsolla's message", async () => {
    const { api } = client();
    await expect(api.listUserSubscriptions({ userJwt: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(api.listUserSubscriptions({ userJwt: 'j', limit: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(api.listUserSubscriptions({ userJwt: 'j', offset: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(api.listUserSubscriptions({ userJwt: 'j', locale: 'english' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(seen).toHaveLength(0);
    handler = (_req, res) => json(res, 404, { error: { message: 'Project not found' } });
    await expect(api.listUserSubscriptions({ userJwt: 'j' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('Project not found'),
    });
    expect(() => createXsollaSubscriptionsApi({ projectId: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
