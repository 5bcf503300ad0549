import { z } from 'zod';
import { SubscriptionWebhooksError } from '../core/errors.js';
import { EVENT_TYPES, type EventType, type NotificationSettings } from '../events/types.js';

/** Event types whose object is a Subscription or an Order. */
export const ENTITY_EVENT_TYPES = EVENT_TYPES.filter((t) => t.startsWith('customer.subscription.') || t.startsWith('order.') || t.startsWith('refund.'));

/**
 * Event types a user can be notified about (and that notification settings may name): those whose
 * object is a Subscription or an Order, and `entitlement.granted` / `entitlement.revoked` (resolved
 * through the subscription that grants the entitlement).
 */
export const USER_EVENT_TYPES = EVENT_TYPES.filter((t) => (ENTITY_EVENT_TYPES as readonly string[]).includes(t) || t.startsWith('entitlement.'));

/**
 * Events the built-in notifier path sends to `config.notifier`, and the default `include_events` of a
 * `self_handle` setting that names none. `created` (always followed by `started`) and `order.paid`
 * (which accompanies `started` / `renewed`) are left out so a user gets one message per change.
 */
export const DEFAULT_NOTIFIED_EVENTS: readonly EventType[] = [
  'customer.subscription.started',
  'customer.subscription.renewed',
  'customer.subscription.upgraded',
  'customer.subscription.canceled',
  'customer.subscription.reactivated',
  'customer.subscription.past_due',
  'customer.subscription.recovered',
  'customer.subscription.deleted',
  'customer.subscription.trial_will_end',
  'order.refunded',
];

/** `INVALID_ARGUMENT` (400: the caller's argument, not the deployment's config) naming the unknown event and listing every valid name. */
export function unknownEventError(where: string, name: string, valid: readonly string[]): SubscriptionWebhooksError {
  return new SubscriptionWebhooksError('INVALID_ARGUMENT', `\`${where}\` has an unknown event "${name}"; valid names: ${valid.join(', ')}`);
}

const userEventName = z.string().min(1);

/** zod schema of `{ self_handle, include_events?, exclude_events? }` (event names are checked by {@link checkNotificationSettings}). */
export const notificationSettingsSchema = z.strictObject({
  self_handle: z.boolean(),
  include_events: z.array(userEventName).optional(),
  exclude_events: z.array(userEventName).optional(),
});

/**
 * Validates notification settings; unknown event names are `INVALID_ARGUMENT` listing the valid ones.
 * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` (shape or event names)
 */
export function checkNotificationSettings(value: unknown, where: string): NotificationSettings {
  const parsed = notificationSettingsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys].join('.') : issue.path.join('.');
    throw new SubscriptionWebhooksError(
      'INVALID_ARGUMENT',
      `\`${[where, key].filter(Boolean).join('.')}\` ${issue.code === 'unrecognized_keys' ? 'is not a known key' : issue.message}`,
    );
  }
  for (const list of ['include_events', 'exclude_events'] as const) {
    for (const name of parsed.data[list] ?? []) {
      if (!(USER_EVENT_TYPES as readonly string[]).includes(name)) throw unknownEventError(`${where}.${list}`, name, USER_EVENT_TYPES);
    }
  }
  const out: NotificationSettings = { self_handle: parsed.data.self_handle };
  if (parsed.data.include_events) out.include_events = [...new Set(parsed.data.include_events)];
  if (parsed.data.exclude_events) out.exclude_events = [...new Set(parsed.data.exclude_events)];
  return out;
}

/** True when `settings` hand `type` to the app (`manual.notification`) instead of the built-in notifier. */
export function isSelfHandled(settings: NotificationSettings | null, type: string): boolean {
  if (!settings?.self_handle) return false;
  const include: readonly string[] = settings.include_events ?? DEFAULT_NOTIFIED_EVENTS;
  return include.includes(type) && !(settings.exclude_events ?? []).includes(type);
}
