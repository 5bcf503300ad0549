import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { SubscriptionWebhooksError } from './errors.js';
import { configIssueMessage } from './config-hints.js';
import { normalizeLocale } from '../notifications/locale.js';
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

const APPLE_ENVIRONMENTS = ['Production', 'Sandbox', 'Xcode', 'LocalTesting'] as const;

/** A function-valued option: validated as "a function", typed as `T` in {@link SubscriptionWebhooksConfig}. */
const fn = <T extends (...args: never[]) => unknown>(name: string) => z.custom<T>((v) => typeof v === 'function', { message: `${name} must be a function` });
const httpUrl = () => z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });

/**
 * The config's schema: the one source of the config's keys, their validation and (through
 * {@link SubscriptionWebhooksConfig}, its input type) their documentation. Exported for the reference test
 * of docs/configuration.md. @internal
 */
export const configSchema = z.strictObject({
  /** Apple App Store Server Notifications V2. Defaults come from env `APPLE_BUNDLE_ID`, `APPLE_APP_APPLE_ID`, `APPLE_ENVIRONMENTS`. */
  apple: z
    .strictObject({
      /** Your app's bundle id. Env `APPLE_BUNDLE_ID`. */
      bundleId: z.string().min(1, 'must be a non-empty bundle id, e.g. "com.example.app"'),
      /** Your app's Apple ID (a number). Required when `environments` includes `Production`. Env `APPLE_APP_APPLE_ID`. */
      appAppleId: z.number().int().positive().optional(),
      /**
       * Environments accepted. Env `APPLE_ENVIRONMENTS` (comma separated).
       * @default ["Production", "Sandbox"]
       */
      environments: z.array(z.enum(APPLE_ENVIRONMENTS)).min(1).optional(),
      /**
       * Trusted root certificates: DER bytes, or paths of DER/PEM files (read once, here), or `"apple"` for the
       * bundled Apple Root CA - G3. Give your test signer's root here in tests. Env `APPLE_ROOT_CERTIFICATES`
       * (comma separated, same forms), e.g. `apple,.subscription-webhooks/root.cer` for a dev server that also
       * accepts the CLI's simulated notifications.
       * @default the bundled Apple Root CA - G3
       */
      rootCertificates: z
        .array(
          z.union([z.custom<Uint8Array>((v) => v instanceof Uint8Array), z.string().min(1)], {
            message: 'must be DER bytes (Uint8Array or Buffer), a file path, or "apple"',
          }),
        )
        .min(1)
        .optional(),
      /**
       * Certificate revocation checks over the network (OCSP): not implemented. Accepted when `false`; `true` is
       * refused (`CONFIG_INVALID`), since the library never claims a check it does not make.
       * @deprecated remove it: it changes nothing (revocation is not checked online)
       */
      onlineChecks: z.literal(false, { message: 'is deprecated and online (OCSP) revocation checks are not implemented: remove the key' }).optional(),
      /**
       * Also verify the signatures of the nested `signedTransactionInfo` / `signedRenewalInfo`.
       * The outer signature already covers their exact bytes, so this only costs time.
       * @default false
       */
      strictNested: z.boolean().optional(),
      /**
       * App Store Server API credentials (`hooks.apple.api`, `hooks.apple.reconcile`). Env `APPLE_KEY_ID`,
       * `APPLE_ISSUER_ID`, `APPLE_PRIVATE_KEY_PATH` (the `.p8` file, read once when the config is resolved),
       * `APPLE_API_BASE_URL`; env is used whenever this key is absent.
       */
      api: z
        .strictObject({
          /** The key's ID from App Store Connect (Users and Access → Integrations → In-App Purchase). */
          keyId: z.string().min(1, 'must be the key ID from App Store Connect (env APPLE_KEY_ID)'),
          /** Your issuer ID, from the same page. */
          issuerId: z.string().min(1, 'must be the issuer ID from App Store Connect (env APPLE_ISSUER_ID)'),
          /** The `.p8` file's contents (PKCS#8 PEM). */
          privateKey: z.string().includes('PRIVATE KEY', { message: 'must be the PEM contents of your .p8 key (env APPLE_PRIVATE_KEY_PATH names the file)' }),
          /** @default "https://api.storekit.apple.com" or "https://api.storekit-sandbox.apple.com" */
          baseUrl: httpUrl().optional(),
          /** @default "Production" when `environments` includes it, else "Sandbox" */
          environment: z.enum(['Production', 'Sandbox']).optional(),
        })
        .optional(),
      /**
       * Answers Apple's `CONSUMPTION_REQUEST` (a customer asked Apple for a refund): return the
       * consumption information to send (Send Consumption Information), or `null` to send nothing. Called
       * once per request after it is committed, by `hooks.delivery` (retried, never lost), within Apple's
       * 12-hour window; what was sent is kept on the order as `metadata.apple_consumption`. Needs `api`.
       * @default none: nothing is sent
       * @example consumption: async ({ order }) => ({ customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true })
       */
      consumption: fn<ConsumptionPolicy>('apple.consumption').optional(),
    })
    .optional(),
  /**
   * Xsolla subscription webhooks and the user-subscriptions API. Defaults come from env
   * `XSOLLA_PROJECT_ID` and `XSOLLA_WEBHOOK_SECRET`.
   */
  xsolla: z
    .strictObject({
      /** Your project id (Publisher Account, next to the project name). Env `XSOLLA_PROJECT_ID`. */
      projectId: z.number({ message: 'must be your numeric Xsolla project id' }).int().positive(),
      /** The project's webhook secret key (Project settings → Webhooks). Env `XSOLLA_WEBHOOK_SECRET`. */
      secretKey: z.string().min(1, 'must be the non-empty webhook secret key from Publisher Account'),
      /**
       * Answers Xsolla's `user_validation` webhook: resolve `true` when the user exists in your app.
       * A rejection answers 500, so Xsolla retries.
       * @default every user exists (204)
       */
      userExists: fn<(userId: string) => Promise<boolean>>('xsolla.userExists').optional(),
      /** Base URL of the subscriptions API. @default "https://subscriptions.xsolla.com" */
      apiBaseUrl: httpUrl().optional(),
    })
    .optional(),
  /**
   * Google Play Real-time developer notifications (Cloud Pub/Sub push) and the Play Developer API.
   * Defaults come from env `GOOGLE_PLAY_PACKAGE_NAME`, `GOOGLE_PLAY_PUSH_AUDIENCE`,
   * `GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT`, `GOOGLE_PLAY_JWKS_URL`, `GOOGLE_PLAY_KEY_FILE`, `GOOGLE_PLAY_API_BASE_URL`.
   */
  google: z
    .strictObject({
      /** Your app's package name, e.g. `com.example.app`: pushes for another package are refused. Env `GOOGLE_PLAY_PACKAGE_NAME`. */
      packageName: z.string().min(1, 'must be your app\'s package name, e.g. "com.example.app" (env GOOGLE_PLAY_PACKAGE_NAME)'),
      /** The audience of the push subscription's OIDC token (the push endpoint URL unless you set another). Env `GOOGLE_PLAY_PUSH_AUDIENCE`. */
      audience: z.string().min(1, "must be the push subscription's audience, usually the push endpoint URL (env GOOGLE_PLAY_PUSH_AUDIENCE)"),
      /** The service account the push subscription authenticates as (its token's `email`). Env `GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT`. */
      serviceAccountEmail: z
        .string()
        .includes('@', { message: "must be the push subscription's service account email (env GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT)" }),
      /** Where Google publishes the keys that sign push tokens. Env `GOOGLE_PLAY_JWKS_URL`. @default "https://www.googleapis.com/oauth2/v3/certs" */
      jwksUrl: httpUrl().optional(),
      /**
       * The Play Developer API (state of a purchase, acknowledgement). Without it, notifications are recorded
       * and emitted as `provider.notification.received` only. Env `GOOGLE_PLAY_KEY_FILE` (the JSON key file, read once).
       */
      api: z
        .strictObject({
          /** The service account's JSON key: the file's contents, or the parsed object. Give this or `keyFile`. */
          serviceAccountKey: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
          /** Path of the JSON key file (read once, when the config is resolved). */
          keyFile: z.string().min(1).optional(),
          /** @default "https://androidpublisher.googleapis.com" */
          baseUrl: httpUrl().optional(),
          /** @default the key's `token_uri`, else "https://oauth2.googleapis.com/token" */
          tokenUrl: httpUrl().optional(),
        })
        .optional(),
    })
    .optional(),
  /**
   * Where orders, subscriptions, the inbox and the outbox live. @default `sqliteStore` on
   * `SUBSCRIPTION_WEBHOOKS_DATABASE_URL` or `./subscription-webhooks.db` when better-sqlite3 is installed
   * (tables created on first start; under NODE_ENV=test without that variable, `memoryStore()`); else
   * `memoryStore()` (warns when NODE_ENV=production)
   */
  store: z
    .custom<Store>((v) => typeof v === 'object' && v !== null && typeof (v as Store).transaction === 'function', {
      message: 'must be a Store, e.g. memoryStore() or prismaStore(prisma)',
    })
    .optional(),
  /** The global notification setting's `mountLocation`. */
  appId: z.string().min(1).optional(),
  /** Called with user-facing notifications the library renders. */
  notifier: fn<(notification: UserNotification) => Promise<void>>('notifier').optional(),
  /**
   * Language of the user notifications the library renders (`en` or `zh-CN`; `zh`, `zh-Hans` map to `zh-CN`).
   * A subscription's or order's `metadata.locale` overrides it per user.
   * @default "en"
   */
  locale: z.string().min(2).optional(),
  /**
   * Allow webhook endpoints with `http:` URLs or private, loopback, link-local and other reserved
   * addresses. Refused otherwise, because an endpoint URL makes this server send requests on the
   * caller's behalf (SSRF): into your own network, cloud metadata services, localhost. Checked when an
   * endpoint is registered and again at every connection, against every address the host resolves to
   * (the connection goes to a checked address, so DNS rebinding cannot reach a private one).
   * @default true only when NODE_ENV is `development` or `test`; false otherwise, unset NODE_ENV included
   */
  allowPrivateUrls: z.boolean().optional(),
  /**
   * Resolves webhook endpoint host names, for the SSRF check and the connection that follows it.
   * @default the system resolver (`dns.lookup(host, { all: true })`)
   */
  dnsLookup: fn<DnsLookup>('dnsLookup').optional(),
  /**
   * The key that encrypts webhook endpoint signing secrets in the store (AES-256-GCM): base64 of 32
   * random bytes (`openssl rand -base64 32`). To rotate it, give the new key first and the old ones
   * after it (an array, or comma separated): every key decrypts, the first encrypts, and a secret is
   * re-encrypted with the first key when it is rotated. Env `SUBSCRIPTION_WEBHOOKS_SECRET_KEY`.
   * Without a key, secrets are stored in plaintext (a warning is logged once in production).
   */
  secretsKey: z.union([z.string(), z.array(z.string())]).optional(),
  /**
   * How long stored rows are kept (see docs/retention.md). Pruning runs in the delivery worker (every
   * `intervalMs` while it is started) and on `hooks.maintenance.prune()`. Orders, subscriptions and
   * entitlements are never pruned. A notification whose provider date is older than `notificationDays`
   * is acknowledged as stale and changes nothing: that is what keeps "never processed twice" once its
   * dedup key is gone.
   */
  retention: z
    .strictObject({
      /** Days the exact request body of a notification is kept; its decoded payload and SHA-256 stay. @default 30 */
      rawBodyDays: z.number().positive().optional(),
      /** Days events (the outbox) are kept once none of their deliveries remain. @default 90 */
      eventDays: z.number().positive().optional(),
      /** Days delivered (and endpoint-disabled) delivery rows are kept after their last attempt. @default 90 */
      deliveredDays: z.number().positive().optional(),
      /** Days failed delivery rows are kept after their last attempt (a replay makes one pending again). @default 90 */
      failedDays: z.number().positive().optional(),
      /**
       * Days a notification's dedup key is kept, counted from its provider date (Apple `signedDate`, Xsolla's
       * event date); also the age past which a notification is stale. Longer than any provider's retry or
       * history window (Apple's notification history covers 180 days). At least `rawBodyDays`. @default 400
       */
      notificationDays: z.number().positive().optional(),
      /** Days a callback route's webhook receipts (`sw_webhook_receipts`) are kept. @default 1 */
      receiptDays: z.number().positive().optional(),
      /** Rows per kind per pruning batch (one short statement each). @default 500 */
      batchSize: z.number().int().positive().max(100_000).optional(),
      /** How often a started delivery worker prunes, in ms; `null`: never (call `hooks.maintenance.prune()` yourself). @default 3600000 (1 hour) */
      intervalMs: z.number().int().positive().nullable().optional(),
    })
    .refine((r) => (r.rawBodyDays ?? 30) <= (r.notificationDays ?? 400), { message: 'rawBodyDays must not exceed notificationDays', path: ['rawBodyDays'] })
    .optional(),
  /** The outbound webhook and notifier delivery worker (`hooks.delivery`). */
  delivery: z
    .strictObject({
      /**
       * Delays in ms between attempts; its length is the number of retries after the first attempt.
       * A larger `retry-after` from the receiver wins (capped at 24 h).
       * @default [5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h] (Standard Webhooks), i.e. 8 attempts over about 28 hours
       */
      retrySchedule: z.array(z.number().int().nonnegative('must be delays in ms (>= 0)')).max(50).optional(),
      /** Per-attempt timeout in ms (HTTP request or notifier call). @default 15000 */
      timeoutMs: z.number().int().positive().optional(),
      /**
       * Attempts in flight in one worker, all endpoints together. Keep it well above `endpointConcurrency`, so
       * endpoints that stop answering cannot take every slot.
       * @default 50
       */
      concurrency: z.number().int().positive().max(1000).optional(),
      /**
       * Attempts in flight to any one endpoint (and to the notifier) in one worker. A slow or hanging
       * endpoint holds at most this many; the other endpoints' deliveries go on beside it.
       * @default 10
       */
      endpointConcurrency: z.number().int().positive().max(1000).optional(),
      /** Rows claimed per round. @default 50 */
      batchSize: z.number().int().positive().max(10_000).optional(),
      /** How long an idle started worker waits before looking for due rows again, in ms. @default 1000 */
      pollIntervalMs: z.number().int().positive().optional(),
      /**
       * Keep the start of a failed answer's body in the delivery's `last_error` (which otherwise holds
       * the status and its reason only, at most 200 characters). Off by default: whoever can read
       * `last_error` could otherwise read responses from any URL an endpoint is pointed at.
       * @default false
       */
      recordResponseBody: z.boolean().optional(),
      /**
       * An endpoint whose every attempt has failed for this long (ms since the first failure after its last
       * success) is disabled at its next failure, and `webhook_endpoint.disabled` is emitted (bus, and the
       * other endpoints that want it). Re-enable it with `webhookEndpoints.update(id, { status: 'enabled' })`.
       * `null`: never disable for failing.
       * @default 432000000 (5 days)
       */
      disableAfterMs: z.number().int().positive().nullable().optional(),
      /** The clock (ms since epoch) for due times, `webhook-timestamp`, the inbox's `received_at` and the retention windows; tests pass a fake clock. @default Date.now */
      now: fn<() => number>('delivery.now').optional(),
    })
    .optional(),
  /**
   * When the in-process bus subscribers (`hooks.bus.subscribe`) run. In either mode the events are recorded
   * (in the outbox, with their webhook deliveries) before the provider gets its answer; only the subscribers' timing changes.
   */
  subscribers: z
    .strictObject({
      /**
       * `before_response`: the answer waits for the subscribers (one after another), so their work is done before the
       * provider hears 200. `after_response`: they run without delaying the answer, at most once (a crash or restart
       * loses runs in flight; webhook endpoints are the durable path); `hooks.delivery.stop()` waits for runs in
       * flight, at most `timeoutMs`. A subscriber that throws or times out is logged and never changes the answer.
       * @default "before_response"
       */
      mode: z.enum(['before_response', 'after_response']).optional(),
      /** How long one subscriber may take with one event, in ms; past it, it is logged and no longer waited for. @default 10000 */
      timeoutMs: z.number().int().positive().max(2_147_483_647).optional(),
    })
    .optional(),
  /**
   * What each product grants (`hooks.entitlements`): Apple product ids and Xsolla plan ids, each with the
   * entitlements it unlocks, e.g. `{ 'com.example.pro.monthly': { entitlements: ['pro'] } }`. A transaction
   * for a product not listed is still recorded (money is never dropped): the order gets
   * `metadata.unknown_product: true` and a warning is logged. Without this key no entitlements are kept.
   */
  products: z.record(z.string().min(1), z.strictObject({ entitlements: z.array(z.string().min(1, 'entitlement names must be non-empty')) })).optional(),
  /** How `hooks.entitlements` answers. */
  entitlements: z
    .strictObject({
      /**
       * Whether a subscription in billing retry (`past_due`: the renewal failed and Apple or Xsolla keeps
       * trying, no grace period) still grants its entitlements.
       * @default false
       */
      pastDueActive: z.boolean().optional(),
    })
    .optional(),
  /**
   * Who owns a subscription when a new purchase of it (a resubscription, an upgrade bought again)
   * comes through an order of another user of your app (same Apple ID or Google account, another app account):
   * `to_new_user` moves the subscription (and its entitlements) to that user and emits
   * `customer.subscription.transferred` with `previous_attributes.user_id`; `keep` records the order
   * for the new user and leaves the subscription with its owner. Renewals never move it.
   * @default "to_new_user"
   */
  transfer: z.enum(['to_new_user', 'keep']).optional(),
  /** The time-driven events (`hooks.lifecycle.sweep`, run by the started delivery worker). */
  lifecycle: z
    .strictObject({
      /** `customer.subscription.trial_will_end` this many days before a trial ends (once per trial). @default 3 */
      trialWillEndDays: z.number().nonnegative('must be a number of days (>= 0)').max(365).optional(),
      /**
       * A subscription still `active` (or `trialing`) this long after `current_period_end` with no renewal is
       * settled: Apple's answer from the App Store Server API when `apple.api` is configured, else `past_due`
       * with `reason: 'no_renewal_received'`. In ms. @default 86400000 (one day)
       */
      renewalGraceMs: z.number().int().nonnegative('must be a duration in ms (>= 0)').optional(),
      /** How often the started delivery worker sweeps, in ms; `null`: never (call `hooks.lifecycle.sweep` yourself). @default 900000 (15 minutes) */
      intervalMs: z.number().int().positive().nullable().optional(),
      /** Subscriptions claimed at a time. @default 100 */
      batchSize: z.number().int().positive().max(10_000).optional(),
    })
    .optional(),
  /** URL paths the adapters mount. */
  routes: z
    .strictObject({
      /** @default "/api/users/app-store-notifications" */
      apple: z.string().startsWith('/').optional(),
      /** The client transaction route (route name `appleTransaction`). @default "/api/users/app-store-transactions" */
      appleTransaction: z.string().startsWith('/').optional(),
      /** The client transaction route. @deprecated use `routes.appleTransaction` (the route's name) */
      appleTransactions: z.string().startsWith('/').optional(),
      /** @default "/api/xsolla/webhooks" */
      xsolla: z.string().startsWith('/').optional(),
      /** @default "/api/google/rtdn" */
      google: z.string().startsWith('/').optional(),
      /** The client route for purchase tokens (route name `googlePurchase`; needs `google.api`). @default "/api/google/purchases" */
      googlePurchase: z.string().startsWith('/').optional(),
      /** The client route for purchase tokens. @deprecated use `routes.googlePurchase` (the route's name) */
      googlePurchases: z.string().startsWith('/').optional(),
    })
    .optional(),
  /** Largest request body accepted, in bytes (larger → 413 `BODY_TOO_LARGE`). @default 1048576 */
  maxBodyBytes: z.number().int().positive().optional(),
  /** pino-compatible logger. @default silent except warnings and errors, to stderr */
  logger: z
    .custom<Logger>(
      (v) => typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      {
        message: 'must have debug, info, warn and error methods (pino and console both fit)',
      },
    )
    .optional(),
});

