import type { Logger } from '../core/logger.js';
import type { DomainEvent, EventType } from './types.js';

/**
 * A subscriber for events of type `T`. May be async and may return anything (a returned promise is
 * awaited, its value ignored), so `async (e) => prisma.user.update(…)` fits; its errors are logged, never rethrown.
 */
export type EventHandler<T extends EventType = EventType> = (event: DomainEvent<T>) => unknown;

/**
 * In-process event bus. Handlers run after the notification's transaction has committed,
 * one after another in subscription order; a throwing handler is logged and never changes
 * what the provider is told, nor stops the other handlers.
 *
 * @example
 * const off = hooks.bus.subscribe('customer.subscription.renewed', async (event) => {
 *   await grantAccess(event.data.object.user_id, event.data.object.current_period_end);
 * });
 * hooks.bus.subscribe((event) => console.log(event.type)); // every event
 * off(); // unsubscribe
 */
export class EventBus {
  private readonly handlers = new Map<string, Set<EventHandler<never>>>();

  constructor(private readonly logger?: Logger) {}

  /** Subscribe to every event. @returns a function that unsubscribes. */
  subscribe(handler: EventHandler): () => void;
  /** Subscribe to one event type, or `'*'` for all. @returns a function that unsubscribes. */
  subscribe<T extends EventType>(type: T | '*', handler: EventHandler<T>): () => void;
  subscribe(typeOrHandler: string | EventHandler, maybeHandler?: EventHandler<never>): () => void {
    const type = typeof typeOrHandler === 'string' ? typeOrHandler : '*';
    const handler = (typeof typeOrHandler === 'function' ? typeOrHandler : maybeHandler) as EventHandler<never> | undefined;
    if (typeof handler !== 'function') throw new TypeError('bus.subscribe needs a handler function');
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Number of handlers that would receive an event of `type`. */
  listenerCount(type: EventType): number {
    return (this.handlers.get(type)?.size ?? 0) + (this.handlers.get('*')?.size ?? 0);
  }

  /**
   * Deliver events to subscribers, in order. Resolves when every handler has settled; never rejects.
   */
  async publish(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) {
      const targets = [...(this.handlers.get(event.type) ?? []), ...(this.handlers.get('*') ?? [])];
      for (const handler of targets) {
        try {
          await (handler as EventHandler)(event);
        } catch (err) {
          this.logger?.error({ err, eventId: event.id, type: event.type }, 'event subscriber failed');
        }
      }
    }
  }
}
