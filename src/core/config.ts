import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { SubscriptionWebhooksError } from './errors.js';
import { configIssueMessage } from './config-hints.js';
import { APPLE_ROOT_CA_G3_DER } from '../providers/apple/root-certificate.js';
import type { ConsumptionPolicy } from '../providers/apple/actions.js';
import { parseSecretKeys, SECRET_KEY_ENV, type SecretKey } from '../delivery/secrets.js';
import type { Logger } from './logger.js';
import type { Store } from '../store/types.js';

/** Apple environments a notification can come from. */
export type AppleEnvironment = 'Production' | 'Sandbox' | 'Xcode' | 'LocalTesting';

/** A user-facing notification rendered by the library for the app's `notifier`. */
export interface UserNotification {
  userId: string | null;
  eventType: string;
  title: string;
  body: string;
  locale: string;
  context: Record<string, unknown>;
}

/** Options of {@link createSubscriptionWebhooks}. Every key is optional; see each for its default. */
export interface SubscriptionWebhooksConfig {
  /** Apple App Store Server Notifications V2. Defaults come from env `APPLE_BUNDLE_ID`, `APPLE_APP_APPLE_ID`, `APPLE_ENVIRONMENTS`. */
  apple?: {
    /** Your app's bundle id. Env `APPLE_BUNDLE_ID`. */
    bundleId: string;
    /** Your app's Apple ID (a number). Required when `environments` includes `Production`. Env `APPLE_APP_APPLE_ID`. */
    appAppleId?: number;
    /**
     * Environments accepted. Env `APPLE_ENVIRONMENTS` (comma separated).
     * @default ["Production", "Sandbox"]
     */
    environments?: AppleEnvironment[];
    /**
     * Trusted root certificates: DER bytes, or paths of DER/PEM files (read once, here), or `"apple"` for the
     * bundled Apple Root CA - G3. Give your test signer's root here in tests. Env `APPLE_ROOT_CERTIFICATES`
     * (comma separated, same forms), e.g. `apple,.subscription-webhooks/root.cer` for a dev server that also
     * accepts the CLI's simulated notifications.
     * @default the bundled Apple Root CA - G3
     */
    rootCertificates?: Array<Uint8Array | string>;
    /** Certificate revocation checks over the network (OCSP). Not implemented yet: must stay `false`. @default false */
    onlineChecks?: boolean;
    /**
     * Also verify the signatures of the nested `signedTransactionInfo` / `signedRenewalInfo`.
     * The outer signature already covers their exact bytes, so this only costs time.
     * @default false
     */
    strictNested?: boolean;
    /**
     * App Store Server API credentials (`hooks.apple.api`, `hooks.apple.reconcile`). Env `APPLE_KEY_ID`,
     * `APPLE_ISSUER_ID`, `APPLE_PRIVATE_KEY_PATH` (the `.p8` file, read once when the config is resolved),
     * `APPLE_API_BASE_URL`; env is used whenever this key is absent.
     */
    api?: {
      /** The key's ID from App Store Connect (Users and Access → Integrations → In-App Purchase). */
      keyId: string;
      /** Your issuer ID, from the same page. */
      issuerId: string;
      /** The `.p8` file's contents (PKCS#8 PEM). */
      privateKey: string;
      /** @default "https://api.storekit.apple.com" or "https://api.storekit-sandbox.apple.com" */
      baseUrl?: string;
      /** @default "Production" when `environments` includes it, else "Sandbox" */
      environment?: 'Production' | 'Sandbox';
    };
    /**
     * Answers Apple's `CONSUMPTION_REQUEST` (a customer asked Apple for a refund): return the
     * consumption information to send (Send Consumption Information), or `null` to send nothing. Called
     * once per request after it is committed, by `hooks.delivery` (retried, never lost), within Apple's
     * 12-hour window; what was sent is kept on the order as `metadata.apple_consumption`. Needs `api`.
     * @default none: nothing is sent
     * @example consumption: async ({ order }) => ({ customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true })
     */
    consumption?: ConsumptionPolicy;
  };
  /**
   * Xsolla subscription webhooks and the user-subscriptions API. Defaults come from env
   * `XSOLLA_PROJECT_ID` and `XSOLLA_WEBHOOK_SECRET`.
   */
  xsolla?: {
    /** Your project id (Publisher Account, next to the project name). Env `XSOLLA_PROJECT_ID`. */
    projectId: number;
    /** The project's webhook secret key (Project settings → Webhooks). Env `XSOLLA_WEBHOOK_SECRET`. */
    secretKey: string;
    /**
     * Answers Xsolla's `user_validation` webhook: resolve `true` when the user exists in your app.
     * A rejection answers 500, so Xsolla retries.
     * @default every user exists (204)
     */
    userExists?: (userId: string) => Promise<boolean>;
    /** Base URL of the subscriptions API. @default "https://subscriptions.xsolla.com" */
    apiBaseUrl?: string;
  };
  /**
   * Google Play Real-time developer notifications (Cloud Pub/Sub push) and the Play Developer API.
   * Defaults come from env `GOOGLE_PLAY_PACKAGE_NAME`, `GOOGLE_PLAY_PUSH_AUDIENCE`,
   * `GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT`, `GOOGLE_PLAY_JWKS_URL`, `GOOGLE_PLAY_KEY_FILE`, `GOOGLE_PLAY_API_BASE_URL`.
   */
  google?: {
    /** Your app's package name, e.g. `com.example.app`: pushes for another package are refused. Env `GOOGLE_PLAY_PACKAGE_NAME`. */
    packageName: string;
    /** The audience of the push subscription's OIDC token (the push endpoint URL unless you set another). Env `GOOGLE_PLAY_PUSH_AUDIENCE`. */
    audience: string;
    /** The service account the push subscription authenticates as (its token's `email`). Env `GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT`. */
    serviceAccountEmail: string;
    /** Where Google publishes the keys that sign push tokens. Env `GOOGLE_PLAY_JWKS_URL`. @default "https://www.googleapis.com/oauth2/v3/certs" */
    jwksUrl?: string;
    /**
     * The Play Developer API (state of a purchase, acknowledgement). Without it, notifications are recorded
     * and emitted as `provider.notification.received` only. Env `GOOGLE_PLAY_KEY_FILE` (the JSON key file, read once).
     */
    api?: {
      /** The service account's JSON key: the file's contents, or the parsed object. Give this or `keyFile`. */
      serviceAccountKey?: string | Record<string, unknown>;
      /** Path of the JSON key file (read once, when the config is resolved). */
      keyFile?: string;
      /** @default "https://androidpublisher.googleapis.com" */
      baseUrl?: string;
      /** @default the key's `token_uri`, else "https://oauth2.googleapis.com/token" */
      tokenUrl?: string;
    };
  };
  /**
   * Where orders, subscriptions, the inbox and the outbox live. @default `sqliteStore` on
   * `SUBSCRIPTION_WEBHOOKS_DATABASE_URL` or `./subscription-webhooks.db` when better-sqlite3 is installed
   * (tables created on first start; under NODE_ENV=test without that variable, `memoryStore()`); else
   * `memoryStore()` (warns when NODE_ENV=production)
   */
  store?: Store;
  /** The global notification setting's `mountLocation`. */
  appId?: string;
  /** Called with user-facing notifications the library renders. */
  notifier?: (notification: UserNotification) => Promise<void>;
  /**
   * Language of the user notifications the library renders (`en` or `zh-CN`; `zh`, `zh-Hans` map to `zh-CN`).
   * A subscription's or order's `metadata.locale` overrides it per user.
   * @default "en"
   */
  locale?: string;
  /**
   * Allow webhook endpoints with `http:` URLs or private, loopback, link-local and other reserved
   * addresses. Refused otherwise, because an endpoint URL makes this server send requests on the
   * caller's behalf (SSRF): into your own network, cloud metadata services, localhost. Checked when an
   * endpoint is registered and again at every connection, against every address the host resolves to
   * (the connection goes to a checked address, so DNS rebinding cannot reach a private one).
   * @default true only when NODE_ENV is `development` or `test`; false otherwise, unset NODE_ENV included
   */
  allowPrivateUrls?: boolean;
  /**
   * The key that encrypts webhook endpoint signing secrets in the store (AES-256-GCM): base64 of 32
   * random bytes (`openssl rand -base64 32`). To rotate it, give the new key first and the old ones
   * after it (an array, or comma separated): every key decrypts, the first encrypts, and a secret is
   * re-encrypted with the first key when it is rotated. Env `SUBSCRIPTION_WEBHOOKS_SECRET_KEY`.
   * Without a key, secrets are stored in plaintext (a warning is logged once in production).
   */
  secretsKey?: string | string[];
  /**
   * Resolves webhook endpoint host names, for the SSRF check and the connection that follows it.
   * @default the system resolver (`dns.lookup(host, { all: true })`)
   */
  dnsLookup?: (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;
  /**
   * How long stored rows are kept (see docs/retention.md). Pruning runs in the delivery worker (every
   * `intervalMs` while it is started) and on `hooks.maintenance.prune()`. Orders, subscriptions and
   * entitlements are never pruned. A notification whose provider date is older than `notificationDays`
   * is acknowledged as stale and changes nothing: that is what keeps "never processed twice" once its
   * dedup key is gone.
   */
  retention?: {
    /** Days the exact request body of a notification is kept; its decoded payload and SHA-256 stay. @default 30 */
    rawBodyDays?: number;
    /** Days events (the outbox) are kept once none of their deliveries remain. @default 90 */
    eventDays?: number;
    /** Days delivered (and endpoint-disabled) delivery rows are kept after their last attempt. @default 90 */
    deliveredDays?: number;
    /** Days failed delivery rows are kept after their last attempt (a replay makes one pending again). @default 90 */
    failedDays?: number;
    /**
     * Days a notification's dedup key is kept, counted from its provider date (Apple `signedDate`, Xsolla's
     * event date); also the age past which a notification is stale. Longer than any provider's retry or
     * history window (Apple's notification history covers 180 days). At least `rawBodyDays`. @default 400
     */
    notificationDays?: number;
    /** Days a callback route's webhook receipts (`sw_webhook_receipts`) are kept. @default 1 */
    receiptDays?: number;
    /** Rows per kind per pruning batch (one short statement each). @default 500 */
    batchSize?: number;
    /** How often a started delivery worker prunes, in ms; `null`: never (call `hooks.maintenance.prune()` yourself). @default 3600000 (1 hour) */
    intervalMs?: number | null;
  };
  /** The outbound webhook and notifier delivery worker (`hooks.delivery`). */
  delivery?: {
    /**
     * Delays in ms between attempts; its length is the number of retries after the first attempt.
     * A larger `retry-after` from the receiver wins (capped at 24 h).
     * @default [5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h] (Standard Webhooks), i.e. 8 attempts over about 28 hours
     */
    retrySchedule?: number[];
    /** Per-attempt timeout in ms (HTTP request or notifier call). @default 15000 */
    timeoutMs?: number;
    /**
     * Attempts in flight in one worker, all endpoints together. Keep it well above `endpointConcurrency`, so
     * endpoints that stop answering cannot take every slot.
     * @default 50
     */
    concurrency?: number;
    /**
     * Attempts in flight to any one endpoint (and to the notifier) in one worker. A slow or hanging
     * endpoint holds at most this many; the other endpoints' deliveries go on beside it.
     * @default 10
     */
    endpointConcurrency?: number;
    /** Rows claimed per round. @default 50 */
    batchSize?: number;
    /**
     * An endpoint whose every attempt has failed for this long (ms since the first failure after its last
     * success) is disabled at its next failure, and `webhook_endpoint.disabled` is emitted (bus, and the
     * other endpoints that want it). Re-enable it with `webhookEndpoints.update(id, { status: 'enabled' })`.
     * `null`: never disable for failing.
     * @default 432000000 (5 days)
     */
    disableAfterMs?: number | null;
    /**
     * Keep the start of a failed answer's body in the delivery's `last_error` (which otherwise holds
     * the status and its reason only, at most 200 characters). Off by default: whoever can read
     * `last_error` could otherwise read responses from any URL an endpoint is pointed at.
     * @default false
     */
    recordResponseBody?: boolean;
    /** How long an idle started worker waits before looking for due rows again, in ms. @default 1000 */
    pollIntervalMs?: number;
    /** The clock (ms since epoch) for due times, `webhook-timestamp`, the inbox's `received_at` and the retention windows; tests pass a fake clock. @default Date.now */
    now?: () => number;
  };
  /**
   * When the in-process bus subscribers (`hooks.bus.subscribe`) run. In either mode the events are recorded
   * (in the outbox, with their webhook deliveries) before the provider gets its answer; only the subscribers' timing changes.
   */
  subscribers?: {
    /**
     * `before_response`: the answer waits for the subscribers (one after another), so their work is done before the
     * provider hears 200. `after_response`: they run without delaying the answer, at most once (a crash or restart
     * loses runs in flight; webhook endpoints are the durable path); `hooks.delivery.stop()` waits for runs in
     * flight, at most `timeoutMs`. A subscriber that throws or times out is logged and never changes the answer.
     * @default "before_response"
     */
    mode?: 'before_response' | 'after_response';
    /** How long one subscriber may take with one event, in ms; past it, it is logged and no longer waited for. @default 10000 */
    timeoutMs?: number;
  };
  /**
   * What each product grants (`hooks.entitlements`): Apple product ids and Xsolla plan ids, each with the
   * entitlements it unlocks, e.g. `{ 'com.example.pro.monthly': { entitlements: ['pro'] } }`. A transaction
   * for a product not listed is still recorded (money is never dropped): the order gets
   * `metadata.unknown_product: true` and a warning is logged. Without this key no entitlements are kept.
   */
  products?: Record<string, { entitlements: string[] }>;
  /**
   * Who owns a subscription when a new purchase of it (a resubscription, an upgrade bought again)
   * comes through an order of another user of your app (same Apple ID or Google account, another app account):
   * `to_new_user` moves the subscription (and its entitlements) to that user and emits
   * `customer.subscription.transferred` with `previous_attributes.user_id`; `keep` records the order
   * for the new user and leaves the subscription with its owner. Renewals never move it.
   * @default "to_new_user"
   */
  transfer?: 'to_new_user' | 'keep';
  /** How `hooks.entitlements` answers. */
  entitlements?: {
    /**
     * Whether a subscription in billing retry (`past_due`: the renewal failed and Apple or Xsolla keeps
     * trying, no grace period) still grants its entitlements.
     * @default false
     */
    pastDueActive?: boolean;
  };
  /** The time-driven events (`hooks.lifecycle.sweep`, run by the started delivery worker). */
  lifecycle?: {
    /** `customer.subscription.trial_will_end` this many days before a trial ends (once per trial). @default 3 */
    trialWillEndDays?: number;
    /**
     * A subscription still `active` (or `trialing`) this long after `current_period_end` with no renewal is
     * settled: Apple's answer from the App Store Server API when `apple.api` is configured, else `past_due`
     * with `reason: 'no_renewal_received'`. In ms. @default 86400000 (one day)
     */
    renewalGraceMs?: number;
    /** How often the started delivery worker sweeps, in ms; `null`: never (call `hooks.lifecycle.sweep` yourself). @default 900000 (15 minutes) */
    intervalMs?: number | null;
    /** Subscriptions claimed at a time. @default 100 */
    batchSize?: number;
  };
  /** URL paths the adapters mount. */
  routes?: {
    /** @default "/api/users/app-store-notifications" */
    apple?: string;
    /** @default "/api/users/app-store-transactions" */
    appleTransactions?: string;
    /** @default "/api/xsolla/webhooks" */
    xsolla?: string;
    /** @default "/api/google/rtdn" */
    google?: string;
    /** The client route for purchase tokens (needs `google.api`). @default "/api/google/purchases" */
    googlePurchases?: string;
  };
  /** Largest request body accepted, in bytes (larger → 413 `BODY_TOO_LARGE`). @default 1048576 */
  maxBodyBytes?: number;
  /** pino-compatible logger. @default silent except warnings and errors, to stderr */
  logger?: Logger;
}

const APPLE_ENVIRONMENTS = ['Production', 'Sandbox', 'Xcode', 'LocalTesting'] as const;

const fn = (name: string) => z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `${name} must be a function` });

