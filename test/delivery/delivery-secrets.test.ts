/**
 * Endpoint signing secrets at rest, on every store: encrypted in the database with the configured key
 * (AES-256-GCM, key id stored), masked by get/list, plaintext only from create and rotateSecret; old
 * plaintext rows keep working and are encrypted when rotated; several keys let the key itself rotate.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { verifyWebhook } from '../../adapters/callback.js';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createSecretBox, parseSecretKeys } from '../../src/delivery/secrets.js';
import { createSubscriptionWebhooks, memoryStore, type Store, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const K1_ID = parseSecretKeys(K1, 'test')[0]!.id;
const K2_ID = parseSecretKeys(K2, 'test')[0]!.id;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

type RawRow = { secret: string; previous_secret: string | null; secret_key_id: string | null };

/** The endpoint row as the database holds it (memory: the stored record). */
async function readRow(db: { store: Store; prisma?: unknown }, id: string): Promise<RawRow> {
  if (!db.prisma) {
    const r = (await db.store.getWebhookEndpoint(id))!;
    return { secret: r.secret, previous_secret: r.previous_secret, secret_key_id: r.secret_key_id ?? null };
  }
  const prisma = db.prisma as { $queryRawUnsafe(sql: string): Promise<RawRow[]> };
  const rows = await prisma.$queryRawUnsafe(`SELECT "secret", "previous_secret", "secret_key_id" FROM "sw_webhook_endpoints" WHERE "id" = '${id}'`);
  return rows[0]!;
}

describe.each(EVERY_STORE)('endpoint secrets at rest on %s', (_name, make) => {
  it('encrypted in the database (read the row), masked in get and list, plaintext only from create and rotateSecret; rotation re-encrypts; deliveries verify', async () => {
    const db = (await make()) as { store: Store; prisma?: unknown; close: () => Promise<void> };
    const receiver = await webhookReceiver();
    const hooksOf = (config: Partial<SubscriptionWebhooksConfig> = {}) =>
      createSubscriptionWebhooks({ store: db.store, apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet, ...config });
    let n = 0;
    async function deliverOne(hooks: ReturnType<typeof hooksOf>) {
      const event = sampleEvent('secrets', n++);
      await db.store.transaction(async (tx) => {
        await tx.insertEvents([event]);
        await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
      });
      await hooks.delivery.runOnce();
      return receiver.received.find((r) => r.id === event.id)!;
    }
    const verify = (secret: string, r: { id: string; timestamp: string; signature: string; body: string }) =>
      verifyWebhook(secret, { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature }, r.body);
    try {
      const hooks = hooksOf({ secretsKey: K1 });
      const created = await hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const row = await readRow(db, created.id);
      expect(row.secret.startsWith(`enc:v1:${K1_ID}:`)).toBe(true);
      expect(row.secret).not.toContain(created.secret.slice(6, 20));
      expect(row.secret_key_id).toBe(K1_ID);
      const masked = `whsec_…${created.secret.slice(-4)}`;
      expect((await hooks.webhookEndpoints.get(created.id))?.secret).toBe(masked);
      const listed = await hooks.webhookEndpoints.list();
      expect(listed.map((e) => e.secret)).toEqual([masked]);
      expect(JSON.stringify(listed)).not.toContain(created.secret);
      expect(JSON.stringify(listed)).not.toContain('enc:v1');
      // Deliveries are signed with the plaintext secret.
      const first = await deliverOne(hooks);
      expect(verify(created.secret, first).id).toBe(first.id);

      const rotated = await hooks.webhookEndpoints.rotateSecret(created.id);
      expect(rotated.secret).toMatch(/^whsec_/);
      expect(rotated.secret).not.toBe(created.secret);
      expect(rotated.previous_secret).toBe(masked);
      const after = await readRow(db, created.id);
      expect(after.secret.startsWith(`enc:v1:${K1_ID}:`)).toBe(true);
      expect(after.previous_secret?.startsWith(`enc:v1:${K1_ID}:`)).toBe(true);
      expect(after.previous_secret).not.toBe(row.secret); // re-encrypted, not copied
      const second = await deliverOne(hooks);
      expect(verify(rotated.secret, second).id).toBe(second.id);
      expect(verify(created.secret, second).id).toBe(second.id);
      await hooks.delivery.stop();
    } finally {
      await receiver.stop();
      await db.close();
    }
  });

  it('a plaintext row keeps working and is encrypted on rotation; the key rotates ([new, old]); a missing key is a recorded failure', async () => {
    const db = (await make()) as { store: Store; prisma?: unknown; close: () => Promise<void> };
    const receiver = await webhookReceiver();
    const hooksOf = (config: Partial<SubscriptionWebhooksConfig> = {}) =>
      createSubscriptionWebhooks({ store: db.store, apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet, ...config });
    let n = 0;
    async function deliverOne(hooks: ReturnType<typeof hooksOf>) {
      const event = sampleEvent('plain', n++);
      await db.store.transaction(async (tx) => {
        await tx.insertEvents([event]);
        await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
      });
      await hooks.delivery.runOnce();
      await hooks.delivery.stop();
      return { received: receiver.received.find((r) => r.id === event.id), row: (await hooks.delivery.list({ eventId: event.id }))[0]! };
    }
    try {
      const legacy = await hooksOf().webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
      expect((await readRow(db, legacy.id)).secret).toBe(legacy.secret); // no key: plaintext
      const withKey = hooksOf({ secretsKey: K1 });
      expect((await withKey.webhookEndpoints.get(legacy.id))?.secret).toBe(`whsec_…${legacy.secret.slice(-4)}`);
      const old = await deliverOne(withKey);
      expect(
        verifyWebhook(
          legacy.secret,
          { 'webhook-id': old.received!.id, 'webhook-timestamp': old.received!.timestamp, 'webhook-signature': old.received!.signature },
          old.received!.body,
        ).id,
      ).toBe(old.received!.id);
      const rotated = await withKey.webhookEndpoints.rotateSecret(legacy.id);
      const row = await readRow(db, legacy.id);
      expect(row.secret.startsWith(`enc:v1:${K1_ID}:`)).toBe(true);
      expect(row.previous_secret?.startsWith(`enc:v1:${K1_ID}:`)).toBe(true);
      expect(row.secret_key_id).toBe(K1_ID);

      // Key rotation: [K2, K1] reads K1 rows and writes K2.
      const both = hooksOf({ secretsKey: [K2, K1] });
      expect((await deliverOne(both)).row.status).toBe('delivered');
      const again = await both.webhookEndpoints.rotateSecret(legacy.id);
      expect((await readRow(db, legacy.id)).secret_key_id).toBe(K2_ID);
      expect(again.previous_secret).toBe(`whsec_…${rotated.secret.slice(-4)}`);

      // K1 only: the K2 row cannot be decrypted; the attempt fails with the reason, nothing is sent.
      const before = receiver.received.length;
      const missing = await deliverOne(hooksOf({ secretsKey: K1 }));
      expect(receiver.received.length).toBe(before);
      expect(missing.row).toMatchObject({ status: 'pending', attempts: 1 });
      expect(missing.row.last_error).toContain(`encrypted with key ${K2_ID}, which is not configured`);
    } finally {
      await receiver.stop();
      await db.close();
    }
  });
});

