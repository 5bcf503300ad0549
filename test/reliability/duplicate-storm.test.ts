/**
 * Issue 9, item 2: a duplicate storm across processes. 4 app processes (real HTTP) on one PostgreSQL;
 * 200 distinct Apple notifications, each sent 50 times, the copies of a notification racing each other
 * across the 4 processes → exactly 200 inbox rows, exactly the events a single in-order run produces
 * (byte-identical, none twice), and every contract in the same final state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness, type AppleHarness } from '../helpers/apple-harness.js';
import { APPLE_PATH, byId, forEachBounded, postApple, shuffle, type ProviderResult } from '../helpers/reliability.js';

const CONTRACTS = 100; // x (SUBSCRIBED, DID_RENEW) = 200 distinct notifications
const COPIES = 50;
// What 2 cores serve without queueing for seconds: the races are measured, not overload.
const IN_FLIGHT = 64;

describe('duplicate storm: 4 app processes, 200 notifications x 50 copies', { timeout: 180_000 }, () => {
  let db: TestDatabase<unknown> | undefined;
  const apps: AppProcess[] = [];
  let h: AppleHarness;
  beforeAll(async () => {
    h = await appleHarness(); // signs, and is the single-process in-order reference (memory store)
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop().catch(() => {})));
    await db?.close();
  });

  it('exactly 200 inbox rows, exactly the reference events (by id and content), contracts in their final state', async () => {
    db = await createPostgresStore();
    // Two processes on prismaStore, two on pgStore: both stores share the tables and the guarantees.
    apps.push(...(await Promise.all(Array.from({ length: 4 }, (_, i) => startAppProcess(db!.url, h.signer.rootCertificate, { env: { TEST_STORE: i % 2 ? 'pg' : 'prisma' } })))));
    const contracts = Array.from({ length: CONTRACTS }, () => h.contract());
    const purchases: string[] = [];
    const renewals: string[] = [];
    for (const c of contracts) purchases.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    for (const c of contracts) renewals.push(await h.sign('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() }));

    // Reference: each notification once, in order, one process, memory store.
    for (const p of [...purchases, ...renewals]) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const reference = byId(await h.store.listEvents());

    // The storm. Purchases first, then renewals (a renewal racing its own purchase is the out-of-order
    // suite's subject). Within a phase, the 50 copies of a notification are spread over the 4 processes
    // and sent close together (a few notifications' copies shuffled into one window), so they race.
    const results: ProviderResult[] = [];
    let seed = 7;
    for (const phase of [purchases, renewals]) {
      const requests: { payload: string; app: AppProcess }[] = [];
      for (let w = 0; w < phase.length; w += 4) {
        const window = phase.slice(w, w + 4).flatMap((payload) => Array.from({ length: COPIES }, (_, k) => ({ payload, app: apps[k % apps.length]! })));
        requests.push(...shuffle(window, seed++));
      }
      await forEachBounded(requests, IN_FLIGHT, async (r) => {
        results.push(await postApple(r.app.url, r.payload));
      });
    }

    expect(results).toHaveLength(2 * CONTRACTS * COPIES);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Exactly one answer per notification recorded it; all the others said "duplicate".
    expect(results.filter((r) => r.duplicate !== true)).toHaveLength(2 * CONTRACTS);
    expect(await db.store.countNotifications('apple')).toBe(2 * CONTRACTS);

    const events = await db.store.listEvents();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // none twice
    expect(ids.length).toBe(reference.size);
    const got = byId(events);
    expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [id, json] of reference) expect(got.get(id), id).toBe(json);

    const final = (await db.store.listSubscriptions()).map((s) => [s.contract_id, s.status, s.latest_transaction_id, s.current_period_end].join('|')).sort();
    const expected = (await h.store.listSubscriptions()).map((s) => [s.contract_id, s.status, s.latest_transaction_id, s.current_period_end].join('|')).sort();
    expect(final).toHaveLength(CONTRACTS);
    expect(final).toEqual(expected);
    expect((await db.store.listSubscriptions()).every((s) => s.status === 'active' && s.latest_transaction_id?.endsWith('-2'))).toBe(true);
  });
});
