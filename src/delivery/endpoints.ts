import { isIP } from 'node:net';
import { z } from 'zod';
import { SubscriptionWebhooksError } from '../core/errors.js';
import { EVENT_TYPES } from '../events/types.js';
import { randomId } from '../core/ids.js';
import { unknownEventError } from '../notifications/event-names.js';
import type { Store, WebhookEndpointRecord } from '../store/types.js';
import { generateWebhookSecret } from './sign.js';
import { createSecretBox, maskSecret, type SecretBox } from './secrets.js';
import { isPrivateAddress, privateTargetsAllowed, systemResolver, type HostResolver } from './ssrf.js';

/**
 * A registered outbound webhook endpoint, as `hooks.webhookEndpoints` returns it. `secret` is the
 * plaintext `whsec_…` only from `create` and `rotateSecret`; `get`, `list` and `update` return it (and
 * `previous_secret`) masked, `whsec_…abcd`.
 */
export type WebhookEndpoint = Omit<WebhookEndpointRecord, 'secret_key_id' | 'failing_since'> & {
  /** ISO 8601: since when every attempt to it has failed (null: its last attempt succeeded, or none was made). */
  failing_since: string | null;
};

/** Input of `hooks.webhookEndpoints.create`. */
export interface CreateWebhookEndpointInput {
  /** Where events are POSTed: https, and a public host, unless private targets are allowed (see `allowPrivateUrls`). */
  url: string;
  /** Event types to send, or `['*']` for all (including `manual.notification`). */
  enabled_events: string[];
  description?: string;
  metadata?: Record<string, unknown>;
}

/** Input of `hooks.webhookEndpoints.update`. Re-enabling (`status: 'enabled'`) resumes its pending deliveries. */
export type UpdateWebhookEndpointInput = Partial<CreateWebhookEndpointInput> & { status?: 'enabled' | 'disabled' };

/** `hooks.webhookEndpoints`: where signed events go (Standard Webhooks). */
export interface WebhookEndpointsApi {
  /**
   * Registers an endpoint with a new `whsec_…` secret, returned here in plaintext (and by `rotateSecret`)
   * only: store it where the receiver reads it. Events committed from now on are delivered to it.
   * @example
   * const webhook = await hooks.webhookEndpoints.create({
   *   url: 'https://your-app.com/api/payment/callback',
   *   enabled_events: ['customer.subscription.started', 'customer.subscription.renewed', 'manual.notification'],
   * });
   * // give webhook.secret to the receiving app's createCallbackRoute({ secret })
   * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` for unknown event names (the message lists the valid ones),
   * `INVALID_ARGUMENT` for a malformed URL or field, `WEBHOOK_URL_NOT_ALLOWED` for `http:` or a private host (unless `allowPrivateUrls`, or NODE_ENV development/test)
   */
  create(input: CreateWebhookEndpointInput): Promise<WebhookEndpoint>;
  /** The endpoint, its secrets masked (`whsec_…abcd`). */
  get(id: string): Promise<WebhookEndpoint | null>;
  /** Every endpoint, oldest first, secrets masked (`whsec_…abcd`). */
  list(): Promise<WebhookEndpoint[]>;
  /** @throws SubscriptionWebhooksError `NOT_FOUND`, and the errors of `create` */
  update(id: string, patch: UpdateWebhookEndpointInput): Promise<WebhookEndpoint>;
  /** Deletes the endpoint and its delivery rows. @throws SubscriptionWebhooksError `NOT_FOUND` */
  del(id: string): Promise<{ id: string; deleted: true }>;
  /**
   * Issues a new secret, returned in plaintext (the old one masked). Until `graceMs` has passed, each
   * delivery carries two signatures (new and old), so receivers can switch secrets without dropping a
   * request. Both are stored encrypted with the current `secretsKey` (a plaintext row is encrypted now).
   * @param options.graceMs - how long the old secret keeps signing. @default 86400000 (24 h)
   * @throws SubscriptionWebhooksError `NOT_FOUND`
   */
  rotateSecret(id: string, options?: { graceMs?: number }): Promise<WebhookEndpoint>;
}

