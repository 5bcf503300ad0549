/**
 * The dashboard behind a TLS-terminating reverse proxy (the usual production setup): the browser posts
 * `Origin: https://<host>` while the app, without `trust proxy`, sees plain http. Its own forms must
 * still work; a form from another site must still be refused.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDashboard } from '../../adapters/express.js';
import { createSubscriptionWebhooks, type Logger, type SubscriptionWebhooks } from '../../src/index.js';
import { memoryStore } from '../../src/store/memory.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const BASE = '/admin';

describe('admin dashboard behind a TLS-terminating proxy (Express, no trust proxy)', () => {
  let hooks: SubscriptionWebhooks;
  let server: Server;
  let origin: string;
  let host: string;
  beforeAll(async () => {
    hooks = createSubscriptionWebhooks({ store: memoryStore(), apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
    const app = express();
    app.use(BASE, adminDashboard(hooks, { authorize: () => ({ role: 'read-write', actor: 'ops' }) }));
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    origin = `http://${host}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const create = async (headers: Record<string, string>) => {
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await fetch(`${origin}${BASE}/endpoints`)).text())![1]!;
    return fetch(`${origin}${BASE}/endpoints`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ csrf, url: 'https://receiver.example/hook' }),
    });
  };

  it('accepts its own form posted over https (Origin https://<same host>, Sec-Fetch-Site same-origin)', async () => {
    const res = await create({ origin: `https://${host}`, 'sec-fetch-site': 'same-origin' });
    expect(res.status).toBe(201);
    expect(await hooks.webhookEndpoints.list()).toHaveLength(1);
    // A proxy that also rewrites Host names the public one in X-Forwarded-Host.
    expect((await create({ origin: 'https://admin.example.com', 'sec-fetch-site': 'same-origin', 'x-forwarded-host': 'admin.example.com' })).status).toBe(201);
  });

  it('still refuses another site, whatever the scheme', async () => {
    for (const headers of <Record<string, string>[]>[
      { origin: 'https://evil.example' },
      { origin: 'http://evil.example' },
      { origin: `https://${host}.evil.example` },
      { origin: 'null' },
      { origin: `https://${host}`, 'sec-fetch-site': 'cross-site' },
      { origin: `https://${host}`, 'sec-fetch-site': 'same-site' },
    ]) {
      expect({ headers, status: (await create(headers)).status }).toEqual({ headers, status: 403 });
    }
  });
});