/** The config's schema (exported for the reference test of docs/configuration.md). @internal */
export const configSchema = z.strictObject({
  apple: z
    .strictObject({
      bundleId: z.string().min(1, 'must be a non-empty bundle id, e.g. "com.example.app"'),
      appAppleId: z.number().int().positive().optional(),
      environments: z.array(z.enum(APPLE_ENVIRONMENTS)).min(1).optional(),
      rootCertificates: z
        .array(z.union([z.instanceof(Uint8Array), z.string().min(1)], { message: 'must be DER bytes (Uint8Array or Buffer), a file path, or "apple"' }))
        .min(1)
        .optional(),
      onlineChecks: z.literal(false, { message: 'online (OCSP) checks are not supported yet; leave it false' }).optional(),
      strictNested: z.boolean().optional(),
      api: z
        .strictObject({
          keyId: z.string().min(1, 'must be the key ID from App Store Connect (env APPLE_KEY_ID)'),
          issuerId: z.string().min(1, 'must be the issuer ID from App Store Connect (env APPLE_ISSUER_ID)'),
          privateKey: z.string().includes('PRIVATE KEY', { message: 'must be the PEM contents of your .p8 key (env APPLE_PRIVATE_KEY_PATH names the file)' }),
          baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
          environment: z.enum(['Production', 'Sandbox']).optional(),
        })
        .optional(),
      consumption: fn('apple.consumption').optional(),
    })
    .optional(),
  xsolla: z
    .strictObject({
      projectId: z.number({ message: 'must be your numeric Xsolla project id' }).int().positive(),
      secretKey: z.string().min(1, 'must be the non-empty webhook secret key from Publisher Account'),
      userExists: fn('xsolla.userExists').optional(),
      apiBaseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    })
    .optional(),
  google: z
    .strictObject({
      packageName: z.string().min(1, 'must be your app\'s package name, e.g. "com.example.app" (env GOOGLE_PLAY_PACKAGE_NAME)'),
      audience: z.string().min(1, "must be the push subscription's audience, usually the push endpoint URL (env GOOGLE_PLAY_PUSH_AUDIENCE)"),
      serviceAccountEmail: z
        .string()
        .includes('@', { message: "must be the push subscription's service account email (env GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT)" }),
      jwksUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
      api: z
        .strictObject({
          serviceAccountKey: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
          keyFile: z.string().min(1).optional(),
          baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
          tokenUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
        })
        .optional(),
    })
    .optional(),
  store: z
    .custom<Store>((v) => typeof v === 'object' && v !== null && typeof (v as Store).transaction === 'function', {
      message: 'must be a Store, e.g. memoryStore() or prismaStore(prisma)',
    })
    .optional(),
  appId: z.string().min(1).optional(),
  notifier: fn('notifier').optional(),
  locale: z.string().min(2).optional(),
  allowPrivateUrls: z.boolean().optional(),
  dnsLookup: fn('dnsLookup').optional(),
  secretsKey: z.union([z.string(), z.array(z.string())]).optional(),
  retention: z
    .strictObject({
      rawBodyDays: z.number().positive().optional(),
      eventDays: z.number().positive().optional(),
      deliveredDays: z.number().positive().optional(),
      failedDays: z.number().positive().optional(),
      notificationDays: z.number().positive().optional(),
      receiptDays: z.number().positive().optional(),
      batchSize: z.number().int().positive().max(100_000).optional(),
      intervalMs: z.number().int().positive().nullable().optional(),
    })
    .refine((r) => (r.rawBodyDays ?? 30) <= (r.notificationDays ?? 400), { message: 'rawBodyDays must not exceed notificationDays', path: ['rawBodyDays'] })
    .optional(),
  delivery: z
    .strictObject({
      retrySchedule: z.array(z.number().int().nonnegative('must be delays in ms (>= 0)')).max(50).optional(),
      timeoutMs: z.number().int().positive().optional(),
      concurrency: z.number().int().positive().max(1000).optional(),
      endpointConcurrency: z.number().int().positive().max(1000).optional(),
      batchSize: z.number().int().positive().max(10_000).optional(),
      pollIntervalMs: z.number().int().positive().optional(),
      recordResponseBody: z.boolean().optional(),
      disableAfterMs: z.number().int().positive().nullable().optional(),
      now: fn('delivery.now').optional(),
    })
    .optional(),
  subscribers: z
    .strictObject({ mode: z.enum(['before_response', 'after_response']).optional(), timeoutMs: z.number().int().positive().max(2_147_483_647).optional() })
    .optional(),
  products: z.record(z.string().min(1), z.strictObject({ entitlements: z.array(z.string().min(1, 'entitlement names must be non-empty')) })).optional(),
  entitlements: z.strictObject({ pastDueActive: z.boolean().optional() }).optional(),
  transfer: z.enum(['to_new_user', 'keep']).optional(),
  lifecycle: z
    .strictObject({
      trialWillEndDays: z.number().nonnegative('must be a number of days (>= 0)').max(365).optional(),
      renewalGraceMs: z.number().int().nonnegative('must be a duration in ms (>= 0)').optional(),
      intervalMs: z.number().int().positive().nullable().optional(),
      batchSize: z.number().int().positive().max(10_000).optional(),
    })
    .optional(),
  routes: z
    .strictObject({
      apple: z.string().startsWith('/').optional(),
      appleTransactions: z.string().startsWith('/').optional(),
      xsolla: z.string().startsWith('/').optional(),
      google: z.string().startsWith('/').optional(),
      googlePurchases: z.string().startsWith('/').optional(),
    })
    .optional(),
  maxBodyBytes: z.number().int().positive().optional(),
  logger: z
    .custom<Logger>(
      (v) => typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      {
        message: 'must have debug, info, warn and error methods (pino and console both fit)',
      },
    )
    .optional(),
});

