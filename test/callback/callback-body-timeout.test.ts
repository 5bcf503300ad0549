/**
 * The callback route's `.express()` / `.koa()` wrappers read the body under the same time cap as the
 * provider routes (`bodyTimeoutMs`, default DEFAULT_BODY_TIMEOUT_MS = 10 s): a body that does not arrive
 * in time is answered 408 `BODY_TIMEOUT` in the route's own JSON error shape, with `connection: close`,
 * and nothing is verified, handled or reported as processed. Real Express and Koa servers on 127.0.0.1,
 * driven by a raw socket that declares a Content-Length and sends only part of the body (as the slow-loris
 * test of test/reliability/forged-classics.test.ts does for the provider routes).
 */
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Server, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import express from 'express';
import Koa from 'koa';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createCallbackRoute, type CallbackRoute, type ExpressLikeRequest, type KoaLikeContext } from '../../adapters/callback.js';
import { generateWebhookSecret } from '../../src/delivery/sign.js';
import { DEFAULT_BODY_TIMEOUT_MS } from '../../src/index.js';
import { signOutboundWebhook } from '../../src/testing/outbound-webhook.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';

const secret = generateWebhookSecret();
const event = sampleEvent('slow', 1);
const SHORT_TIMEOUT_MS = 200;
/** Generous: only guards against a hang (a default 10 s timeout would not answer within it). */
const GUARD_MS = 5_000;

interface Recorder {
  calls: string[];
  errors: unknown[];
}

function recordingRoute(rec: Recorder, bodyTimeoutMs?: number): CallbackRoute {
  return createCallbackRoute({
    secret,
    bodyTimeoutMs,
    on: {
      'customer.subscription.renewed': async (e) => void rec.calls.push(`renewed:${e.id}`),
      '*': async (e) => void rec.calls.push(`*:${e.type}`),
    },
    onError: (err) => void rec.errors.push(err),
  });
}

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise((r) => {
          s.closeAllConnections();
          s.close(r);
        }),
    ),
  );
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  if (!server.listening) await new Promise((r) => server.once('listening', r));
  return (server.address() as AddressInfo).port;
}

const frameworks = {
  express: async (route: CallbackRoute) => {
    const app = express();
    app.post('/api/payment/callback', route.express());
    return listen(app.listen(0, '127.0.0.1'));
  },
  koa: async (route: CallbackRoute) => {
    const app = new Koa();
    const handler = route.koa();
    app.use((ctx) => handler(ctx));
    return listen(app.listen(0, '127.0.0.1'));
  },
};

interface RawAnswer {
  /** 0 when nothing was answered within the guard. */
  status: number;
  head: string;
  json: unknown;
  /** The server ended the connection on its own (it did not leave the socket hanging). */
  closedByServer: boolean;
}

/**
 * Sends the request head (with the declared content-length) and `first`, then nothing (or, with
 * `rest`, the remainder after `pauseMs`). Resolves with what the server answered and whether it closed
 * the connection; after GUARD_MS without the server closing, resolves with what it has.
 */
