/**
 * Zero-config persistence (issue 16): with no `store`, the library keeps its data in SQLite
 * (./subscription-webhooks.db, or SUBSCRIPTION_WEBHOOKS_DATABASE_URL), tables created on first start;
 * it falls back to the memory store (warning in production) when better-sqlite3 cannot be loaded, and
 * stays on the memory store under NODE_ENV=test so test suites leave no files behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { defaultStore } from '../../src/store/default-store.js';
import { recordingLogger } from '../helpers/apple-harness.js';

const root = new URL('../..', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sw-zero-'));
  dirs.push(d);
  return d;
};
/** Runs test/fixtures/zero-config-process.ts in its own process (cwd `dir`, production-like env). */
function runApp(dir: string, mode: 'write' | 'read', env: Record<string, string | undefined> = {}): { store: string; order: string | null } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/fixtures/zero-config-process.ts'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', SUBSCRIPTION_WEBHOOKS_DATABASE_URL: undefined, TEST_CWD: dir, MODE: mode, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { store: string; order: string | null };
}

describe('zero-config store', () => {
  it('no store: SQLite at ./subscription-webhooks.db, created and migrated on first start, and the data survives a restart', () => {
    const dir = tmp();
    expect(runApp(dir, 'write')).toEqual({ store: 'sqlite', order: 'ord_zero' });
    expect(existsSync(join(dir, 'subscription-webhooks.db'))).toBe(true);
    // A new process (a restart) reads what the first one committed.
    expect(runApp(dir, 'read')).toEqual({ store: 'sqlite', order: 'ord_zero' });
    const db = new Database(join(dir, 'subscription-webhooks.db'));
    try {
      expect((db.prepare('SELECT "name" FROM "sw_migrations" ORDER BY "name"').all() as { name: string }[]).map((r) => r.name)[0]).toBe('0001_init');
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('SUBSCRIPTION_WEBHOOKS_DATABASE_URL names the file (a path or file:<path>)', () => {
    const dir = tmp();
    const file = join(dir, 'nested', 'hooks.sqlite');
    expect(runApp(dir, 'write', { SUBSCRIPTION_WEBHOOKS_DATABASE_URL: `file:${file}` })).toEqual({ store: 'sqlite', order: 'ord_zero' });
    expect(existsSync(file)).toBe(true);
    expect(existsSync(join(dir, 'subscription-webhooks.db'))).toBe(false);
  });

  it('a PostgreSQL URL in SUBSCRIPTION_WEBHOOKS_DATABASE_URL is CONFIG_INVALID (the zero-config store is SQLite only)', () => {
    expect(() => defaultStore(recordingLogger(), { SUBSCRIPTION_WEBHOOKS_DATABASE_URL: 'postgres://x@localhost/db' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('without better-sqlite3: the memory store, with the warning in production', () => {
    const logger = recordingLogger();
    const store = defaultStore(logger, { NODE_ENV: 'production' }, () => null);
    expect(store.name).toBe('memory');
    expect(logger.warnings.join(' ')).toMatch(/in-memory store/);
  });

  it('under NODE_ENV=test with no SUBSCRIPTION_WEBHOOKS_DATABASE_URL: the memory store, no file', () => {
    expect(process.env.NODE_ENV).toBe('test');
    expect(createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] } }).store.name).toBe('memory');
    expect(existsSync(join(root, 'subscription-webhooks.db'))).toBe(false);
  });

  it('one store per file per process; once closed, the next call opens the file again', async () => {
    const env = { NODE_ENV: 'test', SUBSCRIPTION_WEBHOOKS_DATABASE_URL: join(tmp(), 'one.db') };
    const a = defaultStore(recordingLogger(), env);
    expect(defaultStore(recordingLogger(), env)).toBe(a);
    await a.transaction((tx) =>
      tx.insertNotification({
        provider: 'apple',
        notification_id: 'n1',
        notification_type: 'TEST',
        subtype: null,
        environment: null,
        signed_at: null,
        received_at: new Date().toISOString(),
        raw_body: '{}',
        payload: {},
      }),
    );
    await a.close?.();
    const b = defaultStore(recordingLogger(), env);
    expect(b).not.toBe(a);
    expect(await b.countNotifications()).toBe(1);
    await b.close?.();
  });

  it('SUBSCRIPTION_WEBHOOKS_DATABASE_URL=:memory: gives an in-process SQLite store', () => {
    const store = defaultStore(recordingLogger(), { NODE_ENV: 'test', SUBSCRIPTION_WEBHOOKS_DATABASE_URL: ':memory:' });
    expect(store.name).toBe('sqlite');
  });
});
