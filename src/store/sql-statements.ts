import * as T from './sql-tables.js';
import { selectColumns, type ColumnSpec, type SqlDialect } from './sql-tables.js';
import { pruneStatements } from './retention-sql.js';
import type { SubscriptionFilter } from './types.js';

/** What a statement needs of a table: its name and columns. */
export interface TableColumns {
  name: string;
  columns: readonly ColumnSpec[];
}

/**
 * The SQL the stores share, one text per dialect, built once from the table description (sql-tables.ts):
 * sqliteStore prepares these texts, pgStore sends them through node-postgres, prismaStore through
 * `$queryRawUnsafe` / `$executeRawUnsafe`. Written with `?` placeholders, numbered `$1…` for
 * PostgreSQL; a value used twice is bound twice, so both dialects take the same values in the same order.
 * Table and column names are ours, never input.
 */

/** First key of the PostgreSQL advisory lock taken on a user's entitlements ("SW"); the second is hashtext(user_id). */
export const GRANT_LOCK_NAMESPACE = 0x5357;

/** `?` placeholders numbered `$1, $2, …` (our statements hold no `?` anywhere else). */
export const numbered = (sql: string): string => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

/** The values of `SQL.subscriptions`, in order: each filter is bound twice (`? IS NULL OR column = ?`). */
export const subscriptionFilterValues = (f: SubscriptionFilter): (string | null)[] =>
  [f.userId, f.provider, f.status, f.appTransactionId].flatMap((value) => [value ?? null, value ?? null]);

