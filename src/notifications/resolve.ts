import type { DomainEvent, ManualNotification, NotificationSettings, Order, Provider, Subscription } from '../events/types.js';
import { stableId } from '../core/ids.js';
import type { StoreTransaction } from '../store/types.js';
import { DEFAULT_NOTIFIED_EVENTS, isSelfHandled } from './event-names.js';
import { isEntitlementEvent, isUserEvent, localeFor, renderUserNotification } from './render.js';

/** Where the effective settings came from (EVENTS.md § manual.notification, first match wins). */
export type SettingsSource = 'subscription' | 'setting_id' | 'global' | 'none';

/** Reads settings once per commit. */
type Cache = Map<string, Promise<NotificationSettings | null>>;

function settingByKey(tx: StoreTransaction, key: string, cache: Cache): Promise<NotificationSettings | null> {
  let hit = cache.get(key);
  if (!hit) cache.set(key, (hit = tx.getNotificationSetting(key).then((s) => s?.settings ?? null)));
  return hit;
}

/**
 * The effective notification settings for an entity: the subscription's own `notification_settings`,
 * then the setting named by `setting_id` (an id or a mountLocation), then the global setting whose
 * mountLocation is `appId`, then none. An order looks through its subscription (by `origin_no`) first.
 */
export async function resolveNotificationSettings(
  tx: StoreTransaction,
  entity: Subscription | Order,
  appId: string | undefined,
  cache: Cache = new Map(),
): Promise<{ settings: NotificationSettings | null; source: SettingsSource }> {
  let own: NotificationSettings | null;
  let settingId: string | null;
  if ('contract_id' in entity) {
    own = entity.notification_settings;
    settingId = entity.setting_id;
  } else {
    const sub = entity.origin_no ? await tx.getSubscription(entity.provider, entity.origin_no) : null;
    own = sub?.notification_settings ?? entity.subscription_data?.notification_settings ?? null;
    const fromMeta = entity.metadata?.setting_id;
    settingId = sub?.setting_id ?? (typeof fromMeta === 'string' ? fromMeta : null);
  }
  if (own) return { settings: own, source: 'subscription' };
  if (settingId) {
    const named = await settingByKey(tx, settingId, cache);
    if (named) return { settings: named, source: 'setting_id' };
  }
  if (appId) {
    const global = await settingByKey(tx, appId, cache);
    if (global) return { settings: global, source: 'global' };
  }
  return { settings: null, source: 'none' };
}

/** What {@link planNotifications} decided for one commit. */
export interface NotificationPlan {
  /** The committed events with a `manual.notification` right after each self-handled one. */
  events: DomainEvent[];
  /** Events for the built-in notifier path (rendered and sent after commit). */
  notify: DomainEvent[];
}

/**
 * Per EVENTS.md § manual.notification: for each Subscription/Order event, a self-handled type gets a
 * `manual.notification` (carrying what the plugin rendered as `context`) instead of the built-in
 * notifier; other types in the default list go to the notifier. Runs inside the commit transaction,
 * reads only, and derives ids from the original event, so a retried transaction plans the same.
 */
export async function planNotifications(
  tx: StoreTransaction,
  events: readonly DomainEvent[],
  options: { appId: string | undefined; locale: string },
  /** Subscriptions the commit changed without an event of their own (an entitlement event may name one). */
  touched: readonly Subscription[] = [],
): Promise<NotificationPlan> {
  const out: DomainEvent[] = [];
  const notify: DomainEvent[] = [];
  const cache: Cache = new Map();
  // An entitlement event is the granting subscription's: its settings decide, as for the subscription's own events.
  const subscriptions = new Map<string, Subscription>(touched.map((s) => [s.id, s]));
  for (const event of events) {
    if (event.type.startsWith('customer.subscription.')) subscriptions.set((event.data.object as Subscription).id, event.data.object as Subscription);
  }
  for (const event of events) {
    out.push(event);
    let entity: Subscription | Order | undefined;
    let userDid: string | null = null;
    if (isUserEvent(event)) {
      const object: Subscription | Order = event.data.object;
      entity = object;
      userDid = object.user_id;
    } else if (isEntitlementEvent(event)) {
      entity = subscriptions.get(event.data.object.subscription_id);
      userDid = event.data.object.user_id;
    }
    if (!entity) continue;
    const { settings } = await resolveNotificationSettings(tx, entity, options.appId, cache);
    if (isSelfHandled(settings, event.type)) {
      const rendered = renderUserNotification(event, localeFor(entity, options.locale));
      const object: ManualNotification = {
        type: event.type,
        data: {
          entity,
          userDid,
          context: { ...rendered.context, title: rendered.title, body: rendered.body, locale: rendered.locale },
        },
      };
      out.push({
        id: stableId('evt', 'manual.notification', event.id),
        type: 'manual.notification',
        created: event.created,
        // A user event: its provider is a real one.
        provider: event.provider as Provider,
        livemode: event.livemode,
        data: { object },
        source: event.source,
      });
    } else if (DEFAULT_NOTIFIED_EVENTS.includes(event.type)) {
      notify.push(event);
    }
  }
  return { events: out, notify };
}
