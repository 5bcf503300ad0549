/**
 * The one description of our tables (src/store/sql-tables.ts) matches the Prisma fragment and the
 * committed migrations for SQLite and PostgreSQL, column for column: same tables, same columns, same
 * nullability, compatible types.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSqlMigrations, splitSqlStatements } from '../../src/store/prisma-migrate.js';
import Database from 'better-sqlite3';
import pg from 'pg';
import { applySqliteMigrations } from '../../src/store/sqlite.js';
import { PG_INSERT_AND_LOAD, sqlStatements } from '../../src/store/sql-statements.js';
import { TABLES, type ColumnType } from '../../src/store/sql-tables.js';
import { postgresServerUrl } from '../helpers/databases.js';

const root = join(import.meta.dirname, '..', '..');
type Columns = Map<string, { type: string; nullable: boolean }>;

/** Tables and columns as the migrations leave them (CREATE TABLE, then ALTER TABLE ... ADD COLUMN). */
function fromMigrations(kind: 'sqlite' | 'postgresql'): Map<string, Columns> {
  const tables = new Map<string, Columns>();
  for (const m of readSqlMigrations(kind, join(root, 'prisma-schema', 'migrations', kind))) {
    for (const st of splitSqlStatements(m.sql)) {
      const create = /^CREATE TABLE "(\w+)" \(([\s\S]*)\)$/.exec(st);
      if (create) {
        const cols: Columns = new Map();
        for (const line of create[2]!.split('\n')) {
          const col = /^\s*"(\w+)" ([A-Z]+[A-Z0-9()]*)(.*?),?$/.exec(line);
          if (col) cols.set(col[1]!, { type: col[2]!, nullable: !/NOT NULL/.test(col[3]!) });
        }
        tables.set(create[1]!, cols);
      }
      // SQLite: one ADD COLUMN per statement; PostgreSQL: `ALTER TABLE "t" ADD COLUMN "a" …, ADD COLUMN "b" …`.
      const alter = /^ALTER TABLE "(\w+)"/.exec(st);
      // SQLite redefines a table: CREATE TABLE "new_t", copy, DROP TABLE "t", ALTER TABLE "new_t" RENAME TO "t".
      const rename = /^ALTER TABLE "(\w+)" RENAME TO "(\w+)"$/.exec(st);
      if (rename) {
        tables.set(rename[2]!, tables.get(rename[1]!)!);
        tables.delete(rename[1]!);
      } else if (alter) {
        for (const add of st.matchAll(/ADD COLUMN\s+"(\w+)" ([A-Z]+[A-Z0-9()]*)([^,]*)/g)) {
          tables.get(alter[1]!)!.set(add[1]!, { type: add[2]!, nullable: !/NOT NULL/.test(add[3]!) });
        }
        // PostgreSQL: ALTER COLUMN "c" DROP NOT NULL / SET NOT NULL.
        for (const change of st.matchAll(/ALTER COLUMN "(\w+)" (DROP|SET) NOT NULL/g)) {
          tables.get(alter[1]!)!.get(change[1]!)!.nullable = change[2] === 'DROP';
        }
      }
    }
  }
  return tables;
}

/** Tables and columns of the `.prisma` fragment (`@map` names, `?` = nullable). */
function fromPrisma(): Map<string, Columns> {
  const text = readFileSync(join(root, 'prisma-schema', 'subscription-webhooks.prisma'), 'utf8');
  const tables = new Map<string, Columns>();
  for (const model of text.matchAll(/^model \w+ \{([\s\S]*?)^\}/gm)) {
    const body = model[1]!;
    const table = /@@map\("(\w+)"\)/.exec(body)![1]!;
    const cols: Columns = new Map();
    for (const line of body.split('\n')) {
      const f = /^\s*(\w+)\s+(\w+)(\??)(.*)$/.exec(line);
      if (!f || line.trim().startsWith('//') || line.trim().startsWith('@@')) continue;
      cols.set(/@map\("(\w+)"\)/.exec(f[4]!)?.[1] ?? f[1]!, { type: f[2]!, nullable: f[3] === '?' });
    }
    tables.set(table, cols);
  }
  return tables;
}