const ENDPOINT_EVENTS: readonly string[] = ['*', ...EVENT_TYPES];

const base = {
  url: z.string().min(1).max(2048),
  enabled_events: z.array(z.string()).min(1, 'must list at least one event type, or "*"'),
  description: z.string().max(2000).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
};
const createSchema = z.strictObject(base);
const updateSchema = z.strictObject({ ...z.strictObject(base).partial().shape, status: z.enum(['enabled', 'disabled']).optional() });

function parse<T>(schema: z.ZodType<T>, input: unknown, method: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || 'input';
  throw new SubscriptionWebhooksError(
    'INVALID_ARGUMENT',
    `webhookEndpoints.${method}: \`${key}\` ${issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message}`,
  );
}

function checkEvents(names: string[]): string[] {
  for (const n of names) if (!ENDPOINT_EVENTS.includes(n)) throw unknownEventError('enabled_events', n, ENDPOINT_EVENTS);
  return [...new Set(names)];
}

export { isPrivateAddress } from './ssrf.js';

/**
 * An endpoint URL must be http(s). Unless private targets are allowed (`allowPrivateUrls`, or NODE_ENV
 * `development`/`test` when it is unset), it must be https and its host must not be, or resolve to, a
 * private or reserved address (SSRF). The same check runs again at every connection (see http-post.ts).
 * @param enforce - check http: and private hosts. @default NODE_ENV is neither `development` nor `test`
 * @throws SubscriptionWebhooksError `INVALID_ARGUMENT`, `WEBHOOK_URL_NOT_ALLOWED`
 */
export async function checkEndpointUrl(
  raw: string,
  allowPrivateUrls: boolean,
  enforce = !privateTargetsAllowed(undefined),
  resolve: HostResolver = systemResolver,
): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `webhook endpoint \`url\` is not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `webhook endpoint \`url\` must be http(s), got ${url.protocol}`);
  if (url.username || url.password)
    throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'webhook endpoint `url` must not carry credentials (the signature authenticates us)');
  if (!enforce || allowPrivateUrls) return url.toString();
  const refuse = (why: string) =>
    new SubscriptionWebhooksError(
      'WEBHOOK_URL_NOT_ALLOWED',
      `webhook endpoint \`url\` refused: ${why} (set \`allowPrivateUrls: true\` if this is intended; NODE_ENV=development or test allows it too)`,
    );
  if (url.protocol === 'http:') throw refuse('http: sends events and signatures in clear text');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local'))
    throw refuse(`${host} is a local host name`);
  if (isIP(host)) {
    if (isPrivateAddress(host)) throw refuse(`${host} is a private or reserved address`);
    return url.toString();
  }
  let addresses: ReadonlyArray<{ address: string }>;
  try {
    addresses = await resolve(host);
  } catch (cause) {
    throw new SubscriptionWebhooksError('WEBHOOK_URL_NOT_ALLOWED', `webhook endpoint \`url\` refused: ${host} does not resolve`, { cause });
  }
  if (addresses.length === 0) throw refuse(`${host} does not resolve`);
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad) throw refuse(`${host} resolves to ${bad.address}, a private or reserved address`);
  return url.toString();
}

