/**
 * sqliteStore across processes on one database file (issue 16): a duplicate storm over 4 app processes
 * (BEGIN IMMEDIATE + busy timeout serialise their writers), and kill -9 in the middle of a burst
 * (synchronous=FULL, answered only after COMMIT): every notification that got a 200 is in the file after
 * the crash, and replaying the rest gives exactly the reference set.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness, type AppleHarness } from '../helpers/apple-harness.js';
import { APPLE_PATH, byId, expectCompleteAndExact, forEachBounded, postApple, shuffle, type ProviderResult } from '../helpers/reliability.js';

const SQLITE = { TEST_STORE: 'sqlite' };
/** The notificationUUID inside a signed payload (its JWS payload, not verified here: we signed it). */
const notificationId = (jws: string): string =>
  (JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as { notificationUUID: string }).notificationUUID;

describe('sqliteStore: several processes on one file', { timeout: 240_000 }, () => {
  let h: AppleHarness;
  const apps: AppProcess[] = [];
  const dirs: string[] = [];
  const handles: Database.Database[] = [];
  beforeAll(async () => {
    h = await appleHarness();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop().catch(() => {})));
    for (const d of handles) if (d.open) d.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const freshFile = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-sqlite-mp-'));
    dirs.push(dir);
    return join(dir, 'app.db');
  };
  /** The test's own view of the file (a separate connection: it sees what the processes committed). */
  const inspect = (file: string): Store => {
    const db = new Database(file);
    handles.push(db);
    return sqliteStore(db);
  };

  it('duplicate storm: 4 processes, 100 notifications x 20 copies: exactly 100 inbox rows, exactly the reference events, contracts in their final state', async () => {
    const CONTRACTS = 50;
    const COPIES = 20;
    const file = freshFile();
    // Started together: they also race to create the tables (each migration runs inside BEGIN IMMEDIATE).
    const started = await Promise.all(Array.from({ length: 4 }, () => startAppProcess(file, h.signer.rootCertificate, { env: SQLITE })));
    apps.push(...started);
    const contracts = Array.from({ length: CONTRACTS }, () => h.contract());
    const purchases: string[] = [];
    const renewals: string[] = [];
    for (const c of contracts) purchases.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    for (const c of contracts) renewals.push(await h.sign('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() }));
    const before = (await h.store.listEvents()).length;
    for (const p of [...purchases, ...renewals]) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const reference = byId((await h.store.listEvents()).slice(before));

    const results: ProviderResult[] = [];
    let seed = 11;
    for (const phase of [purchases, renewals]) {
      const requests: { payload: string; app: AppProcess }[] = [];
      for (let w = 0; w < phase.length; w += 4) {
        const window = phase.slice(w, w + 4).flatMap((payload) => Array.from({ length: COPIES }, (_, k) => ({ payload, app: started[k % started.length]! })));
        requests.push(...shuffle(window, seed++));
      }
      await forEachBounded(requests, 64, async (r) => {
        results.push(await postApple(r.app.url, r.payload));
      });
    }
    expect(results).toHaveLength(2 * CONTRACTS * COPIES);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.filter((r) => r.duplicate !== true)).toHaveLength(2 * CONTRACTS);

    const store = inspect(file);
    expect(await store.countNotifications('apple')).toBe(2 * CONTRACTS);
    const events = await store.listEvents();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const got = byId(events);
    expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [id, json] of reference) expect(got.get(id), id).toBe(json);
    const subs = await store.listSubscriptions();
    expect(subs).toHaveLength(CONTRACTS);
    expect(subs.every((s) => s.status === 'active' && s.latest_transaction_id?.endsWith('-2'))).toBe(true);
    await Promise.all(started.map((a) => a.stop()));
  });

  it('kill -9 mid-burst: every notification answered 200 is in the file after the crash; replaying the rest gives exactly the reference set', async () => {
    const NOTIFICATIONS = 200;
    const KILL_AFTER = 60;
    const file = freshFile();
    const a = await startAppProcess(file, h.signer.rootCertificate, { env: SQLITE });
    apps.push(a);
    const payloads: string[] = [];
    for (let i = 0; i < NOTIFICATIONS; i++) {
      const c = h.contract();
      payloads.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    }
    const before = (await h.store.listEvents()).length;
    for (const p of payloads) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const reference = byId((await h.store.listEvents()).slice(before));

    const last: ProviderResult[] = [];
    let answered = 0;
    let killed: Promise<unknown> | undefined;
    await forEachBounded(payloads, 32, async (p, i) => {
      last[i] = await postApple(a.url, p);
      if (++answered === KILL_AFTER) killed = a.kill();
    });
    await killed;
    const ok = payloads.map((_, i) => i).filter((i) => last[i]!.status === 200);
    const failed = payloads.map((_, i) => i).filter((i) => last[i]!.status !== 200);
    expect(failed.length).toBeGreaterThan(0); // the crash did cost answers
    expect(ok.length).toBeGreaterThanOrEqual(KILL_AFTER - 32);

    // After the crash, before any restart: every acknowledged notification is in the file.
    const store = inspect(file);
    for (const i of ok) expect(await store.getNotification('apple', notificationId(payloads[i]!)), `notification ${i}`).not.toBeNull();

    // Restart; Apple retries everything without a 200 until it gets one.
    const a2 = await startAppProcess(file, h.signer.rootCertificate, { env: SQLITE });
    apps.push(a2);
    let pending = failed;
    for (let round = 0; round < 5 && pending.length > 0; round++) {
      const still: number[] = [];
      await forEachBounded(pending, 16, async (i) => {
        if ((await postApple(a2.url, payloads[i]!)).status !== 200) still.push(i);
      });
      pending = still;
    }
    expect(pending).toEqual([]);
    await expectCompleteAndExact(store, reference, NOTIFICATIONS);
    await a2.stop();
  });
});
