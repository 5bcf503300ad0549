/**
 * Regenerates the dashboard screenshots shown in docs/dashboard.md (docs/dashboard/*.png):
 *   npm run docs:screenshots
 * The Express example with the dashboard on a fresh SQLite file, seeded as the browser tests seed it,
 * photographed by Debian's chromium (CHROMIUM_PATH to use another) through playwright-core.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createSqliteDriverStore } from '../test/helpers/databases.js';
import { dashboardFixture, ROLE_HEADERS } from '../test/helpers/dashboard-fixture.js';
import { webhookReceiver } from '../test/helpers/webhook-receiver.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'dashboard');
mkdirSync(out, { recursive: true });
const db = await createSqliteDriverStore();
const rx = await webhookReceiver();
const fx = await dashboardFixture(db.store, rx.url);
const profile = mkdtempSync(join(tmpdir(), 'sw-chromium-'));
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args,
  viewport: { width: 1200, height: 800 },
});
try {
  await context.setExtraHTTPHeaders({ authorization: ROLE_HEADERS['read-write'] });
  const page = context.pages()[0] ?? (await context.newPage());
  const shots: Array<[string, string, { width: number; height: number }?]> = [
    ['overview', '/'],
    ['notifications', '/notifications'],
    ['notification', '/notifications/apple/ntf-subscribed'],
    ['subscription', '/subscriptions/sub_demo'],
    ['deliveries', '/deliveries'],
    ['delivery', '/deliveries/dlv_failed'],
    ['endpoints', '/endpoints'],
    ['overview-phone', '/', { width: 390, height: 844 }],
  ];
  for (const [name, path, size] of shots) {
    await page.setViewportSize(size ?? { width: 1200, height: 800 });
    await page.goto(`${fx.url}${path}`);
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`wrote docs/dashboard/${name}.png`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await fx.close();
  await rx.stop();
  await db.close();
}
