import express from 'express';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { createSubscriptionWebhooks, type DomainEvent, type Logger, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { EventBus } from '../../src/events/bus.js';
import { signXsollaBody } from '../../src/testing/index.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { gate } from '../helpers/gate.js';
import { loopbackServers } from '../helpers/loopback.js';

// When bus subscribers run relative to the provider's answer (`subscribers.mode`), and how long one may take
// (`subscribers.timeoutMs`). Ordering is measured, never time: a subscriber is held on a gate while HTTP round
// trips on the same server show whether the answer has arrived.

const SECRET = 'xsolla-subscribers-secret';
const PROJECT_ID = 7;

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function capture(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj: (obj ?? {}) as Record<string, unknown>, msg: String(msg) });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const servers = loopbackServers();
afterAll(() => servers.closeAll());

let n = 0;
/** A Xsolla payment (one `order.paid` and its `provider.notification.received`), unique per call. */
function payment(): string {
  n += 1;
  return JSON.stringify({
    notification_type: 'payment',
    settings: { project_id: PROJECT_ID },
    user: { id: `u-${n}` },
    purchase: { total: { amount: 9.99, currency: 'USD' } },
    transaction: { id: 90_000 + n + Math.floor(Math.random() * 1e6), payment_date: '2026-01-01T00:00:00+00:00', dry_run: 1 },
  });
}