const columnList = (columns: readonly ColumnSpec[]): string => columns.map((c) => `"${c.name}"`).join(', ');
const rowPlaceholders = (rows: number, width: number): string =>
  Array.from({ length: rows }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ');
/** `ON CONFLICT (key) DO UPDATE SET` every column of `spec`. */
const onConflictUpdate = (spec: TableColumns, key: string): string =>
  `ON CONFLICT (${key}) DO UPDATE SET ${spec.columns.map((c) => `"${c.name}" = excluded."${c.name}"`).join(', ')}`;

/** The statements of one dialect. */
export function sqlStatements(dialect: SqlDialect) {
  const pg = dialect === 'postgresql';
  const text = pg ? numbered : (sql: string) => sql;
  /** Inside a transaction, PostgreSQL locks the row read (SQLite has one writer at a time anyway). */
  const forUpdate = pg ? ' FOR UPDATE' : '';
  /** `column` is one of the list bound at this placeholder ({@link SqlStatements.list} encodes the list). */
  const inList = (column: string): string => (pg ? `${column} = ANY(CAST(? AS text[]))` : `${column} IN (SELECT "value" FROM json_each(?))`);
  const selectFrom = (spec: TableColumns, where: string, alias = ''): string =>
    `SELECT ${selectColumns(dialect, spec.columns, alias)} FROM "${spec.name}" ${where}`;
  const { ORDERS, SUBSCRIPTIONS, INBOX, SETTINGS, ENDPOINTS, DELIVERIES, GRANTS, EVENTS } = T;

  /** A multi-row INSERT of `spec`'s columns, `?` placeholders (unnumbered: writes are combined before numbering). */
  const insertRows = (spec: TableColumns, rows: number, conflict = ''): string =>
    `INSERT INTO "${spec.name}" (${columnList(spec.columns)}) VALUES ${rowPlaceholders(rows, spec.columns.length)}${conflict ? ` ${conflict}` : ''}`;
  const CONFLICT = {
    sw_orders: onConflictUpdate(ORDERS, '"id"'),
    sw_subscriptions: onConflictUpdate(SUBSCRIPTIONS, '"provider", "contract_id"'),
    sw_notification_settings: onConflictUpdate(SETTINGS, '"id"'),
    sw_webhook_endpoints: onConflictUpdate(ENDPOINTS, '"id"'),
    sw_entitlement_grants: onConflictUpdate(GRANTS, '"subscription_id", "entitlement"'),
  } as const;
  const insertCache = new Map<string, string>();
  /** The INSERT of `rows` rows into `table` (upsert: on its key), numbered for the dialect; cached. */
  const insert = (spec: TableColumns, rows: number, upsert = false): string => {
    const key = `${spec.name}:${rows}:${upsert}`;
    let sql = insertCache.get(key);
    if (sql === undefined) {
      sql = text(insertRows(spec, rows, upsert ? CONFLICT[spec.name as keyof typeof CONFLICT] : ''));
      if (insertCache.size < 256) insertCache.set(key, sql);
    }
    return sql;
  };
  const deliveryFilter = `WHERE d."status" = 'pending' AND d."next_attempt_at" <= ?
        AND (d."locked_until" IS NULL OR d."locked_until" < ?)
        AND (e."status" IS NULL OR e."status" <> 'disabled')
        AND NOT (${inList('d."endpoint_id"')})
      ORDER BY d."next_attempt_at", d."id"
      LIMIT ?`;
  const claimUpdate = `UPDATE "sw_webhook_deliveries" SET "locked_until" = ?, "locked_by" = ?
    WHERE "id" IN (
      SELECT d."id" FROM "sw_webhook_deliveries" d
      LEFT JOIN "sw_webhook_endpoints" e ON e."id" = d."endpoint_id"
      ${deliveryFilter}${pg ? '\n      FOR UPDATE OF d SKIP LOCKED' : ''})`;
  // Indexed on (status, current_period_end); rows another sweep holds (sweep_after in the future) are left alone.
  const sweepUpdate = `UPDATE "sw_subscriptions" SET "sweep_claim" = ?, "sweep_after" = ?
    WHERE "id" IN (
      SELECT "id" FROM "sw_subscriptions"
      WHERE ("sweep_after" IS NULL OR "sweep_after" <= ?) AND "current_period_end" IS NOT NULL
        AND (("status" = 'trialing' AND "current_period_end" > ? AND "current_period_end" <= ?)
          OR ("status" IN ('active', 'trialing') AND "current_period_end" <= ?))
      ORDER BY "current_period_end", "id"
      LIMIT ?${pg ? '\n      FOR UPDATE SKIP LOCKED' : ''})`;
  const claimedColumns = `${selectColumns(dialect, DELIVERIES.columns, 'd.')}, ev."body" AS "__body"`;

  return {
    dialect,
    /** A list bound at an `inList` placeholder: an array for PostgreSQL, its JSON for SQLite's json_each. */
    list: (values: readonly string[]): unknown => (pg ? [...values] : JSON.stringify(values)),
    /** LIMIT's "no limit". */
    noLimit: pg ? null : -1,
    insert,
    /** Several INSERTs as one statement where the dialect allows it (PostgreSQL: data-modifying CTEs), else null. */
    combine: pg ? (inserts: string[]): string => numbered(`WITH ${inserts.map((q, i) => `w${i} AS (${q})`).join(', ')} SELECT 1`) : null,
    /** The unnumbered text of an INSERT, for {@link combine}. */
    insertRows: (spec: TableColumns, rows: number, upsert = false): string =>
      insertRows(spec, rows, upsert ? CONFLICT[spec.name as keyof typeof CONFLICT] : ''),
    insertInbox: text(
      `INSERT INTO "sw_notifications" ("id", ${columnList(INBOX.columns)}) VALUES ${rowPlaceholders(1, INBOX.columns.length + 1)} ON CONFLICT ("provider", "notification_id") DO NOTHING`,
    ),
    inbox: text(selectFrom(INBOX, 'WHERE "provider" = ? AND "notification_id" = ?')),
    countInbox: text('SELECT CAST(count(*) AS INTEGER) AS "n" FROM "sw_notifications" WHERE (CAST(? AS TEXT) IS NULL OR "provider" = ?)'),
    orderByNo: text(selectFrom(ORDERS, 'WHERE "no" = ?')),
    /** Inside a transaction an order is read locked: the state a unit of work decides on is the one it writes over. */
    orderByNoLocked: text(selectFrom(ORDERS, `WHERE "no" = ?${forUpdate}`)),
    orderByTradeNoLocked: text(selectFrom(ORDERS, `WHERE "provider" = ? AND "trade_no" = ?${forUpdate}`)),
    latestOrderByOriginNo: text(selectFrom(ORDERS, 'WHERE "provider" = ? AND "origin_no" = ? ORDER BY "created_at" DESC, "id" DESC LIMIT 1')),
    subscription: text(selectFrom(SUBSCRIPTIONS, 'WHERE "provider" = ? AND "contract_id" = ?')),
    subscriptionLocked: text(selectFrom(SUBSCRIPTIONS, `WHERE "provider" = ? AND "contract_id" = ?${forUpdate}`)),
    /** Values: userId, userId, provider, provider, status, status, appTransactionId, appTransactionId (null: any). */
    subscriptions: text(
      selectFrom(
        SUBSCRIPTIONS,
        `WHERE (CAST(? AS TEXT) IS NULL OR "user_id" = ?) AND (CAST(? AS TEXT) IS NULL OR "provider" = ?)
      AND (CAST(? AS TEXT) IS NULL OR "status" = ?)
      AND (CAST(? AS TEXT) IS NULL OR ${pg ? `"metadata"->>'app_transaction_id'` : `json_extract("metadata", '$.app_transaction_id')`} = ?) ORDER BY "created_at", "id"`,
      ),
    ),
    /** Values: type, type, limit. */
    events: text('SELECT "body" FROM "sw_events" WHERE (CAST(? AS TEXT) IS NULL OR "type" = ?) ORDER BY "sequence" LIMIT ?'),
    /** By id first, else by the unique mountLocation (seed 000: `metadata.setting_id` may be either). Values: the key three times. */
    setting: text(selectFrom(SETTINGS, 'WHERE "id" = ? OR "mount_location" = ? ORDER BY ("id" = ?) DESC LIMIT 1')),
    settings: text(selectFrom(SETTINGS, 'ORDER BY "created_at", "id"')),
    deleteSetting: text('DELETE FROM "sw_notification_settings" WHERE "id" = ?'),
    endpoint: text(selectFrom(ENDPOINTS, 'WHERE "id" = ?')),
    endpoints: text(selectFrom(ENDPOINTS, 'ORDER BY "created_at", "id"')),
    endpointsById: text(selectFrom(ENDPOINTS, `WHERE ${inList('"id"')}`)),
    deleteEndpointDeliveries: text('DELETE FROM "sw_webhook_deliveries" WHERE "endpoint_id" = ?'),
    deleteEndpoint: text('DELETE FROM "sw_webhook_endpoints" WHERE "id" = ?'),
    delivery: text(selectFrom(DELIVERIES, 'WHERE "id" = ?')),
    deliveryExists: text('SELECT 1 AS "x" FROM "sw_webhook_deliveries" WHERE "id" = ?'),
    /** Values: status, status, endpointId, endpointId, eventId, eventId, limit. */
    deliveries: text(
      selectFrom(
        DELIVERIES,
        `WHERE (CAST(? AS TEXT) IS NULL OR "status" = ?) AND (CAST(? AS TEXT) IS NULL OR "endpoint_id" = ?)
      AND (CAST(? AS TEXT) IS NULL OR "event_id" = ?) ORDER BY "created_at", "id" LIMIT ?`,
      ),
    ),
    /** One indexed read (sw_entitlement_grants_user_id_entitlement_idx) of a user's grants. */
    grantsOfUser: text(selectFrom(GRANTS, 'WHERE "user_id" = ? ORDER BY "entitlement", "subscription_id"')),
    /** PostgreSQL: one user's entitlement changes run one at a time (released at commit). Null for SQLite (one writer). */
    lockUserGrants: pg ? text(`SELECT pg_advisory_xact_lock(${GRANT_LOCK_NAMESPACE}, hashtext(CAST(? AS text)))`) : null,
    /**
     * Make `rows` grants the set of a subscription. PostgreSQL: one statement (values: subscription id,
     * list of kept entitlements, the grant rows). SQLite: [delete the others (id, list), upsert the rows].
     */
    replaceGrants: (rows: number): string[] => {
      const remove = `DELETE FROM "sw_entitlement_grants" WHERE "subscription_id" = ? AND NOT (${inList('"entitlement"')})`;
      const upsert = rows === 0 ? '' : insertRows(GRANTS, rows, CONFLICT.sw_entitlement_grants);
      if (pg) return [numbered(`WITH d AS (${remove}) ${upsert || 'SELECT 1'}`)];
      return upsert ? [remove, upsert] : [remove];
    },
    /**
     * Claims due rows for a token. Values: until, token, now, now, list of excluded endpoint ids, limit.
     * PostgreSQL: one statement that also returns the claimed rows with their event body (`__body`),
     * skipping rows other workers hold. SQLite (one writer): then read them with {@link claimed}.
     */
    claim: pg
      ? numbered(`WITH claimed AS (${claimUpdate}
    RETURNING *)
  SELECT ${selectColumns(dialect, DELIVERIES.columns, 'c.')}, ev."body" AS "__body"
  FROM claimed c LEFT JOIN "sw_events" ev ON ev."id" = c."event_id"
  ORDER BY c."next_attempt_at", c."id"`)
      : claimUpdate,
    claimed: text(`SELECT ${claimedColumns} FROM "sw_webhook_deliveries" d
    LEFT JOIN "sw_events" ev ON ev."id" = d."event_id" WHERE d."locked_by" = ? ORDER BY d."next_attempt_at", d."id"`),
    /** Values: status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at, updated_at, id, claim token. */
    finish: text(`UPDATE "sw_webhook_deliveries" SET "status" = ?, "attempts" = ?, "next_attempt_at" = ?, "last_status" = ?, "last_error" = ?,
    "last_attempt_at" = ?, "delivered_at" = ?, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = ?
    WHERE "id" = ? AND "locked_by" = ? RETURNING "endpoint_id"`),
    /**
     * The attempt history. PostgreSQL: {@link finish} that also appends the attempt, one statement (values: finish's, then
     * attempt id, status code, error, duration, at, whether an attempt was made). SQLite: run {@link insertAttempt} after it.
     */
    finishAndRecord: pg
      ? numbered(`WITH f AS (UPDATE "sw_webhook_deliveries" SET "status" = ?, "attempts" = ?, "next_attempt_at" = ?, "last_status" = ?, "last_error" = ?,
    "last_attempt_at" = ?, "delivered_at" = ?, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = ?
    WHERE "id" = ? AND "locked_by" = ? RETURNING "id", "endpoint_id", "attempts"),
  a AS (INSERT INTO "sw_delivery_attempts" (${columnList(T.ATTEMPTS.columns)})
    SELECT CAST(? AS text), f."id", f."endpoint_id", f."attempts", CAST(? AS int), CAST(? AS text), CAST(? AS int), CAST(? AS timestamp) FROM f WHERE CAST(? AS boolean))
  SELECT "endpoint_id" FROM f`)
      : null,
    /** Values: the attempt row's columns. */
    insertAttempt: text(`INSERT INTO "sw_delivery_attempts" (${columnList(T.ATTEMPTS.columns)}) VALUES ${rowPlaceholders(1, T.ATTEMPTS.columns.length)}`),
    /** SQLite: the attempt of a row {@link finishDelivered} just recorded. Values: attempt id, duration, id. */
    insertDeliveredAttempt: text(`INSERT INTO "sw_delivery_attempts" (${columnList(T.ATTEMPTS.columns)})
    SELECT ?, "id", "endpoint_id", "attempts", "last_status", NULL, ?, "last_attempt_at" FROM "sw_webhook_deliveries" WHERE "id" = ?`),
    /** Values: delivery id. */
    attempts: text(
      `SELECT ${selectColumns(dialect, T.ATTEMPTS.columns)} FROM "sw_delivery_attempts" WHERE "delivery_id" = ? ORDER BY "at", "attempt", "id" LIMIT 100`,
    ),
    /** Values: the outcome row's columns. */
    insertOutcome: text(`INSERT INTO "sw_notification_outcomes" (${columnList(T.OUTCOMES.columns)}) VALUES ${rowPlaceholders(1, T.OUTCOMES.columns.length)}`),
    /** Values: updated_at, endpoint id. */
    disableEndpoint: text(`UPDATE "sw_webhook_endpoints" SET "status" = 'disabled', "updated_at" = ? WHERE "id" = ?`),
    /**
     * Successful attempts of one claim, appended to the attempt history too. PostgreSQL: the whole round at once (values: at, at, at, ids,
     * statuses, durations, token); SQLite: one row (values: last_status, at, at, at, id, token), then {@link insertDeliveredAttempt}.
     */
    finishDelivered: pg
      ? numbered(`WITH u AS (UPDATE "sw_webhook_deliveries" d SET "status" = 'delivered', "attempts" = d."attempts" + 1, "next_attempt_at" = NULL, "last_status" = v."last_status",
      "last_error" = NULL, "last_attempt_at" = ?, "delivered_at" = ?, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = ?
    FROM unnest(CAST(? AS text[]), CAST(? AS int[]), CAST(? AS int[])) AS v("id", "last_status", "duration_ms")
    WHERE d."id" = v."id" AND d."locked_by" = ? RETURNING d."id", d."endpoint_id", d."attempts", d."last_status", v."duration_ms", d."last_attempt_at")
  INSERT INTO "sw_delivery_attempts" (${columnList(T.ATTEMPTS.columns)})
    SELECT 'att_' || replace(CAST(gen_random_uuid() AS text), '-', ''), "id", "endpoint_id", "attempts", "last_status", NULL, "duration_ms", "last_attempt_at" FROM u`)
      : `UPDATE "sw_webhook_deliveries" SET "status" = 'delivered', "attempts" = "attempts" + 1, "next_attempt_at" = NULL, "last_status" = ?,
      "last_error" = NULL, "last_attempt_at" = ?, "delivered_at" = ?, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = ?
    WHERE "id" = ? AND "locked_by" = ?`,
    /**
     * The lifecycle sweep's claim of due subscriptions. Values: token, until, now, now, trial-ends-before,
     * period-ended-before, limit. PostgreSQL: one statement that returns the claimed rows, skipping rows
     * other sweeps hold. SQLite (one writer): then read them with {@link sweepClaimed}.
     */
    claimSweep: pg
      ? numbered(`WITH claimed AS (${sweepUpdate}
    RETURNING *)
  SELECT ${selectColumns(dialect, SUBSCRIPTIONS.columns)} FROM claimed ORDER BY "current_period_end", "id"`)
      : sweepUpdate,
    sweepClaimed: text(selectFrom(SUBSCRIPTIONS, 'WHERE "sweep_claim" = ? ORDER BY "current_period_end", "id"')),
    /** Values: after (null: due again at once), id, claim token. */
    releaseSweep: text('UPDATE "sw_subscriptions" SET "sweep_claim" = NULL, "sweep_after" = ? WHERE "id" = ? AND "sweep_claim" = ?'),
    /** Replay: values at, at, id, at; returns the row when no worker holds it. */
    reset: text(`UPDATE "sw_webhook_deliveries" SET "status" = 'pending', "attempts" = 0, "next_attempt_at" = ?, "delivered_at" = NULL,
    "locked_until" = NULL, "locked_by" = NULL, "updated_at" = ?
    WHERE "id" = ? AND ("locked_until" IS NULL OR "locked_until" < ?) RETURNING ${selectColumns(dialect, DELIVERIES.columns)}`),
    hasReceipt: text('SELECT 1 AS "x" FROM "sw_webhook_receipts" WHERE "webhook_id" = ? AND "received_at" >= ?'),
    /** Values: forget-before, the id being recorded. */
    forgetReceipts: text('DELETE FROM "sw_webhook_receipts" WHERE "received_at" < ? AND "webhook_id" <> ?'),
    recordReceipt: text(
      'INSERT INTO "sw_webhook_receipts" ("webhook_id", "received_at") VALUES (?, ?) ON CONFLICT ("webhook_id") DO UPDATE SET "received_at" = excluded."received_at"',
    ),
    /** Retention: one batch of each pruning step (retention-sql.ts). */
    prune: pruneStatements(dialect),
    tables: { ORDERS, SUBSCRIPTIONS, INBOX, SETTINGS, ENDPOINTS, DELIVERIES, GRANTS, EVENTS, ATTEMPTS: T.ATTEMPTS, OUTCOMES: T.OUTCOMES },
  };
}
export type SqlStatements = ReturnType<typeof sqlStatements>;

/**
 * PostgreSQL: the inbox insert and everything a notification reads, in one statement (see
 * `insertNotificationAndLoad`). The subscriptions are locked only once the insert went through (the
 * EXISTS on its RETURNING makes PostgreSQL run the insert first), so the lock order is the same as
 * insertNotification then getSubscription, and a duplicate locks nothing. Parameters: the inbox row
 * (the id and its columns: $1–$k), then one subscription key ($k+1, $k+2), one order number ($k+3),
 * one order trade key ($k+4, $k+5) (null: none), setting keys ($k+6), endpoints wanted ($k+7). One key per unique index, compared with `=`:
 * PostgreSQL then answers each from its index even in the generic plan it settles on for a prepared
 * statement, whatever the table's size when that plan was made (measured: `= ANY(array)`, `IN (unnest …)`
 * or an OR across two indexes were planned as scans of the whole table). Further keys are not loaded:
 * their getters query. Rows: `k` ('i' inserted, 's' subscription, 'o' order, 'n' setting, 'e' endpoint), `r` the row as JSON.
 */
export const PG_INSERT_AND_LOAD = (() => {
  const st = sqlStatements('postgresql');
  const { ORDERS, SUBSCRIPTIONS, SETTINGS, ENDPOINTS } = st.tables;
  const inserted = 'EXISTS (SELECT 1 FROM ins)';
  // The parameters after the inbox row's (its id and columns).
  const k = st.tables.INBOX.columns.length + 1;
  const $ = (i: number): string => `$${k + i}`;
  const asJson = (spec: TableColumns, where: string, lock = ''): string =>
    `SELECT row_to_json(x) FROM (SELECT ${selectColumns('postgresql', spec.columns)} FROM "${spec.name}" ${where} ${lock}) x`;
  return `WITH ins AS (${st.insertInbox} RETURNING 1),
  s AS (SELECT ${selectColumns('postgresql', SUBSCRIPTIONS.columns)} FROM "sw_subscriptions"
    WHERE "provider" = ${$(1)}::text AND "contract_id" = ${$(2)}::text AND ${inserted} FOR UPDATE)
SELECT 'i' AS "k", NULL::json AS "r" FROM ins
UNION ALL SELECT 's', row_to_json(s) FROM s
UNION ALL SELECT 'o', r FROM (${asJson(ORDERS, `WHERE ${inserted} AND "no" = ${$(3)}::text`, 'FOR UPDATE')}) o(r)
UNION ALL SELECT 'o', r FROM (${asJson(ORDERS, `WHERE ${inserted} AND "provider" = ${$(4)}::text AND "trade_no" = ${$(5)}::text`, 'FOR UPDATE')}) t(r)
UNION ALL SELECT 'n', r FROM (${asJson(SETTINGS, `WHERE ${inserted} AND ("id" = ANY(${$(6)}::text[]) OR "mount_location" = ANY(${$(6)}::text[]))`)}) n(r)
UNION ALL SELECT 'e', r FROM (${asJson(ENDPOINTS, `WHERE ${inserted} AND ${$(7)}::boolean`)}) e(r)`;
})();