describe('secretsKey', () => {
  it('must be base64 of 32 bytes (CONFIG_INVALID); env SUBSCRIPTION_WEBHOOKS_SECRET_KEY is read; a ciphertext moved to another endpoint does not decrypt', () => {
    const base = { apple: { bundleId: 'com.example.app', environments: ['Sandbox' as const] }, store: memoryStore(), logger: quiet };
    for (const bad of ['short', randomBytes(16).toString('base64'), `${K1},nope`]) {
      expect(() => createSubscriptionWebhooks({ ...base, secretsKey: bad })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
    vi.stubEnv('SUBSCRIPTION_WEBHOOKS_SECRET_KEY', 'not-a-key');
    try {
      expect(() => createSubscriptionWebhooks(base)).toThrow(/SUBSCRIPTION_WEBHOOKS_SECRET_KEY/);
    } finally {
      vi.unstubAllEnvs();
    }
    const box = createSecretBox(parseSecretKeys(K1, 'test'));
    const sealed = box.seal('whsec_abc', 'we_1', 'secret');
    expect(box.open(sealed, 'we_1', 'secret')).toBe('whsec_abc');
    expect(() => box.open(sealed, 'we_2', 'secret')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => box.open(sealed, 'we_1', 'previous_secret')).toThrow(/does not decrypt/);
  });

  it('without a key, startup outside development and test warns once', async () => {
    vi.resetModules();
    const { createSubscriptionWebhooks: create } = await import('../../src/index.js');
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (_o: unknown, m?: string) => void warnings.push(String(m)) };
    vi.stubEnv('NODE_ENV', 'production');
    try {
      for (let i = 0; i < 3; i++) create({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store: memoryStore(), logger });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(warnings.filter((w) => w.includes('no secretsKey configured'))).toHaveLength(1);
  });
});
