/**
 * The retention pruning statements of the SQL stores (pgStore, sqliteStore, prismaStore), one text per
 * dialect, so that every store prunes the same rows. Each statement touches at most `limit` rows (one
 * short statement, never a long lock); on PostgreSQL the rows are chosen with `FOR UPDATE SKIP LOCKED`,
 * so several instances pruning at once split the work instead of waiting on each other (SQLite runs one
 * writer at a time anyway). Parameters, in order: the cutoff(s) as listed, then the limit.
 */
import type { PruneCounts, PruneOptions } from './types.js';

/** Delivery attempt records go once older than both delivery windows (the earlier of the two cutoffs). */
export const attemptsBefore = (o: PruneOptions): string => (Date.parse(o.deliveredBefore) < Date.parse(o.failedBefore) ? o.deliveredBefore : o.failedBefore);

export type PruneDialect = 'postgresql' | 'sqlite';

/** One pruning step: its statement and the option values it binds (cutoffs, then the limit). */
export interface PruneStatement {
  step: keyof PruneCounts;
  sql: string;
  params(o: PruneOptions): Array<string | number>;
}

/**
 * The steps in the order they run: finished deliveries, then events none of whose deliveries
 * remain, raw bodies past their window (the row stays, compacted), dedup keys past theirs (by the
 * provider's date, `signed_at`; null is never pruned), duplicate/stale/rejected records (with raw bodies),
 * delivery attempts (past both delivery windows), callback receipts.
 */
export function pruneStatements(dialect: PruneDialect): readonly PruneStatement[] {
  const pg = dialect === 'postgresql';
  let n = 0;
  const p = (): string => (pg ? `$${++n}` : '?');
  const lock = pg ? ' FOR UPDATE SKIP LOCKED' : '';
  const key = (table: string, column: string, where: string, order: string): string => {
    n = 0;
    const w = where.replace(/\?/g, () => p());
    return `SELECT "${column}" FROM "${table}" WHERE ${w} ORDER BY ${order} LIMIT ${p()}${lock}`;
  };
  const [TRUE, FALSE] = pg ? ['true', 'false'] : ['1', '0'];
  return [
    {
      step: 'deliveries',
      sql: `DELETE FROM "sw_webhook_deliveries" WHERE "id" IN (${key(
        'sw_webhook_deliveries',
        'id',
        `(("status" IN ('delivered', 'disabled') AND "updated_at" < ?) OR ("status" = 'failed' AND "updated_at" < ?))`,
        '"updated_at"',
      )})`,
      params: (o) => [o.deliveredBefore, o.failedBefore, o.limit],
    },
    {
      step: 'events',
      sql: `DELETE FROM "sw_events" WHERE "sequence" IN (${key(
        'sw_events',
        'sequence',
        `"created" < ? AND NOT EXISTS (SELECT 1 FROM "sw_webhook_deliveries" d WHERE d."event_id" = "sw_events"."id")`,
        '"created"',
      )})`,
      params: (o) => [o.eventsBefore, o.limit],
    },
    {
      step: 'rawBodies',
      sql: `UPDATE "sw_notifications" SET "raw_body" = NULL, "compacted" = ${TRUE} WHERE "id" IN (${key(
        'sw_notifications',
        'id',
        `"compacted" = ${FALSE} AND "received_at" < ?`,
        '"compacted", "received_at"',
      )})`,
      params: (o) => [o.rawBodiesBefore, o.limit],
    },
    {
      step: 'notifications',
      sql: `DELETE FROM "sw_notifications" WHERE "id" IN (${key('sw_notifications', 'id', '"signed_at" < ?', '"signed_at"')})`,
      params: (o) => [o.notificationsBefore, o.limit],
    },
    {
      step: 'outcomes',
      sql: `DELETE FROM "sw_notification_outcomes" WHERE "id" IN (${key('sw_notification_outcomes', 'id', '"received_at" < ?', '"received_at"')})`,
      params: (o) => [o.rawBodiesBefore, o.limit],
    },
    {
      // Kept as long as the longer-kept of delivered and failed rows.
      step: 'attempts',
      sql: `DELETE FROM "sw_delivery_attempts" WHERE "id" IN (${key('sw_delivery_attempts', 'id', '"at" < ?', '"at"')})`,
      params: (o) => [attemptsBefore(o), o.limit],
    },
    {
      step: 'receipts',
      sql: `DELETE FROM "sw_webhook_receipts" WHERE "webhook_id" IN (${key('sw_webhook_receipts', 'webhook_id', '"received_at" < ?', '"received_at"')})`,
      params: (o) => [o.receiptsBefore, o.limit],
    },
  ];
}

/**
 * One batch of every step through `exec` (runs a statement, resolves how many rows it changed); each
 * statement is its own short transaction. `encode` turns a cutoff into the dialect's timestamp value.
 */
export async function pruneBatch(
  statements: readonly PruneStatement[],
  options: PruneOptions,
  exec: (sql: string, params: unknown[]) => Promise<number>,
  encode: (iso: string) => unknown,
): Promise<PruneCounts> {
  const counts: PruneCounts = { deliveries: 0, events: 0, rawBodies: 0, notifications: 0, receipts: 0, outcomes: 0, attempts: 0 };
  for (const s of statements) {
    const values = s.params(options).map((v) => (typeof v === 'string' ? encode(v) : v));
    counts[s.step] = await exec(s.sql, values);
  }
  return counts;
}