/** Config after validation and defaults. */
export interface ResolvedConfig {
  apple: {
    bundleId: string;
    appAppleId: number | undefined;
    environments: AppleEnvironment[];
    rootCertificates: Uint8Array[] | undefined;
    strictNested: boolean;
    /** App Store Server API settings; `null` when no key is configured. */
    api: { keyId: string; issuerId: string; privateKey: string; baseUrl: string | undefined; environment: 'Production' | 'Sandbox' } | null;
    /** `apple.consumption`, when given. */
    consumption: ConsumptionPolicy | undefined;
  } | null;
  xsolla: {
    projectId: number;
    secretKey: string;
    userExists: ((userId: string) => Promise<boolean>) | undefined;
    apiBaseUrl: string;
  } | null;
  google: {
    packageName: string;
    audience: string;
    serviceAccountEmail: string;
    jwksUrl: string;
    /** Play Developer API credentials; `null` when not configured. */
    api: { clientEmail: string; privateKey: string; privateKeyId: string | undefined; tokenUrl: string; baseUrl: string } | null;
  } | null;
  routes: { apple: string; appleTransactions: string; xsolla: string; google: string; googlePurchases: string };
  /** Product id → entitlements; `null` when `products` is not configured (no entitlements kept). */
  products: Readonly<Record<string, readonly string[]>> | null;
  entitlements: { pastDueActive: boolean };
  transfer: 'to_new_user' | 'keep';
  lifecycle: { trialWillEndDays: number; renewalGraceMs: number; intervalMs: number | null; batchSize: number };
  maxBodyBytes: number;
  appId: string | undefined;
  notifier: ((notification: UserNotification) => Promise<void>) | undefined;
  /** Normalized: `en` or `zh-CN`. */
  locale: string;
  /** Effective: the option, else NODE_ENV development/test. */
  allowPrivateUrls: boolean;
  dnsLookup: ((hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>) | undefined;
  /** From `secretsKey` or env `SUBSCRIPTION_WEBHOOKS_SECRET_KEY`; empty: secrets stored in plaintext. */
  secretKeys: SecretKey[];
  retention: {
    rawBodyDays: number;
    eventDays: number;
    deliveredDays: number;
    failedDays: number;
    notificationDays: number;
    receiptDays: number;
    batchSize: number;
    intervalMs: number | null;
  };
  delivery: {
    retrySchedule: number[];
    timeoutMs: number;
    concurrency: number;
    endpointConcurrency: number;
    batchSize: number;
    pollIntervalMs: number;
    recordResponseBody: boolean;
    disableAfterMs: number | null;
    now: () => number;
  };
}

/** `en`, or `zh-CN` for any Chinese tag: the two languages the built-in templates speak. */
export function normalizeLocale(locale: unknown): string | undefined {
  if (typeof locale !== 'string' || locale.length === 0) return undefined;
  return /^zh\b/i.test(locale) ? 'zh-CN' : 'en';
}

/** Standard Webhooks' schedule: retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the previous attempt. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6];

/** Reads the Apple settings from the environment when no `apple` key is given. */
function appleFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  if (!env.APPLE_BUNDLE_ID) return undefined;
  const out: Record<string, unknown> = { bundleId: env.APPLE_BUNDLE_ID };
  if (env.APPLE_APP_APPLE_ID) {
    const n = Number(env.APPLE_APP_APPLE_ID);
    out.appAppleId = Number.isFinite(n) ? n : env.APPLE_APP_APPLE_ID;
  }
  if (env.APPLE_ENVIRONMENTS)
    out.environments = env.APPLE_ENVIRONMENTS.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return out;
}

