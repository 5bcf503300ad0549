import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubscriptionWebhooksError } from '../../src/core/errors.js';
import { pgStore } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/types.js';
import {
  sampleDelivery,
  sampleEndpoint,
  sampleEvent,
  sampleInbox,
  sampleOrder,
  sampleSetting,
  sampleSubscription,
} from '../../src/testing/store-conformance.js';
import { createPgDriverStore, type TestDatabase } from '../helpers/databases.js';

// pgStore-specific behaviour beyond the shared conformance suite (test/store/store-conformance.test.ts):
// the buffered writes of a transaction, interop with prismaStore's rows, and an unreachable database.
describe('pgStore', () => {
  let db: TestDatabase<unknown> & { pool: pg.Pool };
  let store: Store;
  const unique = () => Math.random().toString(36).slice(2, 10);
  beforeAll(async () => {
    db = await createPgDriverStore();
    store = db.store;
  });
  afterAll(() => db?.close());

  it('reads its own buffered writes inside a transaction, and commits them all or none', async () => {
    const s = unique();
    const seen = await store.transaction(async (tx) => {
      await tx.saveOrder(sampleOrder(s, { trade_no: `tx_${s}` }));
      const byNo = await tx.getOrderByNo(`no_${s}`);
      const byTrade = await tx.getOrderByTradeNo('apple', `tx_${s}`);
      // Rewritten in the same transaction: the old trade number no longer finds it.
      await tx.saveOrder(sampleOrder(s, { trade_no: `tx2_${s}` }));
      return {
        byNo: byNo?.trade_no,
        byTrade: byTrade?.no,
        old: await tx.getOrderByTradeNo('apple', `tx_${s}`),
        moved: (await tx.getOrderByTradeNo('apple', `tx2_${s}`))?.no,
      };
    });
    expect(seen).toEqual({ byNo: `tx_${s}`, byTrade: `no_${s}`, old: null, moved: `no_${s}` });
    expect((await store.getOrderByNo(`no_${s}`))?.trade_no).toBe(`tx2_${s}`);
    // A committed order rewritten in a later transaction: a lookup by its old trade number finds nothing.
    await store.transaction(async (tx) => {
      await tx.saveOrder(sampleOrder(s, { trade_no: `tx3_${s}` }));
      expect(await tx.getOrderByTradeNo('apple', `tx2_${s}`)).toBeNull();
    });
    const failed = store.transaction(async (tx) => {
      await tx.saveOrder(sampleOrder(`${s}x`));
      await tx.saveSubscription(sampleSubscription(`${s}x`));
      await tx.insertEvents([sampleEvent(`${s}x`, 1)]);
      throw new Error('boom');
    });
    await expect(failed).rejects.toThrow('boom');
    expect(await store.getOrderByNo(`no_${s}x`)).toBeNull();
    expect(await store.getSubscription('apple', `contract_${s}x`)).toBeNull();
  });

  it('insertNotificationAndLoad: one round trip answers the getters it covered exactly as queries would; a duplicate loads nothing', async () => {
    const s = unique();
    const endpoint = sampleEndpoint(s);
    const setting = sampleSetting(s);
    await store.transaction(async (tx) => {
      await tx.saveOrder(sampleOrder(s, { trade_no: `tx_${s}` }));
      await tx.saveSubscription(sampleSubscription(s));
      await tx.saveWebhookEndpoint(endpoint);
      await tx.saveNotificationSetting(setting);
    });
    const reads = {
      subscriptions: [
        { provider: 'apple' as const, contractId: `contract_${s}` },
        { provider: 'apple' as const, contractId: `missing_${s}` },
      ],
      orderNos: [`no_${s}`, `nope_${s}`],
      orderTradeNos: [{ provider: 'apple' as const, tradeNo: `tx_${s}` }],
      settings: [setting.mountLocation, `nothing_${s}`],
      webhookEndpoints: true,
    };
    const viaQueries = await store.transaction(async (tx) => ({
      sub: await tx.getSubscription('apple', `contract_${s}`),
      missing: await tx.getSubscription('apple', `missing_${s}`),
      byNo: await tx.getOrderByNo(`no_${s}`),
      nope: await tx.getOrderByNo(`nope_${s}`),
      byTrade: await tx.getOrderByTradeNo('apple', `tx_${s}`),
      setting: await tx.getNotificationSetting(setting.mountLocation),
      noSetting: await tx.getNotificationSetting(`nothing_${s}`),
      endpoints: await tx.listWebhookEndpoints(),
    }));
    const loaded = await store.transaction(async (tx) => {
      expect(await tx.insertNotificationAndLoad!(sampleInbox(s), reads)).toBe(true);
      const out = {
        sub: await tx.getSubscription('apple', `contract_${s}`),
        missing: await tx.getSubscription('apple', `missing_${s}`),
        byNo: await tx.getOrderByNo(`no_${s}`),
        nope: await tx.getOrderByNo(`nope_${s}`),
        byTrade: await tx.getOrderByTradeNo('apple', `tx_${s}`),
        setting: await tx.getNotificationSetting(setting.mountLocation),
        noSetting: await tx.getNotificationSetting(`nothing_${s}`),
        endpoints: await tx.listWebhookEndpoints(),
      };
      // A later write in the same transaction is seen by the getters.
      await tx.saveWebhookEndpoint({ ...endpoint, description: 'changed' });
      expect((await tx.listWebhookEndpoints()).find((e) => e.id === endpoint.id)?.description).toBe('changed');
      // The missing subscription was read as absent, so saving it inserts it.
      await tx.saveSubscription(sampleSubscription(`${s}m`, { contract_id: `missing_${s}` }));
      return out;
    });
    expect(loaded).toEqual(viaQueries);
    expect(loaded.sub?.contract_id).toBe(`contract_${s}`);
    expect(loaded.missing).toBeNull();
    expect(loaded.endpoints.some((e) => e.id === endpoint.id)).toBe(true);
    expect(await store.getSubscription('apple', `missing_${s}`)).not.toBeNull();
    // The same notification again: a duplicate, and nothing it would have read is taken from a load.
    const again = await store.transaction((tx) => tx.insertNotificationAndLoad!(sampleInbox(s), reads));
    expect(again).toBe(false);
  });

  it('a fan-out larger than one statement may carry (3,000 deliveries × 12 columns) is written completely', async () => {
    const s = unique();
    const endpoint = sampleEndpoint(s);
    const events = Array.from({ length: 3000 }, (_, i) => sampleEvent(s, i));
    await store.transaction(async (tx) => {
      await tx.saveWebhookEndpoint(endpoint);
      await tx.insertEvents(events);
      await tx.insertDeliveries(events.map((e, i) => sampleDelivery(endpoint.id, e.id, Date.now() + i)));
    });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM "sw_webhook_deliveries" WHERE "endpoint_id" = $1', [endpoint.id]);
    expect(rows[0].n).toBe(3000);
    expect((await store.listEvents()).filter((e) => e.id.includes(s))).toHaveLength(3000);
  });

  it('deleting an endpoint in the transaction that fanned out to it leaves none of its deliveries', async () => {
    const s = unique();
    const endpoint = sampleEndpoint(s);
    await store.transaction((tx) => tx.saveWebhookEndpoint(endpoint));
    await store.transaction(async (tx) => {
      await tx.insertEvents([sampleEvent(s, 1)]);
      await tx.insertDeliveries([sampleDelivery(endpoint.id, sampleEvent(s, 1).id, Date.now())]);
      expect(await tx.deleteWebhookEndpoint(endpoint.id)).toBe(true);
    });
    expect(await store.listDeliveries({ endpointId: endpoint.id })).toEqual([]);
  });

  it('timestamps round-trip exactly as UTC whatever the session and process time zones', async () => {
    const s = unique();
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York'; // node-postgres would parse "timestamp" columns in this zone
    const pool = new pg.Pool({ connectionString: db.url, max: 2, options: '-c timezone=Asia/Shanghai' });
    try {
      const other = pgStore(pool);
      const sub = sampleSubscription(s, { current_period_end: '2030-01-02T03:04:05.678Z' });
      await other.transaction((tx) => tx.saveSubscription(sub));
      expect((await store.getSubscription('apple', `contract_${s}`))?.current_period_end).toBe('2030-01-02T03:04:05.678Z');
      expect((await other.getSubscription('apple', `contract_${s}`))?.created).toBe(sub.created);
      // Stored as the UTC wall time, as prismaStore stores it.
      const { rows } = await db.pool.query(
        `SELECT to_char("current_period_end", 'YYYY-MM-DD HH24:MI:SS.MS') AS t FROM "sw_subscriptions" WHERE "contract_id" = $1`,
        [`contract_${s}`],
      );
      expect(rows[0].t).toBe('2030-01-02 03:04:05.678');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
      await pool.end();
    }
  });

  it('an unreachable database is STORE_UNAVAILABLE from transactions and reads', async () => {
    const pool = new pg.Pool({ connectionString: 'postgresql://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    pool.on('error', () => {});
    const down = pgStore(pool, { endPoolOnClose: true });
    try {
      const tx = await down.transaction((t) => t.insertEvents([sampleEvent(unique(), 1)])).catch((e: unknown) => e);
      expect(tx).toBeInstanceOf(SubscriptionWebhooksError);
      expect((tx as SubscriptionWebhooksError).code).toBe('STORE_UNAVAILABLE');
      const read = await down.listEvents().catch((e: unknown) => e);
      expect((read as SubscriptionWebhooksError).code).toBe('STORE_UNAVAILABLE');
    } finally {
      await down.close?.();
    }
  });
});
