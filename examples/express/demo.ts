/**
 * `npm run demo`: starts this Express example on 127.0.0.1 with the embedded SQLite store, fires a
 * signed subscription lifecycle at it over HTTP, and prints every answer, every domain event and
 * the final subscription. Signs with a local test chain (the app trusts its root, as your tests would).
 * `npm run demo -- --keep` leaves it running afterwards, with the admin dashboard on 127.0.0.1 (no sign-in: a local demo only).
 */
import { mkdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { createSubscriptionWebhooks, type DomainEvent } from '../../src/index.js';
import { sqliteStore } from '../../src/sqlite.js';
import { createAppleTestSigner } from '../../src/testing/index.js';
import { createApp } from './app.js';

const BUNDLE_ID = 'com.example.demo';
const APP_APPLE_ID = 1234567890;
const DAY = 86_400_000;
// Colour only on a terminal, and never with NO_COLOR (https://no-color.org): piped output stays plain text.
const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
const dim = (s: string) => (colour ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (colour ? `\x1b[1m${s}\x1b[0m` : s);

const file = join(process.cwd(), '.data', 'demo.sqlite');
for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
mkdirSync(dirname(file), { recursive: true });
const db = new Database(file);
// sqliteStore: WAL, durable before each 200 (synchronous=FULL); `migrate` creates the tables from the shipped SQL.
const store = sqliteStore(db, { migrate: true });
console.log(`${bold('database')}  SQLite at ${file} via sqliteStore (created and migrated just now)`);

const signer = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Sandbox' });
const hooks = createSubscriptionWebhooks({
  apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] },
  store,
  // What each product grants: hooks.entitlements answers "may this user use Pro now?".
  products: { 'com.example.pro.monthly': { entitlements: ['pro'] } },
});
const events: DomainEvent[] = [];
hooks.bus.subscribe((event) => {
  events.push(event);
  const o = event.data.object as Record<string, unknown>;
  const detail = o.status ? ` status=${String(o.status)}` : '';
  console.log(`   ${dim('event')} ${event.type}${detail} ${dim(event.id)}`);
});

const keep = process.argv.includes('--keep');
// The dashboard without sign-in is for this local demo only (it is refused when NODE_ENV is production).
const server = createApp(hooks, { admin: { allowUnauthenticated: true } }).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`${bold('server')}    Express example on ${base}${hooks.routes.apple}`);
console.log(`${bold('dashboard')} ${base}/admin/subscriptions/${keep ? '' : dim('  (npm run demo -- --keep leaves it running)')}\n`);

async function call(label: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  console.log(bold(label));
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  console.log(`   ${dim('HTTP')} ${res.status} ${text}`);
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

const userId = 'user_42';
const pro: boolean[] = [];
const checkPro = async (when: string) => {
  const has = await hooks.entitlements.has(userId, 'pro');
  pro.push(has);
  console.log(`   ${dim('entitlement')} has(${userId}, 'pro') ${when}: ${bold(String(has))}`);
};
await checkPro('before any purchase');
const order = await call(
  '1. app creates an order (its no is the appAccountToken)',
  '/api/orders',
  { productId: 'com.example.pro.monthly' },
  { 'x-user-id': userId },
);
const appAccountToken = (order.json as { no: string }).no;

const t0 = Date.now();
const originalTransactionId = '2000000912345678';
const tx = (n: number) => ({
  transactionId: n === 1 ? originalTransactionId : `20000009123456${70 + n}`,
  originalTransactionId,
  bundleId: BUNDLE_ID,
  productId: 'com.example.pro.monthly',
  purchaseDate: t0 + (n - 1) * 30 * DAY,
  originalPurchaseDate: t0,
  expiresDate: t0 + n * 30 * DAY,
  type: 'Auto-Renewable Subscription',
  appAccountToken,
  inAppOwnershipType: 'PURCHASED',
  environment: 'Sandbox',
  price: 9990,
  currency: 'USD',
});
let clock = t0;
const notify = async (label: string, notificationType: string, subtype: string | undefined, n: number, autoRenew = 1) => {
  const signedPayload = await signer.signNotification({
    notificationType,
    ...(subtype ? { subtype } : {}),
    signedDate: (clock += 60_000),
    data: {
      transaction: tx(n),
      renewalInfo: { originalTransactionId, autoRenewProductId: 'com.example.pro.monthly', productId: 'com.example.pro.monthly', autoRenewStatus: autoRenew },
    },
  });
  return { signedPayload, ...(await call(label, hooks.routes.apple, { signedPayload })) };
};

const first = await notify('2. Apple: SUBSCRIBED / INITIAL_BUY', 'SUBSCRIBED', 'INITIAL_BUY', 1);
await checkPro('after the purchase');
const dup = await call('3. Apple redelivers the same notification', hooks.routes.apple, { signedPayload: first.signedPayload });
await notify('4. Apple: DID_RENEW', 'DID_RENEW', undefined, 2);
await notify('5. Apple: DID_CHANGE_RENEWAL_STATUS / AUTO_RENEW_DISABLED', 'DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', 2, 0);
await checkPro('after cancelling (access until the period ends)');
await notify('6. Apple: EXPIRED / VOLUNTARY', 'EXPIRED', 'VOLUNTARY', 2, 0);
await checkPro('after expiry');
const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Sandbox' });
const forged = await call('7. a forged notification (signed by another chain)', hooks.routes.apple, {
  signedPayload: await attacker.signNotification({ notificationType: 'SUBSCRIBED', subtype: 'RESUBSCRIBE', data: { transaction: tx(3) } }),
});

const subs = await (await fetch(`${base}/api/subscriptions`, { headers: { 'x-user-id': userId } })).json();
console.log(`\n${bold('final subscription')} ${JSON.stringify(subs, null, 2)}`);
if (!keep) {
  server.close();
  await store.close?.();
  db.close();
}

// The demo doubles as a smoke test: it exits non-zero when the lifecycle did not come out as documented.
const expected = [
  'provider.notification.received',
  'customer.subscription.created',
  'customer.subscription.started',
  'order.paid',
  'entitlement.granted',
  'provider.notification.received',
  'customer.subscription.renewed',
  'order.paid',
  'provider.notification.received',
  'customer.subscription.canceled',
  'provider.notification.received',
  'customer.subscription.deleted',
  'entitlement.revoked',
];
const problems = [
  first.status === 200 ? null : 'SUBSCRIBED was not accepted',
  (dup.json?.data as { duplicate?: boolean } | undefined)?.duplicate === true ? null : 'the redelivery was not recognised as a duplicate',
  forged.status === 400 ? null : 'the forged notification was not rejected',
  JSON.stringify(events.map((e) => e.type)) === JSON.stringify(expected) ? null : `unexpected events: ${events.map((e) => e.type).join(', ')}`,
  (subs as { status: string }[])[0]?.status === 'expired' ? null : 'the subscription did not end expired',
  JSON.stringify(pro) === JSON.stringify([false, true, true, false]) ? null : `has(user, 'pro') was ${pro.join(', ')} (expected false, true, true, false)`,
].filter(Boolean);
if (problems.length) {
  console.error(`\ndemo FAILED: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(
  `\n${bold('demo OK')}: ${events.length} events, duplicate acknowledged without events, forgery rejected with 400, 'pro' granted by the purchase and revoked at expiry.`,
);
if (keep) console.log(`\n${bold('dashboard')} ${base}/admin/subscriptions/ is running (Ctrl-C to stop)`);