/** Fills `apple.api` and `apple.rootCertificates` from the environment when they are absent; never mutates the caller's object. */
function appleExtrasFromEnv(apple: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof apple !== 'object' || apple === null) return apple;
  const out: Record<string, unknown> = { ...(apple as Record<string, unknown>) };
  if (out.api === undefined && (env.APPLE_KEY_ID || env.APPLE_ISSUER_ID || env.APPLE_PRIVATE_KEY_PATH)) {
    const missing = ['APPLE_KEY_ID', 'APPLE_ISSUER_ID', 'APPLE_PRIVATE_KEY_PATH'].filter((name) => !env[name]);
    if (missing.length) {
      throw new SubscriptionWebhooksError('CONFIG_INVALID', `Invalid subscription-webhooks config: \`apple.api\` needs ${missing.join(' and ')} as well`);
    }
    let privateKey: string;
    try {
      privateKey = readFileSync(env.APPLE_PRIVATE_KEY_PATH!, 'utf8');
    } catch (cause) {
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        `Invalid subscription-webhooks config: APPLE_PRIVATE_KEY_PATH ${env.APPLE_PRIVATE_KEY_PATH} cannot be read`,
        { cause },
      );
    }
    out.api = { keyId: env.APPLE_KEY_ID, issuerId: env.APPLE_ISSUER_ID, privateKey, ...(env.APPLE_API_BASE_URL ? { baseUrl: env.APPLE_API_BASE_URL } : {}) };
  }
  if (out.rootCertificates === undefined && env.APPLE_ROOT_CERTIFICATES) {
    out.rootCertificates = env.APPLE_ROOT_CERTIFICATES.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return out;
}