function partialPost(port: number, headers: Record<string, string>, first: Buffer, more: { rest?: Buffer; pauseMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let closedByServer = false;
    const finish = () => {
      clearTimeout(guard);
      clearTimeout(pause);
      socket.destroy();
      const [head = '', text = ''] = response.split('\r\n\r\n', 2);
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, json, closedByServer });
    };
    const guard = setTimeout(finish, GUARD_MS + (more.pauseMs ?? 0));
    let pause: ReturnType<typeof setTimeout> | undefined;
    socket.on('data', (d) => {
      response += d.toString('latin1');
      // A completed request keeps the connection alive: the full answer is enough.
      if (more.rest && /\r\n\r\n[\s\S]*\}$/.test(response)) finish();
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', (e) => (response ? finish() : reject(e)));
    socket.on('connect', () => {
      socket.write(
        `POST /api/payment/callback HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      );
      socket.write(first);
      if (more.rest) pause = setTimeout(() => socket.write(more.rest!), more.pauseMs ?? 0);
    });
  });
}

function signedParts(id: string) {
  const signed = signOutboundWebhook({ secret, body: { ...event, id } });
  const bytes = Buffer.from(signed.body, 'utf8');
  const half = Math.floor(bytes.length / 2);
  return { headers: { ...signed.headers, 'content-length': String(bytes.length) }, bytes, first: bytes.subarray(0, half), rest: bytes.subarray(half) };
}

const codeOf = (e: unknown) => (e as { code?: string }).code;

describe.each(Object.keys(frameworks) as Array<keyof typeof frameworks>)('callback route .%s(): a body that stops arriving', (name) => {
  it(`gets 408 BODY_TIMEOUT after bodyTimeoutMs (${SHORT_TIMEOUT_MS} ms), the connection is closed, no handler runs; a complete signed request still succeeds`, async () => {
    const rec: Recorder = { calls: [], errors: [] };
    const port = await frameworks[name](recordingRoute(rec, SHORT_TIMEOUT_MS));
    const { headers, bytes, first } = signedParts('evt_slow_1');

    const r = await partialPost(port, headers, first);
    expect(r.status, r.head).toBe(408);
    expect(r.json).toEqual({ code: 'BODY_TIMEOUT', message: `Body not received within ${SHORT_TIMEOUT_MS} ms` });
    expect(r.head.toLowerCase()).toContain('content-type: application/json');
    expect(r.head.toLowerCase()).toContain('connection: close');
    expect(r.closedByServer).toBe(true);
    expect(rec.calls).toEqual([]);
    expect(rec.errors.map(codeOf)).toEqual(['BODY_TIMEOUT']);

    // The same signed bytes, sent whole: verified and handled once.
    const ok = await fetch(`http://127.0.0.1:${port}/api/payment/callback`, { method: 'POST', headers: { ...headers }, body: bytes });
    expect([ok.status, await ok.json()]).toEqual([200, { code: 'OK' }]);
    expect(rec.calls).toEqual(['renewed:evt_slow_1', '*:customer.subscription.renewed']);
    expect(rec.errors).toHaveLength(1);
  });

  it('without bodyTimeoutMs, a body paused for a second is still waited for (default 10 s) and then handled', async () => {
    const rec: Recorder = { calls: [], errors: [] };
    const port = await frameworks[name](recordingRoute(rec));
    const { headers, first, rest } = signedParts('evt_slow_2');
    const r = await partialPost(port, headers, first, { rest, pauseMs: 1_000 });
    expect(r.status, r.head).toBe(200);
    expect(r.json).toEqual({ code: 'OK' });
    expect(rec.calls).toEqual(['renewed:evt_slow_2', '*:customer.subscription.renewed']);
    expect(rec.errors).toEqual([]);
  });
});

describe('callback route: the default body timeout is DEFAULT_BODY_TIMEOUT_MS (10 s), on fake timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** An unread request stream that got half of a validly signed body. */
  function halfRequest() {
    const { headers, first } = signedParts('evt_slow_3');
    const req = Object.assign(new PassThrough(), { headers });
    req.write(first);
    return req;
  }

  it('.express() answers 408 at 10 s, not a millisecond before', async () => {
    expect(DEFAULT_BODY_TIMEOUT_MS).toBe(10_000);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const rec: Recorder = { calls: [], errors: [] };
    const res = { statusCode: 0, headers: {} as Record<string, string>, body: undefined as string | undefined };
    const fakeRes = {
      set statusCode(v: number) {
        res.statusCode = v;
      },
      setHeader: (k: string, v: string) => void (res.headers[k] = v),
      end: (b: string) => void (res.body = b),
    };
    const done = recordingRoute(rec).express()(halfRequest() as unknown as ExpressLikeRequest, fakeRes as unknown as ServerResponse);
    await vi.advanceTimersByTimeAsync(DEFAULT_BODY_TIMEOUT_MS - 1);
    expect(res.body).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(res.body).toBeDefined();
    await done;
    expect([res.statusCode, JSON.parse(res.body!), res.headers.connection]).toEqual([
      408,
      { code: 'BODY_TIMEOUT', message: 'Body not received within 10000 ms' },
      'close',
    ]);
    expect(rec.calls).toEqual([]);
  });

  it('.koa() answers 408 at 10 s, with connection: close through ctx.set', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const rec: Recorder = { calls: [], errors: [] };
    const req = halfRequest();
    const set: Array<[string, string]> = [];
    const ctx = { req, request: { headers: req.headers }, status: 404, body: undefined as unknown, set: (k: string, v: string) => void set.push([k, v]) };
    const done = recordingRoute(rec).koa()(ctx as unknown as KoaLikeContext);
    await vi.advanceTimersByTimeAsync(DEFAULT_BODY_TIMEOUT_MS - 1);
    expect(ctx.status).toBe(404);
    await vi.advanceTimersByTimeAsync(1);
    expect(ctx.status).toBe(408);
    await done;
    expect([ctx.status, ctx.body, set]).toEqual([408, { code: 'BODY_TIMEOUT', message: 'Body not received within 10000 ms' }, [['connection', 'close']]]);
    expect(rec.calls).toEqual([]);
  });
});
