/**
 * Client-caused rejections (4xx: forged signatures, malformed bodies, 413, 408) are logged at `warn`, and a
 * flood of them is summarised (the first per code per 60 s window in full, then one count per code), so
 * an attacker cannot fill the logs or page anyone. 5xx stay at `error`, one line each.
 * Through a real HTTP server; the window's clock is vitest's fake `Date` (timers stay real).
 */
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { createSubscriptionWebhooks, memoryStore, SubscriptionWebhooksError, type Logger } from '../../src/index.js';
import { logRejection, RejectionLog } from '../../src/core/logger.js';
import { signXsollaBody } from '../../src/testing/index.js';

const PROJECT_ID = 18404;
const SECRET = 'xsolla-rejection-log-secret';
const T0 = Date.parse('2030-01-01T00:00:00Z');

type Line = { level: 'debug' | 'info' | 'warn' | 'error'; obj: unknown; msg: string };
function recorder(): Logger & { lines: Line[]; at(level: Line['level']): Line[] } {
  const lines: Line[] = [];
  const push = (level: Line['level']) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg: String(msg ?? '') });
  return { lines, at: (level) => lines.filter((l) => l.level === level), debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

const logger = recorder();
let failUserLookup = false;
const hooks = createSubscriptionWebhooks({
  apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
  xsolla: {
    projectId: PROJECT_ID,
    secretKey: SECRET,
    userExists: async () => {
      if (failUserLookup) throw new Error('users db timeout');
      return true;
    },
  },
  store: memoryStore(),
  maxBodyBytes: 1024,
  logger,
});
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express().use(subscriptionWebhooks(hooks, { bodyTimeoutMs: 150, getUserId: () => null }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
afterEach(() => {
  vi.useRealTimers();
});

const userValidation = (id: string) =>
  JSON.stringify({ notification_type: 'user_validation', settings: { project_id: PROJECT_ID, merchant_id: 1 }, user: { id, email: 'e@example.com' } });
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });
const forged = (i: number) => post(hooks.routes.xsolla, userValidation(`u${i}`), { authorization: `Signature ${'0'.repeat(40)}` });

/** A request that announces 64 bytes and sends 5: answered 408 after bodyTimeoutMs. */
function stalled(path: string): Promise<number> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{"a":`);
    });
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(Number(text.split(' ')[1]));
      }
    });
    socket.on('error', reject);
  });
}

describe('rejection logging', () => {
  it('a flood of forged, malformed, oversized and stalled requests: no error line, a handful of warn lines, then one summary per code', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    logger.lines.length = 0;

    // 200 forged Xsolla signatures, in parallel batches.
    for (let b = 0; b < 10; b++) {
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => forged(b * 20 + i)));
      expect(new Set(statuses)).toEqual(new Set([400]));
    }
    // 30 malformed Apple bodies, 30 bodies over maxBodyBytes (adapter), 3 stalled bodies (adapter), 10 signed-out client calls.
    for (let i = 0; i < 30; i++) expect(await post(hooks.routes.apple, `{"signedPayload":"not.a.jws${i}"}`)).toBe(400);
    for (let i = 0; i < 30; i++) expect(await post(hooks.routes.xsolla, 'x'.repeat(4096))).toBe(413);
    expect(await Promise.all([1, 2, 3].map(() => stalled(hooks.routes.apple)))).toEqual([408, 408, 408]);
    for (let i = 0; i < 10; i++) expect(await post(hooks.routes.appleTransactions, '{"signedTransaction":"a.b.c"}')).toBe(401);

    expect(logger.at('error')).toEqual([]);
    const warnings = logger.at('warn');
    // One detailed line per code (XSOLLA_SIGNATURE_INVALID, an Apple JWS code, BODY_TOO_LARGE, BODY_TIMEOUT), nothing per request.
    expect(warnings.length).toBeGreaterThanOrEqual(4);
    expect(warnings.length).toBeLessThanOrEqual(5);
    const codes = warnings.map((w) => (w.obj as { code?: string }).code);
    expect(codes).toEqual(expect.arrayContaining(['XSOLLA_SIGNATURE_INVALID', 'BODY_TOO_LARGE', 'BODY_TIMEOUT']));

    // The window rolls over: the next rejection brings the summaries of the last window, then its own details.
    vi.setSystemTime(T0 + 61_000);
    expect(await forged(1000)).toBe(400);
    const after = logger.lines.slice(warnings.length);
    expect(after.every((l) => l.level === 'warn')).toBe(true);
    const summary = (code: string) => after.find((l) => (l.obj as { code?: string }).code === code && /^rejected \d+ requests/.test(l.msg));
    expect(summary('XSOLLA_SIGNATURE_INVALID')?.msg).toMatch(/^rejected 200 requests with code XSOLLA_SIGNATURE_INVALID in the last 60s/);
    expect(summary('XSOLLA_SIGNATURE_INVALID')?.obj).toMatchObject({ code: 'XSOLLA_SIGNATURE_INVALID', count: 200, suppressed: 199 });
    expect(summary('BODY_TOO_LARGE')?.msg).toMatch(/^rejected 30 requests with code BODY_TOO_LARGE in the last 60s/);
    expect(summary('BODY_TIMEOUT')?.msg).toMatch(/^rejected 3 requests with code BODY_TIMEOUT/);
    // The new window's first forged request is logged in full again.
    expect(after.at(-1)).toMatchObject({ level: 'warn', obj: { code: 'XSOLLA_SIGNATURE_INVALID', route: 'xsolla' } });
    expect(after.at(-1)!.msg).not.toMatch(/^rejected \d+ requests/);
    expect(logger.at('warn').length).toBeLessThanOrEqual(10);
  });

  it('5xx (our fault) stay at error, one line each, never summarised', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0 + 10 * 60_000);
    logger.lines.length = 0;
    failUserLookup = true;
    try {
      for (let i = 0; i < 5; i++) {
        const body = userValidation(`u${i}`);
        expect(await post(hooks.routes.xsolla, body, { authorization: signXsollaBody(body, SECRET) })).toBe(500);
      }
    } finally {
      failUserLookup = false;
    }
    expect(logger.at('error')).toHaveLength(5);
    expect(logger.at('warn')).toEqual([]);
  });
});

describe('the rejection log itself', () => {
  const forgedError = new SubscriptionWebhooksError('SIGNATURE_INVALID', 'forged');

  it("summarises at the window end through an unref'd timer when the flood stops", () => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    const log = recorder();
    for (let i = 0; i < 1234; i++) logRejection(log, forgedError, { i }, 'rejected: forged');
    expect(log.lines).toHaveLength(1);
    vi.advanceTimersByTime(59_000);
    expect(log.lines).toHaveLength(1);
    vi.advanceTimersByTime(1_100);
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'rejected: forged'],
      ['warn', 'rejected 1234 requests with code SIGNATURE_INVALID in the last 60s (only the first logged in full)'],
    ]);
    // Nothing more to say: no further timer, no repeated summary.
    vi.advanceTimersByTime(10 * 60_000);
    expect(log.lines).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a lone rejection gets no summary; 5xx and foreign errors are logged at error every time', () => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    const log = recorder();
    logRejection(log, forgedError, {}, 'once');
    for (let i = 0; i < 3; i++) logRejection(log, new SubscriptionWebhooksError('STORE_UNAVAILABLE', 'db down'), {}, 'db down');
    for (let i = 0; i < 2; i++) logRejection(log, Object.assign(new Error('not ours'), { status: 400, code: 'X' }), {}, 'not ours');
    vi.advanceTimersByTime(5 * 60_000);
    logRejection(log, forgedError, {}, 'again');
    expect(log.lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
      'warn once',
      'error db down',
      'error db down',
      'error db down',
      'error not ours',
      'error not ours',
      'warn again',
    ]);
  });

  it('tracks a bounded number of codes: the oldest is summarised early, never lost', () => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    const log = recorder();
    const limiter = new RejectionLog(log, { maxCodes: 3 });
    const codes = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    for (const c of codes) for (let i = 0; i < 5; i++) limiter.record(c, {}, `first ${c}`);
    expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBe(3);
    vi.advanceTimersByTime(61_000);
    const summaries = log.at('warn').filter((l) => l.msg.startsWith('rejected'));
    expect(summaries.map((l) => (l.obj as { code: string; count: number }).count)).toEqual(codes.map(() => 5));
    expect(summaries.map((l) => (l.obj as { code: string }).code).sort()).toEqual(codes);
    expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBe(0);
  });
});