/** Builds `hooks.webhookEndpoints` on a store. */
export function createWebhookEndpointsApi(
  store: Store,
  options: { allowPrivateUrls: boolean; now: () => number; resolve?: HostResolver; secrets?: SecretBox },
): WebhookEndpointsApi {
  const checkUrl = (raw: string) => checkEndpointUrl(raw, options.allowPrivateUrls, true, options.resolve);
  const box = options.secrets ?? createSecretBox([]);

  /** The public view: secrets masked unless `reveal` gives the plaintext to return. */
  function view(r: WebhookEndpointRecord, reveal?: string): WebhookEndpoint {
    const { secret_key_id: _keyId, failing_since, ...rest } = r;
    const masked = (stored: string, field: string): string => {
      try {
        return maskSecret(box.open(stored, r.id, field));
      } catch {
        return 'whsec_…????'; // encrypted with a key this process does not have
      }
    };
    return {
      ...rest,
      secret: reveal ?? masked(r.secret, 'secret'),
      previous_secret: r.previous_secret === null ? null : masked(r.previous_secret, 'previous_secret'),
      failing_since: failing_since ?? null,
    };
  }

  async function change(id: string, fn: (current: WebhookEndpointRecord, now: string) => WebhookEndpointRecord): Promise<WebhookEndpointRecord> {
    return store.transaction(async (tx) => {
      const current = await tx.getWebhookEndpoint(id);
      if (!current) throw new SubscriptionWebhooksError('NOT_FOUND', `No webhook endpoint ${id}`);
      const next = fn(current, new Date(options.now()).toISOString());
      await tx.saveWebhookEndpoint(next);
      return next;
    });
  }
  return {
    async create(input) {
      const i = parse(createSchema, input, 'create');
      const enabled = checkEvents(i.enabled_events);
      const url = await checkUrl(i.url);
      const now = new Date(options.now()).toISOString();
      const id = randomId('we');
      const secret = generateWebhookSecret();
      const record: WebhookEndpointRecord = {
        id,
        url,
        enabled_events: enabled,
        status: 'enabled',
        secret: box.seal(secret, id, 'secret'),
        previous_secret: null,
        previous_secret_expires_at: null,
        description: i.description ?? null,
        metadata: i.metadata ?? {},
        created: now,
        updated: now,
        secret_key_id: box.keyId,
        failing_since: null,
      };
      await store.transaction((tx) => tx.saveWebhookEndpoint(record));
      return view(record, secret);
    },
    async get(id) {
      const r = await store.getWebhookEndpoint(id);
      return r && view(r);
    },
    list: async () => (await store.listWebhookEndpoints()).map((r) => view(r)),
    async update(id, patch) {
      const p = parse(updateSchema, patch, 'update');
      const enabled = p.enabled_events === undefined ? undefined : checkEvents(p.enabled_events);
      const url = p.url === undefined ? undefined : await checkUrl(p.url);
      const next = await change(id, (c, now) => ({
        ...c,
        url: url ?? c.url,
        enabled_events: enabled ?? c.enabled_events,
        status: p.status ?? c.status,
        description: p.description === undefined ? c.description : p.description,
        metadata: p.metadata ?? c.metadata,
        // Re-enabled by hand: the failing period starts again from the next failure.
        failing_since: p.status === 'enabled' ? null : (c.failing_since ?? null),
        updated: now,
      }));
      return view(next);
    },
    async del(id) {
      if (!(await store.transaction((tx) => tx.deleteWebhookEndpoint(id)))) throw new SubscriptionWebhooksError('NOT_FOUND', `No webhook endpoint ${id}`);
      return { id, deleted: true };
    },
    async rotateSecret(id, rotate = {}) {
      const graceMs = rotate.graceMs ?? 86_400_000;
      if (!Number.isInteger(graceMs) || graceMs < 0)
        throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'rotateSecret: `graceMs` must be a non-negative integer');
      const secret = generateWebhookSecret();
      const next = await change(id, (c, now) => ({
        ...c,
        secret: box.seal(secret, id, 'secret'),
        // The old secret, re-encrypted with the current key (a plaintext or old-key row is encrypted anew).
        previous_secret: graceMs > 0 ? box.seal(box.open(c.secret, id, 'secret'), id, 'previous_secret') : null,
        previous_secret_expires_at: graceMs > 0 ? new Date(Date.parse(now) + graceMs).toISOString() : null,
        secret_key_id: box.keyId,
        updated: now,
      }));
      return view(next, secret);
    },
  };
}