const SQL_TYPES: Record<'sqlite' | 'postgresql', Record<ColumnType, string[]>> = {
  sqlite: { text: ['TEXT'], timestamp: ['DATETIME'], json: ['JSONB'], bool: ['BOOLEAN'], int: ['INTEGER'], real: ['REAL'] },
  postgresql: { text: ['TEXT'], timestamp: ['TIMESTAMP(3)'], json: ['JSONB'], bool: ['BOOLEAN'], int: ['INTEGER', 'SERIAL'], real: ['DOUBLE'] },
};
const PRISMA_TYPES: Record<ColumnType, string> = { text: 'String', timestamp: 'DateTime', json: 'Json', bool: 'Boolean', int: 'Int', real: 'Float' };

describe('one description of our tables', () => {
  const described = new Map(TABLES.map((t) => [t.name, [...t.columns, ...t.internal]]));

  for (const kind of ['sqlite', 'postgresql'] as const) {
    it(`matches the ${kind} migrations column for column (names, nullability, types)`, () => {
      const migrated = fromMigrations(kind);
      migrated.delete('sw_migrations');
      expect([...described.keys()].sort()).toEqual([...migrated.keys()].sort());
      for (const [table, columns] of described) {
        const actual = migrated.get(table)!;
        expect(columns.map((c) => c.name).sort(), table).toEqual([...actual.keys()].sort());
        for (const c of columns) {
          expect(actual.get(c.name)!.nullable, `${table}.${c.name} nullable`).toBe(c.nullable);
          expect(SQL_TYPES[kind][c.type], `${table}.${c.name} type`).toContain(actual.get(c.name)!.type);
        }
      }
    });
  }

  it('matches the Prisma fragment column for column (names, nullability, types)', () => {
    const models = fromPrisma();
    expect([...described.keys()].sort()).toEqual([...models.keys()].sort());
    for (const [table, columns] of described) {
      const actual = models.get(table)!;
      expect(columns.map((c) => c.name).sort(), table).toEqual([...actual.keys()].sort());
      for (const c of columns) {
        expect(actual.get(c.name)!.nullable, `${table}.${c.name} nullable`).toBe(c.nullable);
        expect(actual.get(c.name)!.type, `${table}.${c.name} type`).toBe(PRISMA_TYPES[c.type]);
      }
    }
  });
});

describe('the shared statements (sql-statements.ts) against migrated databases', () => {
  /** Every statement text of a dialect, with the row-count builders at 1 and 3 rows, upsert or not. */
  const texts = (dialect: 'sqlite' | 'postgresql'): [string, string][] => {
    const st = sqlStatements(dialect);
    const out: [string, string][] = [];
    for (const [key, v] of Object.entries(st)) if (typeof v === 'string' && key !== 'dialect') out.push([key, v]);
    for (const spec of Object.values(st.tables))
      for (const rows of [1, 3])
        for (const upsert of [false, true]) {
          if (upsert && !['sw_orders', 'sw_subscriptions', 'sw_notification_settings', 'sw_webhook_endpoints', 'sw_entitlement_grants'].includes(spec.name))
            continue;
          out.push([`insert ${spec.name} ${rows} ${upsert}`, st.insert(spec, rows, upsert)]);
        }
    for (const rows of [0, 2]) st.replaceGrants(rows).forEach((t, i) => out.push([`replaceGrants ${rows} ${i}`, t]));
    if (st.combine) out.push(['combine', st.combine([st.insertRows(st.tables.ORDERS, 1), st.insertRows(st.tables.EVENTS, 2)])]);
    if (dialect === 'postgresql') out.push(['insertAndLoad', PG_INSERT_AND_LOAD]);
    return out;
  };

  it('SQLite: every statement prepares (tables, columns and syntax exist)', () => {
    const db = new Database(':memory:');
    applySqliteMigrations(db);
    for (const [key, text] of texts('sqlite')) expect(() => db.prepare(text), key).not.toThrow();
    db.close();
  });

  it('PostgreSQL: every statement prepares', async () => {
    const client = new pg.Client({ connectionString: postgresServerUrl() });
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const m of readSqlMigrations('postgresql')) for (const st of splitSqlStatements(m.sql)) await client.query(st);
      let i = 0;
      for (const [key, text] of texts('postgresql')) {
        const error = await client.query(`PREPARE sw_check_${i++} AS ${text}`).then(
          () => null,
          (e: Error) => e.message,
        );
        expect(error, key).toBeNull();
      }
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
  });
});
