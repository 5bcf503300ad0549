import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../core/config.js';
import { isSubscriptionWebhooksError, SubscriptionWebhooksError } from '../core/errors.js';
import { AppStoreServerApiError, createAppStoreServerApi, type AppStoreServerApi, type ExtendReasonCode } from '../providers/apple/api.js';
import type { JWSTransactionDecodedPayload } from '../providers/apple/schemas.js';
import { reconcileAppleNotifications, toTimestamp } from '../providers/apple/reconcile.js';
import { createAppleVerifier } from '../providers/apple/verifier.js';
import { trustedRoots } from '../providers/apple/root-certificate.js';
import { loadOrCreateChain, untrustedSigner, type LocalChain } from './local-chain.js';
import { googleSteps, loadOrCreateGoogleSimulator, runGoogleSteps } from './google.js';

/** Exit codes of the CLI. */
export const EXIT = {
  /** Everything went as expected. */
  OK: 0,
  /** The command ran, but something it checks failed (a notification rejected, a reconcile entry failed, a test notification not delivered). */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** Missing or invalid configuration (env, key file). */
  CONFIG: 3,
  /** Apple or the target server could not be reached, or answered with an error. */
  UNREACHABLE: 4,
} as const;

/** Where the CLI reads and writes; the child-process entry passes the real ones. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const USAGE = `Usage: subscription-webhooks <command> [options]

Commands
  simulate apple <TYPE[/SUBTYPE]> --url <route>   sign one notification with the local test chain and POST it
        [--user <id>] [--product <id>] [--original-transaction-id <id>] [--app-account-token <uuid>]
  simulate lifecycle --url <route> [--user <id>]  subscribe, redeliver, renew, turn off auto-renew, expire, forge
  simulate xsolla <type> --url <route> --secret <key> [--user <id>] [--project-id <n>]
  simulate google env [--port <n>] [--package <name>]
                                                  the env a dev server needs to trust the local Google stand-in
  simulate google <lifecycle|TYPE> --url <route> [--token <purchaseToken>] [--product <id>]
                                                  run the stand-in (push keys, token endpoint, Play Developer API)
                                                  and push a purchase's lifecycle, or one notification, at the route
  chain                                           create (or show) the local test chain and how to trust it
  test-notification [--wait <seconds>]            ask Apple for a real TEST notification and report its delivery
  reconcile --since <7d|ISO date> [--until ..] [--only-failures] [--url <route>]
                                                  walk Apple's notification history; with --url, POST each
                                                  notification to your route (duplicates are skipped there)
  apple lookup-order <ORDER_ID>                   the purchases of an order id from the customer's App Store
                                                  receipt (verified); exit 1 when Apple does not know it
  apple extend <originalTransactionId> --days <1-90> --reason <code>
                                                  extend one subscription's renewal date
  apple extend --all --product <id> --days <1-90> --reason <code> [--storefronts USA,FRA]
                                                  extend every active subscriber of a product (asynchronous)
  apple extend status --product <id> --request-id <id>
                                                  progress of an --all extension
  apple refund-history <transactionId> [--revision <token>]
                                                  every refunded purchase of that customer (all pages)
  schema path                                     print where the Prisma schema fragment is

Options
  --json                 one JSON document on stdout instead of tables
  --dir <path>           the local test chain's folder (default .subscription-webhooks)
  --bundle-id <id>       default env APPLE_BUNDLE_ID, else com.example.app (simulate)
  --environment <env>    Sandbox (default for simulate) or Production
  --orders-url <url>     with --user: where to create the order (default <origin of --url>/api/orders,
                         the Express example's route; POST { productId } with header x-user-id)
  --reason <code>        extension reason: 0 or undeclared, 1 or customer-satisfaction, 2 or other,
                         3 or service-issue
  --request-id <id>      extension request identifier (default a new UUID; repeat it to retry safely)

Environment (test-notification, reconcile, apple): APPLE_BUNDLE_ID, APPLE_APP_APPLE_ID, APPLE_ENVIRONMENTS,
  APPLE_KEY_ID, APPLE_ISSUER_ID, APPLE_PRIVATE_KEY_PATH, APPLE_API_BASE_URL, APPLE_ROOT_CERTIFICATES

Exit codes: 0 ok, 1 something checked failed, 2 usage, 3 configuration, 4 Apple or the server unreachable.
`;

class UsageError extends Error {}

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  user: { type: 'string' },
  product: { type: 'string' },
  'original-transaction-id': { type: 'string' },
  'app-account-token': { type: 'string' },
  'orders-url': { type: 'string' },
  secret: { type: 'string' },
  'project-id': { type: 'string' },
  dir: { type: 'string' },
  'bundle-id': { type: 'string' },
  environment: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'only-failures': { type: 'boolean' },
  wait: { type: 'string' },
  days: { type: 'string' },
  reason: { type: 'string' },
  'request-id': { type: 'string' },
  all: { type: 'boolean' },
  storefronts: { type: 'string' },
  revision: { type: 'string' },
  port: { type: 'string' },
  package: { type: 'string' },
  token: { type: 'string' },
} as const;

type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

const DAY = 86_400_000;

interface Step {
  step: string;
  status: number;
  expected: number;
  result: string;
}

function summarize(body: string): string {
  try {
    const json = JSON.parse(body) as { message?: string; data?: { duplicate?: boolean; error?: string }; error?: { code?: string } };
    if (json.data?.error) return json.data.error;
    if (json.error?.code) return json.error.code;
    if (json.data?.duplicate) return 'duplicate';
    return json.message ?? '';
  } catch {
    return body.slice(0, 60);
  }
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  } catch (cause) {
    throw Object.assign(new Error(`cannot reach ${url}: ${(cause as Error).message}`, { cause }), { code: 'UNREACHABLE' });
  }
  return { status: res.status, body: await res.text() };
}

function requireUrl(flags: Flags): string {
  if (!flags.url) throw new UsageError('--url is required, e.g. --url http://127.0.0.1:3000/api/users/app-store-notifications');
  try {
    return new URL(flags.url).toString();
  } catch {
    throw new UsageError(`--url is not a URL: ${flags.url}`);
  }
}

function simulateContext(flags: Flags, io: CliIo) {
  const environment = flags.environment ?? 'Sandbox';
  if (environment !== 'Sandbox' && environment !== 'Production') throw new UsageError('--environment must be Sandbox or Production');
  const appAppleId = io.env.APPLE_APP_APPLE_ID ? Number(io.env.APPLE_APP_APPLE_ID) : undefined;
  return { bundleId: flags['bundle-id'] ?? io.env.APPLE_BUNDLE_ID ?? 'com.example.app', environment, appAppleId };
}

/** Signs App Store-shaped payloads for one subscription, like the demo does. */
function contract(ctx: ReturnType<typeof simulateContext>, flags: Flags, appAccountToken: string | undefined) {
  const originalTransactionId = flags['original-transaction-id'] ?? String(2_000_000_000_000_000 + Math.floor(Math.random() * 1e12));
  const productId = flags.product ?? 'com.example.pro.monthly';
  const t0 = Date.now();
  let clock = t0;
  const transaction = (n: number) => ({
    transactionId: n === 1 ? originalTransactionId : `${originalTransactionId.slice(0, -3)}${String(100 + n).slice(-3)}`,
    originalTransactionId,
    webOrderLineItemId: `${originalTransactionId}${n}`,
    bundleId: ctx.bundleId,
    productId,
    subscriptionGroupIdentifier: '21000000',
    purchaseDate: t0 + (n - 1) * 30 * DAY,
    originalPurchaseDate: t0,
    expiresDate: t0 + n * 30 * DAY,
    quantity: 1,
    type: 'Auto-Renewable Subscription',
    ...(appAccountToken ? { appAccountToken } : {}),
    inAppOwnershipType: 'PURCHASED',
    signedDate: clock,
    environment: ctx.environment,
    transactionReason: n === 1 ? 'PURCHASE' : 'RENEWAL',
    storefront: 'USA',
    storefrontId: '143441',
    price: 9990,
    currency: 'USD',
  });
  return {
    originalTransactionId,
    /** The notification payload (not yet signed at the outer level). */
    async payload(sign: (p: object) => Promise<string>, type: string, subtype: string | undefined, n: number, autoRenew: number) {
      clock += 60_000;
      const data: Record<string, unknown> = {
        ...(ctx.appAppleId !== undefined ? { appAppleId: ctx.appAppleId } : {}),
        bundleId: ctx.bundleId,
        bundleVersion: '1',
        environment: ctx.environment,
      };
      if (type !== 'TEST') {
        data.status = type === 'EXPIRED' ? 2 : 1;
        data.signedTransactionInfo = await sign({ ...transaction(n), signedDate: clock });
        data.signedRenewalInfo = await sign({
          originalTransactionId,
          autoRenewProductId: productId,
          productId,
          autoRenewStatus: autoRenew,
          signedDate: clock,
          environment: ctx.environment,
          recentSubscriptionStartDate: t0,
          renewalDate: t0 + n * 30 * DAY,
        });
      }
      return { notificationType: type, ...(subtype ? { subtype } : {}), notificationUUID: randomUUID(), version: '2.0', signedDate: clock, data };
    },
  };
}

