import { eventId } from '../core/ids.js';
import type { DomainEvent, EventObjectMap, EventType, Provider } from '../events/types.js';

/** What every event of one provider notification carries. Read at each emit: a getter may change it as the notification is applied. */
export interface NotificationStamp {
  provider: Provider;
  notificationId: string;
  /** ISO 8601: when the provider says it happened. */
  created: string;
  livemode: boolean;
  source: DomainEvent['source'];
}

/**
 * The `emit` of one notification's apply step: appends an event to `events`, numbered by its position
 * (`eventId(provider, notificationId, position)`, so a retried unit of work names the same events).
 */
export function notificationEmitter(events: DomainEvent[], stamp: NotificationStamp) {
  return <T extends EventType>(type: T, object: EventObjectMap[T], previous?: Partial<EventObjectMap[T]>): void => {
    events.push({
      id: eventId(stamp.provider, stamp.notificationId, events.length),
      type,
      created: stamp.created,
      provider: stamp.provider,
      livemode: stamp.livemode,
      data: previous ? { object, previous_attributes: previous } : { object },
      source: stamp.source,
    } as DomainEvent);
  };
}
