/**
 * Migration 0007_admin_history backfills `sw_events.subject` for the events already stored, with the rule new events
 * are written by (`eventSubject` in src/store/sql-tables.ts), on SQLite and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applySqliteMigrations } from '../../src/store/sqlite.js';
import { readSqlMigrations } from '../../src/store/prisma-migrate.js';
import { eventSubject } from '../../src/store/sql-tables.js';
import type { DomainEvent } from '../../src/events/types.js';
import { postgresServerUrl } from '../helpers/databases.js';

const event = (id: string, object: Record<string, unknown>) =>
  ({
    id,
    type: 'x',
    provider: 'apple',
    created: '2026-01-01T00:00:00.000Z',
    data: { object },
    source: { notification_id: 'n', notification_type: 't' },
  }) as unknown as DomainEvent;
const EVENTS = [
  event('evt_sub', { id: 'sub_1', contract_id: 'c1', origin_no: null }),
  event('evt_order', { id: 'ord_1', origin_no: 'c2' }),
  event('evt_grant', { subscription_id: 'sub_3', entitlement: 'pro' }),
  event('evt_none', { id: 'we_1' }),
];
const EXPECTED = [
  ['evt_grant', 'sub_3'],
  ['evt_none', null],
  ['evt_order', 'c2'],
  ['evt_sub', 'c1'],
];
const before = (kind: 'sqlite' | 'postgresql') => readSqlMigrations(kind).filter((m) => m.name < '0007_admin_history');

describe('migration 0007_admin_history', () => {
  it('new events get the same subject the backfill gives', () => {
    expect(EVENTS.map((e) => [e.id, eventSubject(e)]).sort()).toEqual(EXPECTED);
  });

  it('SQLite: backfills the subject of stored events', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-backfill-'));
    const db = new Database(join(dir, 'db.sqlite'));
    try {
      applySqliteMigrations(db, { migrations: before('sqlite') });
      const insert = db.prepare('INSERT INTO "sw_events" ("id", "type", "provider", "created", "body") VALUES (?, ?, ?, ?, ?)');
      for (const e of EVENTS) insert.run(e.id, e.type, e.provider, e.created, JSON.stringify(e));
      expect(applySqliteMigrations(db)).toEqual(['0007_admin_history']);
      expect(db.prepare('SELECT "id", "subject" FROM "sw_events" ORDER BY "id"').raw().all()).toEqual(EXPECTED);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: backfills the subject of stored events', async () => {
    const server = postgresServerUrl();
    const name = `sw_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    const u = new URL(server);
    u.pathname = `/${name}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      const all = readSqlMigrations('postgresql');
      for (const m of before('postgresql')) await c.query(m.sql);
      for (const e of EVENTS)
        await c.query('INSERT INTO "sw_events" ("id", "type", "provider", "created", "body") VALUES ($1, $2, $3, $4, $5)', [
          e.id,
          e.type,
          e.provider,
          e.created,
          JSON.stringify(e),
        ]);
      await c.query(all.find((m) => m.name === '0007_admin_history')!.sql);
      expect((await c.query({ text: 'SELECT "id", "subject" FROM "sw_events" ORDER BY "id"', rowMode: 'array' })).rows).toEqual(EXPECTED);
    } finally {
      await c.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
