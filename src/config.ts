import { z } from 'zod';
import { SubscriptionWebhooksError } from './errors.js';
import type { Logger } from './logger.js';
import type { Store } from './store/types.js';

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
     * Trusted root certificates (DER). Give your test signer's root here in tests.
     * @default the bundled Apple Root CA - G3
     */
    rootCertificates?: Uint8Array[];
    /** Certificate revocation checks over the network (OCSP). Not implemented yet: must stay `false`. @default false */
    onlineChecks?: boolean;
    /**
     * Also verify the signatures of the nested `signedTransactionInfo` / `signedRenewalInfo`.
     * The outer signature already covers their exact bytes, so this only costs time.
     * @default false
     */
    strictNested?: boolean;
  };
  /** Where orders, subscriptions, the inbox and the outbox live. @default memoryStore() (warns when NODE_ENV=production) */
  store?: Store;
  /** The global notification setting's `mountLocation`. */
  appId?: string;
  /** Called with user-facing notifications the library renders. */
  notifier?: (notification: UserNotification) => Promise<void>;
  /** URL paths the adapters mount. */
  routes?: {
    /** @default "/api/users/app-store-notifications" */
    apple?: string;
    /** @default "/api/users/app-store-transactions" */
    appleTransactions?: string;
    /** @default "/api/xsolla/webhooks" */
    xsolla?: string;
  };
  /** Largest request body accepted, in bytes (larger → 413 `BODY_TOO_LARGE`). @default 1048576 */
  maxBodyBytes?: number;
  /** pino-compatible logger. @default silent except warnings and errors, to stderr */
  logger?: Logger;
}

const APPLE_ENVIRONMENTS = ['Production', 'Sandbox', 'Xcode', 'LocalTesting'] as const;

const fn = (name: string) => z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `${name} must be a function` });

const configSchema = z.strictObject({
  apple: z
    .strictObject({
      bundleId: z.string().min(1, 'must be a non-empty bundle id, e.g. "com.example.app"'),
      appAppleId: z.number().int().positive().optional(),
      environments: z.array(z.enum(APPLE_ENVIRONMENTS)).min(1).optional(),
      rootCertificates: z.array(z.instanceof(Uint8Array, { message: 'must be DER bytes (Uint8Array or Buffer)' })).min(1).optional(),
      onlineChecks: z.literal(false, { message: 'online (OCSP) checks are not supported yet; leave it false' }).optional(),
      strictNested: z.boolean().optional(),
    })
    .optional(),
  store: z
    .custom<Store>((v) => typeof v === 'object' && v !== null && typeof (v as Store).transaction === 'function', {
      message: 'must be a Store, e.g. memoryStore() or prismaStore(prisma)',
    })
    .optional(),
  appId: z.string().min(1).optional(),
  notifier: fn('notifier').optional(),
  routes: z
    .strictObject({
      apple: z.string().startsWith('/').optional(),
      appleTransactions: z.string().startsWith('/').optional(),
      xsolla: z.string().startsWith('/').optional(),
    })
    .optional(),
  maxBodyBytes: z.number().int().positive().optional(),
  logger: z
    .custom<Logger>((v) => typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'), {
      message: 'must have debug, info, warn and error methods (pino and console both fit)',
    })
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
  } | null;
  routes: { apple: string; appleTransactions: string; xsolla: string };
  maxBodyBytes: number;
  appId: string | undefined;
}

/** Reads the Apple settings from the environment when no `apple` key is given. */
function appleFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  if (!env.APPLE_BUNDLE_ID) return undefined;
  const out: Record<string, unknown> = { bundleId: env.APPLE_BUNDLE_ID };
  if (env.APPLE_APP_APPLE_ID) {
    const n = Number(env.APPLE_APP_APPLE_ID);
    out.appAppleId = Number.isFinite(n) ? n : env.APPLE_APP_APPLE_ID;
  }
  if (env.APPLE_ENVIRONMENTS) out.environments = env.APPLE_ENVIRONMENTS.split(',').map((s) => s.trim()).filter(Boolean);
  return out;
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
  for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? String(issue.keys[0]) : '(root)');
    const key = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys].join('.') : path;
    const why = issue.code === 'unrecognized_keys' ? 'is not a known option' : issue.message;
    throw new SubscriptionWebhooksError('CONFIG_INVALID', `Invalid subscription-webhooks config: \`${key}\` ${why}`);
  }
  const c = parsed.data;
  if (!c.apple) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'Invalid subscription-webhooks config: `apple` is missing: pass `apple: { bundleId }` or set the APPLE_BUNDLE_ID environment variable',
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
      rootCertificates: c.apple.rootCertificates,
      strictNested: c.apple.strictNested ?? false,
    };
  }
  return {
    apple,
    routes: {
      apple: c.routes?.apple ?? '/api/users/app-store-notifications',
      appleTransactions: c.routes?.appleTransactions ?? '/api/users/app-store-transactions',
      xsolla: c.routes?.xsolla ?? '/api/xsolla/webhooks',
    },
    maxBodyBytes: c.maxBodyBytes ?? 1024 * 1024,
    appId: c.appId,
  };
}