async function createOrder(flags: Flags, url: string, io: CliIo): Promise<string | undefined> {
  if (flags['app-account-token']) return flags['app-account-token'];
  if (!flags.user) return undefined;
  const ordersUrl = flags['orders-url'] ?? new URL('/api/orders', url).toString();
  try {
    const res = await post(ordersUrl, JSON.stringify({ productId: flags.product ?? 'com.example.pro.monthly' }), { 'x-user-id': flags.user });
    const no = (JSON.parse(res.body) as { no?: unknown }).no;
    if (res.status < 300 && typeof no === 'string') return no;
    io.stderr(`warning: ${ordersUrl} answered ${res.status}; continuing without an order (the subscription will have no user)\n`);
  } catch (e) {
    io.stderr(`warning: could not create an order at ${ordersUrl} (${(e as Error).message}); continuing without one\n`);
  }
  return undefined;
}

function chainNotice(chain: LocalChain): string {
  return (
    `${chain.created ? 'created' : 'using'} local test chain in ${chain.dir}\n` +
    `root certificate: ${chain.rootPath}\n` +
    `trust it in your dev server: APPLE_ROOT_CERTIFICATES=apple,${chain.rootPath} (or apple.rootCertificates: ['apple', '${chain.rootPath}'])\n\n`
  );
}