/** Hooks on `store` behind a real Express server on 127.0.0.1, with a `/ping` route to count round trips. */
async function serve(store: Store, subscribers?: SubscriptionWebhooksConfig['subscribers']) {
  const logger = capture();
  const hooks = createSubscriptionWebhooks({ xsolla: { projectId: PROJECT_ID, secretKey: SECRET }, store, logger, ...(subscribers ? { subscribers } : {}) });
  const app = express();
  app.use(subscriptionWebhooks(hooks));
  app.get('/ping', (_req, res) => void res.end('pong'));
  const base = await servers.listen(app);
  const post = async (body = payment()) => {
    const res = await fetch(`${base}${hooks.routes.xsolla}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: signXsollaBody(body, SECRET) },
      body,
    });
    await res.text();
    return res.status;
  };
  /** Full HTTP round trips on the same server: an answer already written arrives before they end. */
  const roundTrips = async (count = 3) => {
    for (let i = 0; i < count; i++) await (await fetch(`${base}/ping`)).text();
  };
  return { hooks, logger, post, roundTrips };
}

/** Whether `p` has settled by now (after pending reactions ran). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

const recordedIds = async (store: Store) => (await store.listEvents({})).map((e) => e.id);

const HTTP_STORES = EVERY_STORE;

describe.each(HTTP_STORES)('subscribers over HTTP (Express) on %s', (_name, make) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  async function open(subscribers?: SubscriptionWebhooksConfig['subscribers']) {
    const made = await make();
    close = made.close;
    return { store: made.store, ...(await serve(made.store, subscribers)) };
  }

  it('before_response (the default): the answer waits for a held subscriber, which sees its event already recorded', async () => {
    const { store, hooks, post, roundTrips } = await open();
    const g = gate();
    let recordedWhenCalled: boolean | undefined;
    hooks.bus.subscribe('order.paid', async function holdsPaid(event) {
      recordedWhenCalled = (await recordedIds(store)).includes(event.id);
      await g.wait();
    });
    const answer = post();
    await g.atGate;
    await roundTrips();
    expect(await settled(answer), 'the answer must wait for the subscriber').toBe(false);
    expect(recordedWhenCalled).toBe(true);
    g.release();
    expect(await answer).toBe(204);
  });

  it('after_response: the answer arrives while the subscriber is still held; its events were recorded before it', async () => {
    const { store, hooks, post, roundTrips } = await open({ mode: 'after_response' });
    const g = gate();
    const seen: DomainEvent[] = [];
    let finished = false;
    hooks.bus.subscribe('order.paid', async function holdsPaid(event) {
      seen.push(event);
      await g.wait();
      finished = true;
    });
    const answer = post();
    await g.atGate;
    await roundTrips();
    expect(await settled(answer), 'the answer must not wait for the subscriber').toBe(true);
    expect(await answer).toBe(204);
    expect(finished).toBe(false);
    expect(await recordedIds(store)).toContain(seen[0]!.id);
    g.release();
    expect(await hooks.bus.drain()).toBe(true);
    expect(finished).toBe(true);
  });

  it.each(['before_response', 'after_response'] as const)(
    '%s: a throwing subscriber is logged with the event id and its name, the next one still runs, the answer is 2xx',
    async (mode) => {
      const { store, hooks, logger, post } = await open({ mode });
      const ran: string[] = [];
      hooks.bus.subscribe('order.paid', async function grantAccess() {
        await Promise.resolve();
        throw new Error('boom');
      });
      hooks.bus.subscribe('order.paid', (e) => void ran.push(e.id));
      expect(await post()).toBe(204);
      await hooks.bus.drain();
      const [paid] = await store.listEvents({ type: 'order.paid' });
      expect(ran).toEqual([paid!.id]);
      const failure = logger.lines.find((l) => l.msg === 'event subscriber failed');
      expect(failure?.level).toBe('error');
      expect(failure?.obj).toMatchObject({ eventId: paid!.id, type: 'order.paid', subscriber: 'grantAccess' });
      expect((failure?.obj.err as Error).message).toBe('boom');
    },
  );

  it.each(['before_response', 'after_response'] as const)(
    '%s: a subscriber that never settles is logged once it times out and holds neither the answer nor the next subscriber',
    async (mode) => {
      const { store, hooks, logger, post } = await open({ mode, timeoutMs: 25 });
      const ran: string[] = [];
      hooks.bus.subscribe('order.paid', function hangs() {
        return new Promise(() => {});
      });
      hooks.bus.subscribe('order.paid', (e) => void ran.push(e.id));
      expect(await post()).toBe(204);
      expect(await hooks.bus.drain()).toBe(true);
      const [paid] = await store.listEvents({ type: 'order.paid' });
      expect(ran).toEqual([paid!.id]);
      const timedOut = logger.lines.filter((l) => l.msg.startsWith('event subscriber timed out'));
      expect(timedOut).toHaveLength(1);
      expect(timedOut[0]!.level).toBe('error');
      expect(timedOut[0]!.obj).toMatchObject({ eventId: paid!.id, type: 'order.paid', subscriber: 'hangs', timeoutMs: 25 });
    },
  );

  it.each(['before_response', 'after_response'] as const)(
    '%s: nothing is answered before the events are recorded (the transaction held right before it writes them)',
    async (mode) => {
      const made = await make();
      close = made.close;
      const g = gate();
      const held: Store = Object.create(made.store) as Store;
      held.transaction = (fn) =>
        made.store.transaction((tx) => {
          const wrapped = Object.create(tx) as typeof tx;
          wrapped.insertEvents = async (events) => {
            await g.wait();
            return tx.insertEvents(events);
          };
          return fn(wrapped);
        });
      const { hooks, post, roundTrips } = await serve(held, { mode });
      let published = 0;
      hooks.bus.subscribe(() => void (published += 1));
      const answer = post();
      await g.atGate;
      await roundTrips();
      expect(await settled(answer), 'no answer before the commit').toBe(false);
      expect(published).toBe(0);
      g.release();
      expect(await answer).toBe(204);
      expect((await made.store.listEvents({ type: 'order.paid' })).length).toBe(1);
    },
  );

  it('after_response: hooks.delivery.stop() waits for a run in flight, and returns when it ends', async () => {
    const { hooks, post, roundTrips } = await open({ mode: 'after_response' });
    const g = gate();
    let finished = false;
    hooks.bus.subscribe('order.paid', async () => {
      await g.wait();
      finished = true;
    });
    expect(await post()).toBe(204);
    await g.atGate;
    const stopped = hooks.delivery.stop();
    await roundTrips();
    expect(await settled(stopped), 'stop() must wait for the subscriber run in flight').toBe(false);
    g.release();
    await stopped;
    expect(finished).toBe(true);
  });
});

describe('subscribers config', () => {
  it('refuses an unknown mode and a non-positive timeout, naming the key', () => {
    const base = { xsolla: { projectId: PROJECT_ID, secretKey: SECRET } };
    expect(() => createSubscriptionWebhooks({ ...base, subscribers: { mode: 'later' as never } })).toThrow(/subscribers\.mode/);
    expect(() => createSubscriptionWebhooks({ ...base, subscribers: { timeoutMs: 0 } })).toThrow(/subscribers\.timeoutMs/);
  });
});

describe('EventBus', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times a never-settling subscriber out after 10 s by default, logs it, and clears its timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const logger = capture();
    const bus = new EventBus(logger);
    const ran: string[] = [];
    bus.subscribe(() => new Promise(() => {}));
    bus.subscribe((e) => void ran.push(e.id));
    const event = { id: 'evt_1', type: 'order.paid' } as DomainEvent;
    const published = bus.publish([event]);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(await settled(published)).toBe(false);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await published;
    expect(ran).toEqual(['evt_1']);
    const line = logger.lines.find((l) => l.msg.startsWith('event subscriber timed out'));
    expect(line?.obj).toMatchObject({ eventId: 'evt_1', timeoutMs: 10_000, subscriber: 'subscriber 1 (*)' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a subscriber's timer is unref'd (a hung subscriber never keeps the process alive) and cleared when it settles", async () => {
    const unrefs: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const t = realSetTimeout(fn, ms);
      const unref = t.unref.bind(t);
      t.unref = () => {
        unrefs.push(ms ?? 0);
        return unref();
      };
      return t;
    }) as typeof setTimeout);
    const clear = vi.spyOn(globalThis, 'clearTimeout');
    try {
      const bus = new EventBus(capture(), { timeoutMs: 5_000 });
      bus.subscribe(async () => {});
      await bus.publish([{ id: 'evt_2', type: 'order.paid' } as DomainEvent]);
      expect(unrefs).toEqual([5_000]);
      expect(clear).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      clear.mockRestore();
    }
  });

  it('a subscriber that rejects after it timed out is logged, never an unhandled rejection', async () => {
    const logger = capture();
    const bus = new EventBus(logger, { timeoutMs: 5 });
    const g = gate();
    bus.subscribe('order.paid', async function late() {
      await g.wait();
      throw new Error('too late');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await bus.publish([{ id: 'evt_3', type: 'order.paid' } as DomainEvent]);
      expect(logger.lines.map((l) => l.msg)).toEqual(['event subscriber timed out after 5 ms']);
      g.release();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      const late = logger.lines.find((l) => l.msg === 'event subscriber failed after it timed out');
      expect(late?.obj).toMatchObject({ eventId: 'evt_3', subscriber: 'late' });
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('drain() is bounded: a run that never ends is given up on after the bound, and says so', async () => {
    const logger = capture();
    const bus = new EventBus(logger, { mode: 'after_response', timeoutMs: 60_000 });
    bus.subscribe(() => new Promise(() => {}));
    await bus.publish([{ id: 'evt_4', type: 'order.paid' } as DomainEvent]);
    expect(await bus.drain(10)).toBe(false);
    expect(logger.lines.find((l) => l.level === 'warn')?.obj).toMatchObject({ running: 1, timeoutMs: 10 });
  });

  it('a subscriber named at subscribe() is logged by that name; subscribing a handler twice still runs it once', async () => {
    const logger = capture();
    const bus = new EventBus(logger);
    let calls = 0;
    const handler = () => {
      calls += 1;
      throw new Error('x');
    };
    bus.subscribe('order.paid', handler, { name: 'crm-sync' });
    bus.subscribe('order.paid', handler);
    await bus.publish([{ id: 'evt_5', type: 'order.paid' } as DomainEvent]);
    expect(calls).toBe(1);
    expect(logger.lines[0]!.obj).toMatchObject({ subscriber: 'crm-sync', eventId: 'evt_5' });
  });
});