/** Turns `rootCertificates` entries into DER: bytes as they are, `"apple"`, or a DER/PEM file (PEM may hold several). */
function loadRootCertificates(entries: Array<Uint8Array | string>): Uint8Array[] {
  return entries.flatMap((entry) => {
    if (typeof entry !== 'string') return [entry];
    if (entry.toLowerCase() === 'apple') return [APPLE_ROOT_CA_G3_DER];
    let bytes: Buffer;
    try {
      bytes = readFileSync(entry);
    } catch (cause) {
      throw new SubscriptionWebhooksError('CONFIG_INVALID', `Invalid subscription-webhooks config: \`apple.rootCertificates\` file ${entry} cannot be read`, {
        cause,
      });
    }
    const text = bytes.toString('latin1');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) return [new Uint8Array(bytes)];
    return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map(
      (m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')),
    );
  });
}

/** Reads the Xsolla settings from the environment when no `xsolla` key is given. */
function xsollaFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  if (!env.XSOLLA_PROJECT_ID && !env.XSOLLA_WEBHOOK_SECRET) return undefined;
  // Either variable alone still yields an object, so validation names the missing key.
  const out: Record<string, unknown> = {};
  if (env.XSOLLA_PROJECT_ID) {
    const n = Number(env.XSOLLA_PROJECT_ID);
    out.projectId = Number.isFinite(n) ? n : env.XSOLLA_PROJECT_ID;
  }
  if (env.XSOLLA_WEBHOOK_SECRET) out.secretKey = env.XSOLLA_WEBHOOK_SECRET;
  return out;
}

