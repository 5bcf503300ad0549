import { z } from 'zod';
import { SubscriptionWebhooksError } from '../core/errors.js';
import type { NotificationSettings } from '../events/types.js';
import { randomId } from '../core/ids.js';
import type { NotificationSettingRecord, Store } from '../store/types.js';
import { checkNotificationSettings } from './event-names.js';

/** A stored notification setting, as `hooks.settings` returns it. */
export type NotificationSetting = NotificationSettingRecord;

/** Input of `hooks.settings.create` (seed 000's `payment.settings.create`). */
export interface CreateNotificationSettingInput {
  type: 'notification';
  /** Unique key; a subscription's `metadata.setting_id` may name it, and the one equal to `appId` is the global setting. */
  mountLocation: string;
  description?: string;
  /** The app's DID (Payment Kit); stored as given. */
  componentDid?: string;
  settings: NotificationSettings;
}

/** Input of `hooks.settings.update`: any of the create fields but `type`. */
export type UpdateNotificationSettingInput = Partial<Omit<CreateNotificationSettingInput, 'type'>>;

/** `hooks.settings`: CRUD over notification settings. */
export interface NotificationSettingsApi {
  /**
   * Creates a setting.
   * @example
   * const setting = await hooks.settings.create({
   *   type: 'notification', mountLocation: 'your.app.id', description: 'Custom notifications',
   *   settings: { self_handle: true, include_events: ['customer.subscription.started', 'customer.subscription.renewed'] },
   * });
   * await hooks.orders.create({ userId, productId, metadata: { setting_id: setting.id } });
   * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` for unknown event names (the message lists the valid ones),
   * `INVALID_ARGUMENT` for any other bad field, `CONFLICT` when the mountLocation is taken
   */
  create(input: CreateNotificationSettingInput): Promise<NotificationSetting>;
  /** By id, or by mountLocation. Resolves null when there is none. */
  get(idOrMountLocation: string): Promise<NotificationSetting | null>;
  /** Every setting, oldest first. */
  list(): Promise<NotificationSetting[]>;
  /**
   * Changes the given fields; `settings` is replaced as a whole.
   * @throws SubscriptionWebhooksError `NOT_FOUND`, `CONFLICT`, `INVALID_ARGUMENT`
   */
  update(id: string, patch: UpdateNotificationSettingInput): Promise<NotificationSetting>;
  /**
   * Deletes a setting. Subscriptions that named it fall back to the global setting.
   * @throws SubscriptionWebhooksError `NOT_FOUND`
   */
  del(id: string): Promise<{ id: string; deleted: true }>;
}

const fields = {
  mountLocation: z.string().trim().min(1, 'must be a non-empty string (your app id, or any key you choose)').max(200),
  description: z.string().max(2000).optional(),
  componentDid: z.string().max(200).optional(),
  settings: z.unknown(),
};
const createSchema = z.strictObject({ type: z.literal('notification', { message: 'must be "notification"' }), ...fields });
const updateSchema = z.strictObject({ ...fields, mountLocation: fields.mountLocation.optional(), settings: z.unknown().optional() });

function parse<T>(schema: z.ZodType<T>, input: unknown, method: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || 'input';
  throw new SubscriptionWebhooksError(
    'INVALID_ARGUMENT',
    `settings.${method}: \`${key}\` ${issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message}`,
  );
}

/** The unique mountLocation, checked inside the write so the answer is a stable code (the index still guards races). */
async function assertFree(store: Store, mountLocation: string, selfId: string | null): Promise<void> {
  const holder = await store.getNotificationSetting(mountLocation);
  if (holder && holder.id !== selfId && holder.mountLocation === mountLocation) {
    throw new SubscriptionWebhooksError('CONFLICT', `A notification setting with mountLocation "${mountLocation}" already exists (${holder.id})`);
  }
}

function conflictOnUnique(err: unknown, mountLocation: string): never {
  const text = String((err as Error)?.message ?? err);
  if (/unique/i.test(text) || (err as { code?: string })?.code === 'P2002') {
    throw new SubscriptionWebhooksError('CONFLICT', `A notification setting with mountLocation "${mountLocation}" already exists`, { cause: err });
  }
  throw err;
}

/** Builds `hooks.settings` on a store. */
export function createNotificationSettingsApi(store: Store): NotificationSettingsApi {
  return {
    async create(input) {
      const i = parse(createSchema, input, 'create');
      const settings = checkNotificationSettings(i.settings, 'settings');
      await assertFree(store, i.mountLocation, null);
      const now = new Date().toISOString();
      const record: NotificationSettingRecord = {
        id: randomId('set'),
        type: 'notification',
        mountLocation: i.mountLocation,
        description: i.description ?? null,
        componentDid: i.componentDid || null,
        settings,
        created: now,
        updated: now,
      };
      await store.transaction((tx) => tx.saveNotificationSetting(record)).catch((e: unknown) => conflictOnUnique(e, i.mountLocation));
      return record;
    },
    get: (idOrMountLocation) => store.getNotificationSetting(idOrMountLocation),
    list: () => store.listNotificationSettings(),
    async update(id, patch) {
      const p = parse(updateSchema, patch, 'update');
      const settings = p.settings === undefined ? undefined : checkNotificationSettings(p.settings, 'settings');
      if (p.mountLocation !== undefined) await assertFree(store, p.mountLocation, id);
      const updated = await store
        .transaction(async (tx) => {
          const current = await tx.getNotificationSetting(id);
          if (!current || current.id !== id) throw new SubscriptionWebhooksError('NOT_FOUND', `No notification setting ${id}`);
          const next: NotificationSettingRecord = {
            ...current,
            mountLocation: p.mountLocation ?? current.mountLocation,
            description: p.description === undefined ? current.description : p.description,
            componentDid: p.componentDid === undefined ? current.componentDid : p.componentDid || null,
            settings: settings ?? current.settings,
            updated: new Date().toISOString(),
          };
          await tx.saveNotificationSetting(next);
          return next;
        })
        .catch((e: unknown) => (e instanceof SubscriptionWebhooksError ? Promise.reject(e) : conflictOnUnique(e, p.mountLocation ?? '')));
      return updated;
    },
    async del(id) {
      const deleted = await store.transaction((tx) => tx.deleteNotificationSetting(id));
      if (!deleted) throw new SubscriptionWebhooksError('NOT_FOUND', `No notification setting ${id}`);
      return { id, deleted: true };
    },
  };
}