async function simulateApple(what: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (!what) throw new UsageError('simulate apple needs a notification type, e.g. SUBSCRIBED/INITIAL_BUY');
  const url = requireUrl(flags);
  const [type, subtype] = what.toUpperCase().split('/') as [string, string | undefined];
  const chain = await loadOrCreateChain(flags.dir ?? join(io.cwd, '.subscription-webhooks'));
  const ctx = simulateContext(flags, io);
  const token = await createOrder(flags, url, io);
  const c = contract(ctx, flags, token);
  const autoRenew = (type === 'DID_CHANGE_RENEWAL_STATUS' && subtype === 'AUTO_RENEW_DISABLED') || type === 'EXPIRED' ? 0 : 1;
  const n = type === 'DID_RENEW' ? 2 : 1;
  const payload = await c.payload(chain.sign, type, subtype, n, autoRenew);
  const res = await post(url, JSON.stringify({ signedPayload: await chain.sign(payload) }));
  const ok = res.status >= 200 && res.status < 300;
  if (flags.json) {
    io.stdout(
      `${JSON.stringify({ ok, status: res.status, notificationUUID: payload.notificationUUID, originalTransactionId: c.originalTransactionId, rootCertificate: chain.rootPath, response: safeJson(res.body) })}\n`,
    );
  } else {
    io.stdout(chainNotice(chain));
    io.stdout(table(['notification', 'uuid', 'HTTP', 'result'], [[what.toUpperCase(), payload.notificationUUID, res.status, summarize(res.body)]]));
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function simulateLifecycle(flags: Flags, io: CliIo): Promise<number> {
  const url = requireUrl(flags);
  const chain = await loadOrCreateChain(flags.dir ?? join(io.cwd, '.subscription-webhooks'));
  const ctx = simulateContext(flags, io);
  const token = await createOrder(flags, url, io);
  const c = contract(ctx, flags, token);
  const steps: Step[] = [];
  const fire = async (label: string, signedPayload: string, expected: number) => {
    const res = await post(url, JSON.stringify({ signedPayload }));
    steps.push({ step: label, status: res.status, expected, result: summarize(res.body) });
  };
  const first = await chain.sign(await c.payload(chain.sign, 'SUBSCRIBED', 'INITIAL_BUY', 1, 1));
  await fire('SUBSCRIBED/INITIAL_BUY', first, 200);
  await fire('redelivery of the same notification', first, 200);
  await fire('DID_RENEW', await chain.sign(await c.payload(chain.sign, 'DID_RENEW', undefined, 2, 1)), 200);
  await fire(
    'DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED',
    await chain.sign(await c.payload(chain.sign, 'DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', 2, 0)),
    200,
  );
  await fire('EXPIRED/VOLUNTARY', await chain.sign(await c.payload(chain.sign, 'EXPIRED', 'VOLUNTARY', 2, 0)), 200);
  const forger = await untrustedSigner();
  await fire('forged (signed by another chain)', await forger(await c.payload(forger, 'SUBSCRIBED', 'RESUBSCRIBE', 3, 1)), 400);
  const ok = steps.every((s) => s.status === s.expected) && steps[1]!.result === 'duplicate';
  if (flags.json) {
    io.stdout(
      `${JSON.stringify({ ok, originalTransactionId: c.originalTransactionId, appAccountToken: token ?? null, rootCertificate: chain.rootPath, steps })}\n`,
    );
  } else {
    io.stdout(chainNotice(chain));
    io.stdout(
      table(
        ['#', 'step', 'HTTP', 'expected', 'result'],
        steps.map((s, i) => [i + 1, s.step, s.status, s.expected, s.result]),
      ),
    );
    io.stdout(`\n${ok ? 'lifecycle OK' : 'lifecycle FAILED'} (originalTransactionId ${c.originalTransactionId})\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}

/** Minimal Xsolla webhook bodies: the fields the receiver reads, nothing more. */
function xsollaBody(type: string, flags: Flags, io: CliIo): Record<string, unknown> {
  const projectId = Number(flags['project-id'] ?? io.env.XSOLLA_PROJECT_ID ?? 0);
  const user = { id: flags.user ?? 'user_1' };
  const now = new Date();
  const subscription = {
    plan_id: 'pro-monthly',
    subscription_id: Math.floor(Math.random() * 1e9),
    product_id: flags.product ?? 'pro',
    date_create: now.toISOString(),
    date_next_charge: new Date(now.getTime() + 30 * DAY).toISOString(),
    currency: 'USD',
    amount: 9.99,
  };
  const transaction = { id: Math.floor(Math.random() * 1e9), external_id: randomUUID(), payment_date: now.toISOString(), dry_run: 1 };
  const base = { notification_type: type, settings: { project_id: projectId, merchant_id: 0 }, user };
  switch (type) {
    case 'user_validation':
      return base;
    case 'payment':
    case 'refund':
      return {
        ...base,
        purchase: { subscription, total: { currency: 'USD', amount: 9.99 } },
        transaction,
        ...(type === 'refund' ? { refund_details: { code: 1, reason: 'simulated' } } : {}),
      };
    default:
      return { ...base, subscription };
  }
}

async function simulateXsolla(type: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (!type) throw new UsageError('simulate xsolla needs a notification type, e.g. payment, create_subscription, user_validation');
  const url = requireUrl(flags);
  const secret = flags.secret ?? io.env.XSOLLA_WEBHOOK_SECRET;
  if (!secret) throw new UsageError('--secret is required (or set XSOLLA_WEBHOOK_SECRET)');
  const rawBody = JSON.stringify(xsollaBody(type, flags, io));
  // Xsolla's webhook signature: SHA-1 of the raw body followed by the project's secret key.
  const signature = createHash('sha1')
    .update(rawBody + secret)
    .digest('hex');
  const res = await post(url, rawBody, { authorization: `Signature ${signature}` });
  const ok = res.status >= 200 && res.status < 300;
  if (flags.json) io.stdout(`${JSON.stringify({ ok, status: res.status, body: safeJson(rawBody), response: res.body ? safeJson(res.body) : null })}\n`);
  else io.stdout(table(['notification', 'HTTP', 'result'], [[type, res.status, res.body ? summarize(res.body) : 'no content']]));
  return ok ? EXIT.OK : EXIT.FAILED;
}

/** The Google route's answer in a word: its error code, `duplicate` or `processed`. */
function googleResult(body: string): string {
  const json = safeJson(body) as { error?: { code?: string }; duplicate?: boolean } | string | null;
  if (typeof json !== 'object' || json === null) return body.slice(0, 60);
  return json.error?.code ?? (json.duplicate ? 'duplicate' : 'processed');
}

async function simulateGoogle(what: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (!what) throw new UsageError('simulate google needs env, lifecycle or a notification type, e.g. SUBSCRIPTION_RENEWED');
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new UsageError('--port must be a TCP port');
  const sim = await loadOrCreateGoogleSimulator(flags.dir ?? join(io.cwd, '.subscription-webhooks'), { port, packageName: flags.package });
  const envLines = Object.entries(sim.env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  if (what === 'env') {
    if (flags.json) io.stdout(`${JSON.stringify(sim.env)}\n`);
    else io.stdout(`# Start your dev server with these (the stand-in listens on 127.0.0.1:${sim.port} while simulate google runs):\n${envLines}\n`);
    return EXIT.OK;
  }
  const steps = googleSteps(what);
  if (!steps) throw new UsageError(`unknown Google notification ${what}: lifecycle, TEST_NOTIFICATION or a SUBSCRIPTION_* type`);
  const url = requireUrl(flags);
  const rows = await runGoogleSteps(sim, steps, { url, token: flags.token ?? `sim-${randomUUID()}`, productId: flags.product ?? 'pro_monthly', post });
  const ok = rows.every((r) => r.status === r.expected);
  if (flags.json) io.stdout(`${JSON.stringify({ ok, steps: rows.map((r) => ({ ...r, body: safeJson(r.body) })) })}\n`);
  else {
    io.stdout(
      table(
        ['notification', 'messageId', 'HTTP', 'expected', 'result'],
        rows.map((r) => [r.label, r.messageId, r.status, r.expected, googleResult(r.body)]),
      ),
    );
    if (!ok && rows.some((r) => r.status === 401 && r.expected === 200))
      io.stdout(`\nYour server does not trust the stand-in yet. Start it with:\n${envLines}\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}

function apiFromEnv(flags: Flags, io: CliIo): AppStoreServerApi {
  const resolved = resolveConfig(undefined, io.env);
  const apple = resolved.apple;
  if (!apple?.api) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'set APPLE_BUNDLE_ID, APPLE_KEY_ID, APPLE_ISSUER_ID and APPLE_PRIVATE_KEY_PATH (and APPLE_APP_APPLE_ID for Production)',
    );
  }
  const environment = flags.environment ?? apple.api.environment;
  if (environment !== 'Sandbox' && environment !== 'Production') throw new UsageError('--environment must be Sandbox or Production');
  const verifier = createAppleVerifier({
    bundleId: apple.bundleId,
    appAppleId: apple.appAppleId,
    environments: apple.environments,
    rootCertificates: trustedRoots(apple.rootCertificates),
  });
  return createAppStoreServerApi({ ...apple.api, environment, bundleId: apple.bundleId, appAppleId: apple.appAppleId, verifier });
}

async function testNotification(flags: Flags, io: CliIo): Promise<number> {
  const api = apiFromEnv(flags, io);
  const waitMs = Number(flags.wait ?? '30') * 1000;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new UsageError('--wait must be a number of seconds');
  const { testNotificationToken } = await api.requestTestNotification();
  const deadline = Date.now() + waitMs;
  let status = await api
    .getTestNotificationStatus(testNotificationToken)
    .catch((e: unknown) => (isSubscriptionWebhooksError(e, 'APPLE_API_NOT_FOUND') ? null : Promise.reject(e)));
  // Apple sends the notification asynchronously: poll until it reports an attempt or we run out of patience.
  while ((!status || status.sendAttempts.length === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    status = await api
      .getTestNotificationStatus(testNotificationToken)
      .catch((e: unknown) => (isSubscriptionWebhooksError(e, 'APPLE_API_NOT_FOUND') ? null : Promise.reject(e)));
  }
  const attempts = status?.sendAttempts ?? [];
  const ok = attempts.some((a) => a.sendAttemptResult === 'SUCCESS');
  if (flags.json) {
    io.stdout(
      `${JSON.stringify({ ok, environment: api.environment, testNotificationToken, notificationUUID: status?.notification.payload.notificationUUID ?? null, sendAttempts: attempts })}\n`,
    );
  } else {
    io.stdout(
      `environment ${api.environment}, token ${testNotificationToken}, notification ${status?.notification.payload.notificationUUID ?? '(not sent yet)'}\n\n`,
    );
    io.stdout(
      table(
        ['attempt', 'date', 'result'],
        attempts.map((a, i) => [i + 1, new Date(a.attemptDate).toISOString(), a.sendAttemptResult]),
      ),
    );
    io.stdout(`\n${ok ? 'delivered' : 'NOT delivered: check the URL in App Store Connect and your server logs'}\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}

async function reconcile(flags: Flags, io: CliIo): Promise<number> {
  if (!flags.since) throw new UsageError('--since is required, e.g. --since 7d');
  const now = Date.now();
  const since = toTimestamp(flags.since, now);
  const until = flags.until ? toTimestamp(flags.until, now) : now;
  const api = apiFromEnv(flags, io);
  if (flags.url) {
    const url = requireUrl(flags);
    const result = await reconcileAppleNotifications(
      { api, deliver: (rawBody) => post(url, rawBody) },
      { since, until, onlyFailures: flags['only-failures'] === true },
    );
    if (flags.json) io.stdout(`${JSON.stringify(result)}\n`);
    else {
      io.stdout(table(['seen', 'processed', 'duplicates', 'failed'], [[result.seen, result.processed, result.duplicates, result.failed]]));
      if (result.failures.length)
        io.stdout(
          `\n${table(
            ['notificationUUID', 'HTTP', 'error'],
            result.failures.map((f) => [f.notificationUUID, f.status, f.error]),
          )}`,
        );
    }
    return result.failed === 0 ? EXIT.OK : EXIT.FAILED;
  }
  // Without --url: list what Apple has (verified), so you can see what a reconcile would deliver.
  const rows: Array<{ signedDate: number; notificationType: string; subtype: string | null; notificationUUID: string; lastAttempt: string | null }> = [];
  let token: string | null = null;
  do {
    const page = await api.getNotificationHistory({ startDate: since, endDate: until, onlyFailures: flags['only-failures'] === true }, token);
    for (const item of page.items) {
      const p = item.notification.payload;
      rows.push({
        signedDate: p.signedDate,
        notificationType: p.notificationType,
        subtype: p.subtype ?? null,
        notificationUUID: p.notificationUUID,
        lastAttempt: item.sendAttempts.at(-1)?.sendAttemptResult ?? null,
      });
    }
    token = page.hasMore ? page.paginationToken : null;
  } while (token);
  if (flags.json) io.stdout(`${JSON.stringify({ notifications: rows })}\n`);
  else {
    io.stdout(
      table(
        ['signed', 'type', 'subtype', 'uuid', 'last attempt'],
        rows.map((r) => [new Date(r.signedDate).toISOString(), r.notificationType, r.subtype, r.notificationUUID, r.lastAttempt]),
      ),
    );
    io.stdout(`\n${rows.length} notification(s); pass --url <your route> to deliver them (already-processed ones are skipped)\n`);
  }
  return EXIT.OK;
}

const iso = (ms: number | undefined | null) => (ms === undefined || ms === null ? null : new Date(ms).toISOString());

/** The columns support needs from a transaction. */
function transactionRow(t: JWSTransactionDecodedPayload) {
  return {
    transactionId: t.transactionId,
    originalTransactionId: t.originalTransactionId,
    productId: t.productId,
    purchaseDate: iso(t.purchaseDate),
    expiresDate: iso(t.expiresDate),
    revocationDate: iso(t.revocationDate),
    appAccountToken: t.appAccountToken ?? null,
  };
}

function transactionTable(rows: ReturnType<typeof transactionRow>[]): string {
  return table(
    ['transaction', 'original', 'product', 'purchased', 'expires', 'revoked', 'appAccountToken'],
    rows.map((r) => [r.transactionId, r.originalTransactionId, r.productId, r.purchaseDate, r.expiresDate, r.revocationDate, r.appAccountToken]),
  );
}

const REASONS: Record<string, ExtendReasonCode> = { undeclared: 0, 'customer-satisfaction': 1, other: 2, 'service-issue': 3 };

function extensionFlags(flags: Flags): { extendByDays: number; extendReasonCode: ExtendReasonCode; requestIdentifier?: string } {
  if (!flags.days || !/^\d+$/.test(flags.days) || Number(flags.days) < 1 || Number(flags.days) > 90)
    throw new UsageError('--days must be a whole number from 1 to 90');
  const reason = flags.reason === undefined ? undefined : /^[0-3]$/.test(flags.reason) ? (Number(flags.reason) as ExtendReasonCode) : REASONS[flags.reason];
  if (reason === undefined) throw new UsageError('--reason must be 0 (undeclared), 1 (customer-satisfaction), 2 (other) or 3 (service-issue)');
  return { extendByDays: Number(flags.days), extendReasonCode: reason, ...(flags['request-id'] ? { requestIdentifier: flags['request-id'] } : {}) };
}

async function appleCommand(sub: string | undefined, arg: string | undefined, extra: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  const out = (json: unknown, text: string) => io.stdout(flags.json ? `${JSON.stringify(json)}\n` : text);
  switch (sub) {
    case 'lookup-order': {
      if (!arg) throw new UsageError("apple lookup-order needs the order id from the customer's receipt, e.g. MK5TTTVWJH");
      const r = await apiFromEnv(flags, io).lookUpOrderId(arg);
      const rows = r.transactions.map(transactionRow);
      out(
        { ok: r.valid, orderId: arg, status: r.status, transactions: rows },
        r.valid
          ? `order ${arg}: ${rows.length} purchase(s)\n\n${transactionTable(rows)}`
          : `order ${arg}: not a valid order id of this app (status ${r.status})\n`,
      );
      return r.valid ? EXIT.OK : EXIT.FAILED;
    }
    case 'extend': {
      if (arg === 'status') {
        if (!flags.product || !flags['request-id']) throw new UsageError('apple extend status needs --product and --request-id');
        const s = await apiFromEnv(flags, io).getRenewalDateExtensionStatus(flags.product, flags['request-id']);
        out(
          { ok: true, ...s },
          s.complete
            ? `extension ${s.requestIdentifier}: complete ${iso(s.completeDate) ?? ''}, ${s.succeededCount ?? 0} extended, ${s.failedCount ?? 0} failed\n`
            : `extension ${s.requestIdentifier}: in progress\n`,
        );
        return EXIT.OK;
      }
      const fields = extensionFlags(flags);
      if (flags.all) {
        if (arg) throw new UsageError('apple extend --all takes no transaction id (it extends every active subscriber of --product)');
        if (!flags.product) throw new UsageError('apple extend --all needs --product <subscription product id>');
        const storefrontCountryCodes = flags.storefronts ? flags.storefronts.split(',').map((c) => c.trim().toUpperCase()) : undefined;
        const r = await apiFromEnv(flags, io).extendRenewalDateForAllActiveSubscribers({
          ...fields,
          productId: flags.product,
          ...(storefrontCountryCodes ? { storefrontCountryCodes } : {}),
        });
        out(
          { ok: true, productId: flags.product, requestIdentifier: r.requestIdentifier },
          `requested: every active subscriber of ${flags.product} +${fields.extendByDays} days\nrequest id ${r.requestIdentifier}\n` +
            `check: subscription-webhooks apple extend status --product ${flags.product} --request-id ${r.requestIdentifier}\n`,
        );
        return EXIT.OK;
      }
      if (!arg || extra) throw new UsageError('apple extend needs one original transaction id (or --all --product <id>)');
      const r = await apiFromEnv(flags, io).extendSubscriptionRenewalDate(arg, fields);
      out(
        { ok: r.success, ...r, effectiveDate: iso(r.effectiveDate) },
        `${r.success ? 'extended' : 'NOT extended'}: ${arg} +${fields.extendByDays} days${r.effectiveDate ? `, now renews ${iso(r.effectiveDate)}` : ''} (request id ${r.requestIdentifier})\n`,
      );
      return r.success ? EXIT.OK : EXIT.FAILED;
    }
    case 'refund-history': {
      if (!arg) throw new UsageError('apple refund-history needs a transaction id of the customer');
      const api = apiFromEnv(flags, io);
      const rows: ReturnType<typeof transactionRow>[] = [];
      let revision: string | null = flags.revision ?? null;
      // Bounded: 20 refunds a page, so 1000 pages is more than any customer has.
      for (let pages = 0; pages < 1000; pages++) {
        const page = await api.getRefundHistory(arg, revision);
        rows.push(...page.transactions.map(transactionRow));
        const next = page.revision ?? revision;
        if (!page.hasMore || next === revision) {
          revision = next;
          break;
        }
        revision = next;
      }
      out(
        { ok: true, transactionId: arg, refunds: rows, revision },
        `${rows.length} refunded purchase(s)\n\n${transactionTable(rows)}\nrevision ${revision ?? '(none)'}: pass --revision to list only later refunds next time\n`,
      );
      return EXIT.OK;
    }
    default:
      throw new UsageError('apple what? lookup-order <ORDER_ID>, extend …, or refund-history <transactionId>');
  }
}

/** The package's `prisma-schema/subscription-webhooks.prisma`, found upwards from this module (src/cli or dist). */
export function schemaPath(): string {
  let dir = typeof __filename === 'string' ? dirname(__filename) : dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'prisma-schema', 'subscription-webhooks.prisma');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new SubscriptionWebhooksError('CONFIG_INVALID', 'prisma-schema/subscription-webhooks.prisma not found above the CLI');
    dir = parent;
  }
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves to the exit code.
 * Never throws: errors are printed to stderr and mapped to {@link EXIT} codes.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), { env: process.env, cwd: process.cwd(), stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let flags: Flags = {};
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    flags = parsed.values as Flags;
    const [command, sub, arg, extra] = parsed.positionals;
    if (flags.help || !command) {
      io.stdout(USAGE);
      return command || flags.help ? EXIT.OK : EXIT.USAGE;
    }
    switch (command) {
      case 'simulate':
        if (sub === 'apple') return await simulateApple(arg, flags, io);
        if (sub === 'lifecycle') return await simulateLifecycle(flags, io);
        if (sub === 'xsolla') return await simulateXsolla(arg, flags, io);
        if (sub === 'google') return await simulateGoogle(arg, flags, io);
        throw new UsageError('simulate what? apple <TYPE[/SUBTYPE]>, lifecycle, xsolla <type> or google <env|lifecycle|TYPE>');
      case 'chain': {
        const chain = await loadOrCreateChain(flags.dir ?? join(io.cwd, '.subscription-webhooks'));
        if (flags.json)
          io.stdout(`${JSON.stringify({ dir: chain.dir, rootCertificate: chain.rootPath, rootCertificatePem: chain.rootPemPath, created: chain.created })}\n`);
        else io.stdout(chainNotice(chain));
        return EXIT.OK;
      }
      case 'test-notification':
        return await testNotification(flags, io);
      case 'reconcile':
        return await reconcile(flags, io);
      case 'apple':
        return await appleCommand(sub, arg, extra, flags, io);
      case 'schema':
        if (sub !== 'path') throw new UsageError('did you mean: schema path');
        if (flags.json) io.stdout(`${JSON.stringify({ path: schemaPath() })}\n`);
        else io.stdout(`${schemaPath()}\n`);
        return EXIT.OK;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${e.message}\n\n${USAGE}`);
      return EXIT.USAGE;
    }
    if (flags.json) io.stdout(`${JSON.stringify({ ok: false, error: e.code ?? 'INTERNAL', message: e.message })}\n`);
    io.stderr(`error${e.code ? ` ${e.code}` : ''}: ${e.message}\n`);
    if (err instanceof AppStoreServerApiError || e.code === 'UNREACHABLE' || (isSubscriptionWebhooksError(err) && err.code.startsWith('APPLE_API_')))
      return EXIT.UNREACHABLE;
    if (isSubscriptionWebhooksError(err, 'CONFIG_INVALID') || isSubscriptionWebhooksError(err, 'INVALID_ARGUMENT')) {
      return isSubscriptionWebhooksError(err, 'INVALID_ARGUMENT') ? EXIT.USAGE : EXIT.CONFIG;
    }
    return EXIT.FAILED;
  }
}