/** Reads the Google Play settings from the environment when no `google` key is given. */
function googleFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  if (!env.GOOGLE_PLAY_PACKAGE_NAME && !env.GOOGLE_PLAY_PUSH_AUDIENCE && !env.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT) return undefined;
  // Any one variable still yields an object, so validation names the missing key.
  const out: Record<string, unknown> = {};
  if (env.GOOGLE_PLAY_PACKAGE_NAME) out.packageName = env.GOOGLE_PLAY_PACKAGE_NAME;
  if (env.GOOGLE_PLAY_PUSH_AUDIENCE) out.audience = env.GOOGLE_PLAY_PUSH_AUDIENCE;
  if (env.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT) out.serviceAccountEmail = env.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT;
  return out;
}

/** Fills `google.jwksUrl` and `google.api` from the environment when absent; never mutates the caller's object. */
function googleExtrasFromEnv(google: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof google !== 'object' || google === null) return google;
  const out: Record<string, unknown> = { ...(google as Record<string, unknown>) };
  if (out.jwksUrl === undefined && env.GOOGLE_PLAY_JWKS_URL) out.jwksUrl = env.GOOGLE_PLAY_JWKS_URL;
  if (out.api === undefined && env.GOOGLE_PLAY_KEY_FILE)
    out.api = { keyFile: env.GOOGLE_PLAY_KEY_FILE, ...(env.GOOGLE_PLAY_API_BASE_URL ? { baseUrl: env.GOOGLE_PLAY_API_BASE_URL } : {}) };
  return out;
}

