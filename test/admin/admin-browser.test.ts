import { mkdtempSync, rmSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDriverStore, createSqliteDriverStore } from '../helpers/databases.js';
import { ADMIN_PASSWORD, basic, dashboardFixture, ROLE_HEADERS, XSS } from '../helpers/dashboard-fixture.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Debian's chromium (`apt-get install -y chromium`; `.ci/run` installs it). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const STORES = [
  ['SQLite', () => createSqliteDriverStore()],
  ['PostgreSQL', () => createPgDriverStore()],
] as const;

describe.skipIf(!existsSync(CHROMIUM)).each(STORES)('admin dashboard in headless Chromium, Express example on %s', (_name, makeStore) => {
  let db: Awaited<ReturnType<(typeof STORES)[number][1]>>;
  let rx: WebhookReceiver;
  let fx: Awaited<ReturnType<typeof dashboardFixture>>;
  let context: BrowserContext;
  let profile: string;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    db = await makeStore();
    rx = await webhookReceiver();
    fx = await dashboardFixture(db.store, rx.url);
    profile = mkdtempSync(join(tmpdir(), 'sw-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    context.on('page', (p) => watch(p));
    for (const p of context.pages()) watch(p);
  }, 120_000);
  afterAll(async () => {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await fx?.close();
    await rx?.stop();
    await db?.close();
  });

  function watch(p: Page): void {
    p.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void (d.type() === 'confirm' ? d.accept() : d.dismiss());
    });
    p.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
  }
  /** Signs in as the example does (HTTP Basic): `read-write` is user admin, `read` user viewer; `denied` sends nothing, `wrong` a wrong password. */
  async function as(role: 'read' | 'read-write' | 'denied' | 'wrong'): Promise<Page> {
    const headers: Record<string, string> =
      role === 'denied' ? {} : role === 'wrong' ? { authorization: basic('admin', `${ADMIN_PASSWORD}!`) } : { authorization: ROLE_HEADERS[role] };
    await context.setExtraHTTPHeaders(headers);
    return context.pages()[0] ?? (await context.newPage());
  }

  it('opens the overview (counts, the 48-hour chart, the backlog) under the strict CSP without a console error', async () => {
    const page = await as('read');
    const res = await page.goto(`${fx.url}/`);
    expect(res!.status()).toBe(200);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Overview');
    expect(await page.locator('svg[aria-label^="Notifications per hour"] rect.bar').count()).toBe(48);
    expect(await page.locator('table').nth(2).textContent()).toContain('failed'); // the backlog (after rejections and subscriptions)
    // The stylesheet applied (served by the dashboard itself, allowed by the CSP).
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('header')!).display)).toBe('flex');
    expect(consoleErrors).toEqual([]);
  });

  it('shows rejections by code on the overview, and lists them (and duplicates) with the status filter', async () => {
    const page = await as('read');
    await page.goto(`${fx.url}/`);
    expect(await page.locator('svg[aria-label^="Rejections"] rect.bar').count()).toBe(2);
    const rejections = (await page.locator('table').nth(0).textContent())!;
    expect(rejections).toContain('SIGNATURE_INVALID');
    expect(rejections).toContain('CERT_CHAIN_INVALID');
    await page.goto(`${fx.url}/notifications`);
    await page.selectOption('select[name=status]', 'rejected');
    await Promise.all([page.waitForURL(/status=rejected/), page.click('button:text("Filter")')]);
    const main = (await page.locator('main tbody').textContent())!;
    expect(main).toContain(`root ${XSS}`);
    expect(await page.locator('main tbody tr').count()).toBe(3);
    await page.goto(`${fx.url}/notifications?status=duplicate`);
    expect(await page.locator('main tbody tr').count()).toBe(1);
    expect(await page.locator('main tbody').textContent()).toContain('ntf-subscribed');
  });

  it("finds a user's subscription by user id and opens its timeline", async () => {
    const page = await as('read');
    await page.goto(`${fx.url}/subscriptions`);
    await page.fill('input[name=q]', 'user_42');
    await Promise.all([page.waitForURL(/q=user_42/), page.press('input[name=q]', 'Enter')]);
    await Promise.all([page.waitForURL(/\/subscriptions\/sub_demo$/), page.click('a[href$="/subscriptions/sub_demo"]')]);
    const text = await page.locator('main').textContent();
    expect(text).toContain('customer.subscription.started');
    expect(text).toContain('order.paid');
    expect(text).toContain('ord-no-1');
  });

  it('opens a notification and sees its events, their deliveries and the nested JWS decoded', async () => {
    const page = await as('read');
    await page.goto(`${fx.url}/notifications`);
    await Promise.all([page.waitForURL(/ntf-subscribed/), page.click('a:text("ntf-subscribed")')]);
    const main = await page.locator('main').textContent();
    expect(main).toContain('customer.subscription.started');
    expect(main).toContain('dlv_failed');
    await page.goto(`${fx.url}/notifications/apple/ntf-xss`);
    expect(await page.locator('pre').textContent()).toContain('"transactionId": "2000000999"');
  });

  it('renders an XSS payload in a notification as text', async () => {
    const page = await as('read');
    for (const path of [
      '/notifications',
      '/notifications/apple/ntf-xss',
      '/deliveries?status=failed',
      `/subscriptions?q=${encodeURIComponent(`mallory ${XSS}`)}`,
    ]) {
      await page.goto(`${fx.url}${path}`);
      expect(await page.locator('main').textContent(), path).toContain(XSS);
      expect(await page.locator('main script').count(), path).toBe(0);
    }
    expect(dialogs).toEqual([]);
  });

  it('asks for a sign-in without credentials or with a wrong password, and refuses the read-only role the actions', async () => {
    // (Chromium answers a 401 with a sign-in prompt, which a headless page cannot fill: the browser's request context asks instead.)
    for (const who of ['denied', 'wrong'] as const) {
      await as(who);
      for (const path of ['/', '/api/overview', '/notifications/apple/ntf-xss']) {
        const res = await context.request.get(`${fx.url}${path}`);
        expect(res.status(), `${who} ${path}`).toBe(401);
        expect(res.headers()['www-authenticate'], path).toMatch(/^Basic /);
        expect(await res.text()).not.toContain('ntf-xss');
      }
      expect((await context.request.post(`${fx.url}/deliveries/dlv_failed/replay`, { form: { csrf: 'x' } })).status()).toBe(401);
    }
    const read = await as('read');
    await read.goto(`${fx.url}/deliveries?status=failed`);
    expect(await read.locator('button:text("Replay")').count()).toBe(0);
    await read.goto(`${fx.url}/endpoints`);
    expect(await read.locator('button').count()).toBe(0);
    // Even a forged form post from the page is refused.
    // The page itself cannot post anywhere by script (CSP connect-src falls back to 'none'); a forged post with the read role's cookies is refused.
    expect(
      await read.evaluate(
        async (u) =>
          fetch(`${u}/api/overview`).then(
            () => 'fetched',
            () => 'blocked',
          ),
        fx.url,
      ),
    ).toBe('blocked');
    expect((await context.request.post(`${fx.url}/deliveries/dlv_failed/replay`, { form: { csrf: 'x' } })).status()).toBe(403);
    expect((await fx.hooks.delivery.get('dlv_failed'))!.status).toBe('failed');
  });

  it('replays a failed delivery and watches it arrive at the local receiver', async () => {
    fx.hooks.delivery.start();
    const page = await as('read-write');
    await page.goto(`${fx.url}/deliveries?status=failed`);
    await Promise.all([page.waitForURL(/status=pending/), page.click('button:text("Replay")')]);
    await expect.poll(() => rx.accepted().length, { timeout: 10_000 }).toBeGreaterThan(0);
    await page.goto(`${fx.url}/deliveries`);
    await expect.poll(async () => (await fx.hooks.delivery.get('dlv_failed'))!.status, { timeout: 10_000 }).toBe('delivered');
    // The delivery's page shows the attempt the replay made: status code, duration, time.
    await page.goto(`${fx.url}/deliveries/dlv_failed`);
    const attempts = page.locator('main table').nth(1).locator('tbody tr');
    expect(await attempts.count()).toBe(4);
    expect(await attempts.nth(0).textContent()).toContain('503');
    expect(await attempts.nth(0).locator('td').nth(3).textContent()).toBe('180 ms');
    expect(await attempts.nth(3).locator('td').nth(2).textContent()).toBe('200');
    expect(await attempts.nth(3).locator('td').nth(3).textContent()).toMatch(/^\d+ ms$/);
    await page.goto(`${fx.url}/audit`);
    expect(await page.locator('main').textContent()).toContain('delivery.replay');
    expect(await page.locator('main tbody tr').first().textContent()).toContain('admin');
  });

  it('rotates a secret: shown once, masked on the next visit', async () => {
    const page = await as('read-write');
    await page.goto(`${fx.url}/endpoints`);
    await Promise.all([page.waitForSelector('#secret'), page.click('button:text("Rotate secret")')]);
    expect(dialogs.at(-1)).toMatch(/^confirm: Issue a new secret/);
    const secret = (await page.locator('#secret').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await page.goto(`${fx.url}/endpoints`);
    expect(await page.content()).not.toContain(secret);
    expect(await page.locator('main').textContent()).toMatch(/whsec_…/);
  });
});
