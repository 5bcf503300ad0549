/** The Express example's sign-in for the dashboard (examples/express/admin-auth.ts): HTTP Basic, passwords from the environment. */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adminPasswordsFromEnv } from '../../examples/express/admin-auth.js';
import { createApp } from '../../examples/express/app.js';
import { createSubscriptionWebhooks, memoryStore, type Logger } from '../../src/index.js';
import { ADMIN_PASSWORD, basic, ROLE_HEADERS, VIEWER_PASSWORD } from '../helpers/dashboard-fixture.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const BASE = '/admin/subscriptions';

describe('the Express example signs in to the dashboard with HTTP Basic', () => {
  it('reads ADMIN_PASSWORD and ADMIN_READ_PASSWORD; no ADMIN_PASSWORD: no dashboard; a short password is refused', () => {
    expect(adminPasswordsFromEnv({})).toBeNull();
    expect(adminPasswordsFromEnv({ ADMIN_PASSWORD: ADMIN_PASSWORD })).toEqual({ readWrite: ADMIN_PASSWORD });
    expect(adminPasswordsFromEnv({ ADMIN_PASSWORD: ADMIN_PASSWORD, ADMIN_READ_PASSWORD: VIEWER_PASSWORD })).toEqual({
      readWrite: ADMIN_PASSWORD,
      read: VIEWER_PASSWORD,
    });
    expect(() => adminPasswordsFromEnv({ ADMIN_PASSWORD: 'short' })).toThrow(/at least 12/);
    expect(() => adminPasswordsFromEnv({ ADMIN_PASSWORD: ADMIN_PASSWORD, ADMIN_READ_PASSWORD: 'short' })).toThrow(/ADMIN_READ_PASSWORD/);
  });

  it('admin reads and acts, viewer only reads, anyone else (a wrong password, the other user name, nothing) is asked to sign in', async () => {
    const hooks = createSubscriptionWebhooks({ store: memoryStore(), apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
    const app = createApp(hooks, { adminPasswords: { readWrite: ADMIN_PASSWORD, read: VIEWER_PASSWORD } });
    const get = (auth?: string) => {
      const r = request(app).get(`${BASE}/endpoints`);
      return auth ? r.set('authorization', auth) : r;
    };
    const admin = await get(ROLE_HEADERS['read-write']);
    expect(admin.status).toBe(200);
    expect(admin.text).toContain('New endpoint');
    const viewer = await get(ROLE_HEADERS.read);
    expect(viewer.status).toBe(200);
    expect(viewer.text).not.toContain('New endpoint');
    for (const auth of [undefined, basic('admin', VIEWER_PASSWORD), basic('viewer', ADMIN_PASSWORD), basic('root', ADMIN_PASSWORD), 'Basic !!!', 'Bearer x']) {
      const res = await get(auth);
      expect(res.status, String(auth)).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
    }
    // The viewer cannot act even with the admin's form token (and the token is bound to the admin).
    const csrf = /name="csrf" value="([^"]+)"/.exec(admin.text)![1]!;
    const post = (auth: string) =>
      request(app).post(`${BASE}/endpoints`).set('authorization', auth).type('form').send({ csrf, url: 'https://example.com/hook', enabled_events: '*' });
    expect((await post(ROLE_HEADERS.read)).status).toBe(403);
    expect(await hooks.webhookEndpoints.list()).toEqual([]);
    expect((await post(ROLE_HEADERS['read-write'])).status).toBe(201);
    expect(await hooks.webhookEndpoints.list()).toHaveLength(1);
  });
});