/** The Play Developer API credentials from `google.api`: the service account's JSON key, given or read from `keyFile`. */
function googleApiCredentials(api: {
  serviceAccountKey?: string | Record<string, unknown>;
  keyFile?: string;
  baseUrl?: string;
  tokenUrl?: string;
}): NonNullable<ResolvedConfig['google']>['api'] {
  const bad = (why: string, cause?: unknown) =>
    new SubscriptionWebhooksError('CONFIG_INVALID', `Invalid subscription-webhooks config: \`google.api\` ${why}`, { cause });
  if ((api.serviceAccountKey === undefined) === (api.keyFile === undefined))
    throw bad('needs one of `serviceAccountKey` (the JSON key) or `keyFile` (its path; env GOOGLE_PLAY_KEY_FILE)');
  let key: unknown = api.serviceAccountKey;
  if (api.keyFile !== undefined) {
    try {
      key = readFileSync(api.keyFile, 'utf8');
    } catch (cause) {
      throw bad(`keyFile ${api.keyFile} cannot be read`, cause);
    }
  }
  if (typeof key === 'string') {
    try {
      key = JSON.parse(key);
    } catch (cause) {
      throw bad('service account key is not JSON (download it from Google Cloud console → IAM → Service accounts → Keys)', cause);
    }
  }
  const k = key as Record<string, unknown>;
  if (typeof k?.client_email !== 'string' || typeof k.private_key !== 'string' || !k.private_key.includes('PRIVATE KEY')) {
    throw bad('service account key must have `client_email` and a PEM `private_key` (a JSON key of type service_account)');
  }
  return {
    clientEmail: k.client_email,
    privateKey: k.private_key,
    privateKeyId: typeof k.private_key_id === 'string' ? k.private_key_id : undefined,
    tokenUrl: api.tokenUrl ?? (typeof k.token_uri === 'string' ? k.token_uri : 'https://oauth2.googleapis.com/token'),
    baseUrl: (api.baseUrl ?? 'https://androidpublisher.googleapis.com').replace(/\/+$/, ''),
  };
}

/**
 * Validates the config once. Throws `CONFIG_INVALID` naming the first bad key.
 * @throws SubscriptionWebhooksError CONFIG_INVALID
 */
