import { describe, expect, it } from 'vitest';
import { adminDashboard } from '../../adapters/fetch.js';
import { createSubscriptionWebhooks, type Logger } from '../../src/index.js';
import { EVERY_STORE } from '../helpers/databases.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const cursor = (at: string, id: string): string => Buffer.from(JSON.stringify([at, id])).toString('base64url');

/** Bad input the dashboard takes from a URL or a form: 400 on every store, never a 5xx from the database. */
describe.each(EVERY_STORE)('admin dashboard: bad input is 400 (%s)', (_name, make) => {
  it('dates out of the database range, NUL bytes, an unknown event name', async () => {
    const { store, close } = await make();
    try {
      const hooks = createSubscriptionWebhooks({ store, apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
      const admin = adminDashboard(hooks, { basePath: '/a', authorize: () => ({ role: 'read-write', actor: 't' }) });
      const page = await (await admin(new Request('http://x/a/endpoints'))).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
      expect(csrf).toBeTruthy();
      const gets = [
        '/api/notifications?since=' + encodeURIComponent('+275760-09-13T00:00:00.000Z'),
        '/api/notifications?since=-000001-01-01',
        '/api/notifications?until=99999',
        '/api/notifications?after=' + cursor('99999-01-01', 'x'),
        '/api/audit?after=' + cursor('0000-01-01T00:00:00Z', 'x'),
        '/api/notifications?type=%00',
        '/api/subscriptions?q=a%00',
        '/api/subscriptions/%00',
        '/api/notifications/apple/%00',
        '/api/deliveries?endpoint=%00',
        '/subscriptions?q=%00',
        '/deliveries?endpoint=%00',
        '/notifications?since=99999',
      ];
      for (const path of gets) {
        const res = await admin(new Request(`http://x/a${path}`));
        expect({ path, status: res.status }).toEqual({ path, status: 400 });
      }
      // A cursor naming a row id with a NUL: no SQL row has one (PostgreSQL refuses it in any text); never a 5xx.
      expect((await admin(new Request(`http://x/a/api/notifications?after=${cursor('2020-01-01T00:00:00Z', 'x\u0000')}`))).status).toBeLessThan(500);
      const post = (path: string, body: Record<string, string>) =>
        admin(
          new Request(`http://x/a${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://x' },
            body: new URLSearchParams({ csrf: csrf!, ...body }),
          }),
        );
      for (const [path, body] of [
        ['/endpoints', { url: 'http://127.0.0.1:1/hook', enabled_events: 'no.such.event' }],
        ['/endpoints', { url: 'http://127.0.0.1:1/hook', description: 'a\u0000b' }],
        ['/deliveries/%00/replay', {}],
      ] as const) {
        const res = await post(path, body);
        expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
      }
      expect(await hooks.webhookEndpoints.list()).toEqual([]);
    } finally {
      await close();
    }
  }, 60_000);
});
