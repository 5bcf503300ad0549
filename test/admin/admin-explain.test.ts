import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminReadModel, type AdminReadModel } from '../../src/admin/read-model.js';
import { sqlAdminSource } from '../../src/store/admin-source.js';
import { pgCodec } from '../../src/store/sql-tables.js';
import type { Store } from '../../src/store/types.js';
import { createPgDriverStore } from '../helpers/databases.js';

const ROWS = 100_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(nodes)];

/**
 * Every list the dashboard pages through reads an index on PostgreSQL with 100,000 rows per table
 * (the plans of the read model's own statements, with the parameters it sends).
 */
describe('admin read model query plans on PostgreSQL (100,000 rows)', () => {
  let db: Awaited<ReturnType<typeof createPgDriverStore>>;
  let rm: AdminReadModel;
  const plans: Array<{ sql: string; nodes: PlanNode[] }> = [];

  beforeAll(async () => {
    db = await createPgDriverStore();
    const q = (sql: string) => db.pool.query(sql);
    const t = (i: string) => `(timestamp '2026-01-01' + (${i}) * interval '1 second')`;
    await q(`INSERT INTO "sw_notifications" ("id", "provider", "notification_id", "notification_type", "received_at", "raw_body", "payload")
      SELECT 'row' || i, CASE WHEN i % 2 = 0 THEN 'apple' ELSE 'xsolla' END, 'n' || i, CASE WHEN i % 10 = 0 THEN 'REFUND' ELSE 'DID_RENEW' END, ${t('i')}, '', '{}'::jsonb FROM generate_series(1, ${ROWS}) i`);
    await q(`INSERT INTO "sw_orders" ("id", "no", "provider", "trade_no", "origin_no", "status", "user_id", "metadata", "created_at", "updated_at")
      SELECT 'ord' || i, 'no' || i, 'apple', 'tx' || i, 'c' || (i / 3), CASE WHEN i % 7 = 0 THEN 'refunded' ELSE 'paid' END, 'u' || (i % 5000), '{}'::jsonb, ${t('i')}, ${t('i')} FROM generate_series(1, ${ROWS}) i`);
    await q(`INSERT INTO "sw_subscriptions" ("id", "provider", "contract_id", "user_id", "product_id", "status", "auto_renew", "environment", "metadata", "created_at", "updated_at")
      SELECT 'sub' || i, 'apple', 'c' || i, 'u' || (i % 5000), 'pro', 'active', true, 'Production', '{}'::jsonb, ${t('i')}, ${t('i')} FROM generate_series(1, ${ROWS}) i`);
    await q(
      `INSERT INTO "sw_events" ("id", "type", "provider", "created", "body", "subject") SELECT 'evt' || i, 'order.paid', 'apple', ${t('i')},
      json_build_object('id', 'evt' || i, 'type', 'order.paid', 'provider', 'apple', 'data', json_build_object('object', json_build_object('id', 'ord' || i, 'origin_no', 'c' || (i / 3))), 'source', json_build_object('notification_id', 'n' || i))::text,
      'c' || (i / 3) FROM generate_series(1, ${ROWS}) i`,
    );
    await q(`INSERT INTO "sw_entitlement_grants" ("subscription_id", "entitlement", "user_id", "provider", "product_id", "status", "updated_at")
      SELECT 'sub' || i, CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'basic' END, 'u' || (i % 5000), 'apple', 'pro', CASE WHEN i % 9 = 0 THEN 'canceled' ELSE 'active' END, ${t('i')} FROM generate_series(1, ${ROWS}) i`);
    await q(`INSERT INTO "sw_notification_outcomes" ("id", "provider", "outcome", "code", "status", "received_at")
      SELECT 'out' || i, CASE WHEN i % 2 = 0 THEN 'apple' ELSE 'xsolla' END, CASE WHEN i % 3 = 0 THEN 'duplicate' WHEN i % 3 = 1 THEN 'stale' ELSE 'rejected' END,
      CASE WHEN i % 4 = 0 THEN 'SIGNATURE_INVALID' ELSE 'INVALID_PAYLOAD' END, 400, ${t('i * 26')} FROM generate_series(1, ${ROWS}) i`);
    await q(`INSERT INTO "sw_delivery_attempts" ("id", "delivery_id", "endpoint_id", "attempt", "status_code", "duration_ms", "at")
      SELECT 'att' || i, 'dlv' || (i / 2), 'we_' || (i % 20), 1 + i % 2, 500, 20, ${t('i')} FROM generate_series(1, ${ROWS}) i`);
    await q(`INSERT INTO "sw_webhook_deliveries" ("id", "endpoint_id", "event_id", "status", "attempts", "created_at", "updated_at")
      SELECT 'dlv' || i, 'we_' || (i % 20), 'evt' || i, CASE WHEN i % 100 = 0 THEN 'failed' WHEN i % 50 = 0 THEN 'pending' ELSE 'delivered' END, 1, ${t('i')}, ${t('i')} FROM generate_series(1, ${ROWS}) i`);
    await q(
      `INSERT INTO "sw_admin_audit" ("id", "at", "actor", "action", "target", "result") SELECT 'aud' || i, ${t('i')}, 'ops', 'delivery.replay', 'dlv' || i, 'ok' FROM generate_series(1, ${ROWS}) i`,
    );
    // What autovacuum does on a live database: statistics and the visibility map (index-only scans for the overview's counts).
    await q('VACUUM ANALYZE');
    // The read model's statements, each also explained with the same parameters.
    const explaining = sqlAdminSource('postgresql', pgCodec, async (sql, params) => {
      if (!sql.startsWith('INSERT')) {
        const { rows } = await db.pool.query({ text: `EXPLAIN (FORMAT JSON) ${sql}`, values: [...params] });
        plans.push({ sql, nodes: nodes((rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]!.Plan) });
      }
      return (await db.pool.query({ text: sql, values: [...params] })).rows as Record<string, unknown>[];
    });
    rm = adminReadModel({ name: 'explained', ...explaining } as unknown as Store);
  }, 180_000);
  afterAll(() => db?.close());

  const BIG = [
    'sw_notifications',
    'sw_orders',
    'sw_subscriptions',
    'sw_events',
    'sw_webhook_deliveries',
    'sw_admin_audit',
    'sw_notification_outcomes',
    'sw_delivery_attempts',
    'sw_entitlement_grants',
  ];
  async function expectIndexed(run: () => Promise<unknown>): Promise<void> {
    plans.length = 0;
    await run();
    expect(plans.length).toBeGreaterThan(0);
    for (const p of plans) {
      const seq = p.nodes.filter((n) => n['Node Type'] === 'Seq Scan' && BIG.includes(n['Relation Name'] ?? '')).map((n) => n['Relation Name']);
      expect(seq, `${p.sql}\n${JSON.stringify(p.nodes.map((n) => [n['Node Type'], n['Relation Name'], n['Index Name']]))}`).toEqual([]);
      expect(
        p.nodes.some((n) => /Index/.test(n['Node Type'])),
        p.sql,
      ).toBe(true);
    }
  }

  it('notifications: first page, a later page, by provider, by type, by time range', async () => {
    const first = await rm.listNotifications({}, { limit: 50 });
    await expectIndexed(() => rm.listNotifications({}, { limit: 50 }));
    await expectIndexed(() => rm.listNotifications({}, { limit: 50, after: first.next }));
    await expectIndexed(() => rm.listNotifications({ provider: 'xsolla' }, { limit: 50 }));
    await expectIndexed(() => rm.listNotifications({ type: 'REFUND' }, { limit: 50 }));
    await expectIndexed(() => rm.listNotifications({ since: '2026-01-01T10:00:00Z', until: '2026-01-01T11:00:00Z' }));
  });

  it('a notification with its events and deliveries', async () => {
    await expectIndexed(() => rm.getNotification('apple', 'n500'));
  });

  it('orders: pages, by status, by user', async () => {
    const first = await rm.listOrders({}, { limit: 50 });
    await expectIndexed(() => rm.listOrders({}, { after: first.next }));
    await expectIndexed(() => rm.listOrders({ status: 'refunded' }));
    await expectIndexed(() => rm.listOrders({ userId: 'u42' }));
  });

  it('deliveries: pages, failed, pending by endpoint', async () => {
    const first = await rm.listDeliveries({}, { limit: 50 });
    await expectIndexed(() => rm.listDeliveries({}, { after: first.next }));
    await expectIndexed(() => rm.listDeliveries({ status: 'failed' }));
    await expectIndexed(() => rm.listDeliveries({ status: 'pending', endpointId: 'we_3' }));
  });

  it('subscription search by user, contract, order no and transaction id', async () => {
    for (const term of ['u42', 'c42', 'no42', 'tx42']) await expectIndexed(() => rm.searchSubscriptions(term));
  });

  it("the overview's counts (subscriptions, notifications per hour, backlog, rejections by code) and the backlog by endpoint", async () => {
    // Outcomes span 30 days (their retention), the overview reads the last 48 hours of them.
    await expectIndexed(() => rm.overview('2026-01-20T00:00:00Z'));
    await expectIndexed(() => rm.deliveryBacklog());
  });

  it('duplicates, stale and rejected requests: pages, by outcome, by provider and outcome, by time range', async () => {
    const first = await rm.listOutcomes({}, { limit: 50 });
    await expectIndexed(() => rm.listOutcomes({}, { after: first.next }));
    await expectIndexed(() => rm.listOutcomes({ outcome: 'rejected' }));
    await expectIndexed(() => rm.listOutcomes({ outcome: 'stale', provider: 'xsolla' }));
    await expectIndexed(() => rm.listOutcomes({ since: '2026-01-01T10:00:00Z', until: '2026-01-01T11:00:00Z' }));
  });

  it("a delivery with its attempts; a subscription's timeline (events by subject)", async () => {
    await expectIndexed(() => rm.getDelivery('dlv500'));
    expect((await rm.getDelivery('dlv500'))!.attempts).toHaveLength(2);
    await expectIndexed(() => rm.getSubscription('sub42'));
    expect((await rm.getSubscription('sub42'))!.events.map((e) => e.id)).toEqual(['evt128', 'evt127', 'evt126']);
  });

  it('the audit log', async () => {
    const first = await rm.listAudit({ limit: 50 });
    await expectIndexed(() => rm.listAudit({ after: first.next }));
  });
});