/**
 * Options of {@link createSubscriptionWebhooks}. Every key is optional; see each for its default.
 * The input type of the config's schema: one source for the keys, their validation and their documentation.
 */
export type SubscriptionWebhooksConfig = z.input<typeof configSchema>;

/** Resolves a webhook endpoint's host name to its addresses (`dnsLookup`). */
type DnsLookup = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/**
 * A trusted root: DER bytes, or `"apple"`, the bundled Apple Root CA - G3, which the config only names: the
 * certificate is given to the verifier where it is composed (the handler, the CLI), so the config needs no provider.
 */
export type RootCertificate = Uint8Array | 'apple';

/** Config after validation and defaults. */
export interface ResolvedConfig {
  apple: {
    bundleId: string;
    appAppleId: number | undefined;
    environments: AppleEnvironment[];
    rootCertificates: RootCertificate[] | undefined;
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
  /** Route paths, keyed by route name; `appleTransactions` and `googlePurchases` are deprecated spellings of the same paths. */
  routes: {
    apple: string;
    appleTransaction: string;
    xsolla: string;
    google: string;
    googlePurchase: string;
    /** @deprecated use `appleTransaction` */
    appleTransactions: string;
    /** @deprecated use `googlePurchase` */
    googlePurchases: string;
  };
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

/**
 * Turns `rootCertificates` entries into DER: bytes as they are, or a DER/PEM file (PEM may hold several).
 * `"apple"` stays as it is (see {@link RootCertificate}).
 */
function loadRootCertificates(entries: Array<Uint8Array | string>): RootCertificate[] {
  return entries.flatMap((entry): RootCertificate[] => {
    if (typeof entry !== 'string') return [entry];
    if (entry.toLowerCase() === 'apple') return ['apple'];
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

/** Route paths by route name, from `routes` (a deprecated plural key is read when its singular one is absent; both given: CONFIG_INVALID). */
function resolveRoutes(r: NonNullable<SubscriptionWebhooksConfig['routes']>): ResolvedConfig['routes'] {
  for (const [now, old] of [
    ['appleTransaction', 'appleTransactions'],
    ['googlePurchase', 'googlePurchases'],
  ] as const) {
    if (r[now] !== undefined && r[old] !== undefined) {
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        `Invalid subscription-webhooks config: give \`routes.${now}\` only (\`routes.${old}\` is its deprecated spelling)`,
      );
    }
  }
  const appleTransaction = r.appleTransaction ?? r.appleTransactions ?? '/api/users/app-store-transactions';
  const googlePurchase = r.googlePurchase ?? r.googlePurchases ?? '/api/google/purchases';
  return {
    apple: r.apple ?? '/api/users/app-store-notifications',
    appleTransaction,
    xsolla: r.xsolla ?? '/api/xsolla/webhooks',
    google: r.google ?? '/api/google/rtdn',
    googlePurchase,
    appleTransactions: appleTransaction,
    googlePurchases: googlePurchase,
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
    routes: resolveRoutes(c.routes ?? {}),
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