export function resolveConfig(input: SubscriptionWebhooksConfig | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const raw: Record<string, unknown> = { ...(input ?? {}) };
  if (raw.apple === undefined) {
    const fromEnv = appleFromEnv(env);
    if (fromEnv) raw.apple = fromEnv;
  }
  if (raw.apple !== undefined) raw.apple = appleExtrasFromEnv(raw.apple, env);
  if (raw.xsolla === undefined) {
    const fromEnv = xsollaFromEnv(env);
    if (fromEnv) raw.xsolla = fromEnv;
  }
  if (raw.google === undefined) {
    const fromEnv = googleFromEnv(env);
    if (fromEnv) raw.google = fromEnv;
  }
  if (raw.google !== undefined) raw.google = googleExtrasFromEnv(raw.google, env);
  for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SubscriptionWebhooksError('CONFIG_INVALID', `Invalid subscription-webhooks config: ${configIssueMessage(configSchema, parsed.error.issues)}`);
  }
  const c = parsed.data;
  if (!c.apple && !c.xsolla && !c.google) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'Invalid subscription-webhooks config: no provider is configured: pass `apple: { bundleId }` (or set APPLE_BUNDLE_ID) ' +
        'and/or `xsolla: { projectId, secretKey }` (or set XSOLLA_PROJECT_ID and XSOLLA_WEBHOOK_SECRET) ' +
        'and/or `google: { packageName, audience, serviceAccountEmail }` (or set GOOGLE_PLAY_PACKAGE_NAME, GOOGLE_PLAY_PUSH_AUDIENCE and GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT)',
    );
  }
  let apple: ResolvedConfig['apple'] = null;
  if (c.apple) {
    const environments = c.apple.environments ?? ['Production', 'Sandbox'];
    if (environments.includes('Production') && c.apple.appAppleId === undefined) {
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        'Invalid subscription-webhooks config: `apple.appAppleId` is required when `apple.environments` includes "Production" ' +
          '(set APPLE_APP_APPLE_ID, or APPLE_ENVIRONMENTS=Sandbox while you test)',
      );
    }
    apple = {
      bundleId: c.apple.bundleId,
      appAppleId: c.apple.appAppleId,
      environments: [...new Set(environments)],
      rootCertificates: c.apple.rootCertificates ? loadRootCertificates(c.apple.rootCertificates) : undefined,
      strictNested: c.apple.strictNested ?? false,
      api: c.apple.api
        ? {
            keyId: c.apple.api.keyId,
            issuerId: c.apple.api.issuerId,
            privateKey: c.apple.api.privateKey,
            baseUrl: c.apple.api.baseUrl,
            environment: c.apple.api.environment ?? (environments.includes('Production') ? 'Production' : 'Sandbox'),
          }
        : null,
      consumption: c.apple.consumption as ConsumptionPolicy | undefined,
    };
  }
  const xsolla: ResolvedConfig['xsolla'] = c.xsolla
    ? {
        projectId: c.xsolla.projectId,
        secretKey: c.xsolla.secretKey,
        userExists: c.xsolla.userExists as ((userId: string) => Promise<boolean>) | undefined,
        apiBaseUrl: (c.xsolla.apiBaseUrl ?? 'https://subscriptions.xsolla.com').replace(/\/+$/, ''),
      }
    : null;
  const google: ResolvedConfig['google'] = c.google
    ? {
        packageName: c.google.packageName,
        audience: c.google.audience,
        serviceAccountEmail: c.google.serviceAccountEmail,
        jwksUrl: c.google.jwksUrl ?? 'https://www.googleapis.com/oauth2/v3/certs',
        api: c.google.api ? googleApiCredentials(c.google.api) : null,
      }
    : null;
  return {
    apple,
    xsolla,
    google,
    products: c.products ? Object.fromEntries(Object.entries(c.products).map(([id, p]) => [id, [...new Set(p.entitlements)]])) : null,
    entitlements: { pastDueActive: c.entitlements?.pastDueActive ?? false },
    transfer: c.transfer ?? 'to_new_user',
    lifecycle: {
      trialWillEndDays: c.lifecycle?.trialWillEndDays ?? 3,
      renewalGraceMs: c.lifecycle?.renewalGraceMs ?? 86_400_000,
      intervalMs: c.lifecycle?.intervalMs === undefined ? 900_000 : c.lifecycle.intervalMs,
      batchSize: c.lifecycle?.batchSize ?? 100,
    },
    routes: {
      apple: c.routes?.apple ?? '/api/users/app-store-notifications',
      appleTransactions: c.routes?.appleTransactions ?? '/api/users/app-store-transactions',
      xsolla: c.routes?.xsolla ?? '/api/xsolla/webhooks',
      google: c.routes?.google ?? '/api/google/rtdn',
      googlePurchases: c.routes?.googlePurchases ?? '/api/google/purchases',
    },
    maxBodyBytes: c.maxBodyBytes ?? 1024 * 1024,
    appId: c.appId,
    notifier: c.notifier as ResolvedConfig['notifier'],
    locale: normalizeLocale(c.locale) ?? 'en',
    allowPrivateUrls: c.allowPrivateUrls ?? (env.NODE_ENV === 'development' || env.NODE_ENV === 'test'),
    dnsLookup: c.dnsLookup as ResolvedConfig['dnsLookup'],
    secretKeys: c.secretsKey !== undefined ? parseSecretKeys(c.secretsKey, '`secretsKey`') : parseSecretKeys(env[SECRET_KEY_ENV], SECRET_KEY_ENV),
    retention: {
      rawBodyDays: c.retention?.rawBodyDays ?? 30,
      eventDays: c.retention?.eventDays ?? 90,
      deliveredDays: c.retention?.deliveredDays ?? 90,
      failedDays: c.retention?.failedDays ?? 90,
      notificationDays: c.retention?.notificationDays ?? 400,
      receiptDays: c.retention?.receiptDays ?? 1,
      batchSize: c.retention?.batchSize ?? 500,
      intervalMs: c.retention?.intervalMs === undefined ? 3_600_000 : c.retention.intervalMs,
    },
    delivery: {
      retrySchedule: [...(c.delivery?.retrySchedule ?? DEFAULT_RETRY_SCHEDULE)],
      timeoutMs: c.delivery?.timeoutMs ?? 15_000,
      concurrency: c.delivery?.concurrency ?? 50,
      endpointConcurrency: c.delivery?.endpointConcurrency ?? 10,
      batchSize: c.delivery?.batchSize ?? 50,
      pollIntervalMs: c.delivery?.pollIntervalMs ?? 1000,
      recordResponseBody: c.delivery?.recordResponseBody ?? false,
      disableAfterMs: c.delivery?.disableAfterMs === undefined ? 5 * 86_400_000 : c.delivery.disableAfterMs,
      now: (c.delivery?.now as (() => number) | undefined) ?? Date.now,
    },
  };
}
