import type { Logger } from '../core/logger.js';
import type { DomainEvent, EventType } from './types.js';

/**
 * A subscriber for events of type `T`. May be async and may return anything (a returned promise is
 * awaited, its value ignored), so `async (e) => prisma.user.update(…)` fits; its errors are logged, never rethrown.
 */
export type EventHandler<T extends EventType = EventType> = (event: DomainEvent<T>) => unknown;

/** Options of {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** The name logs give this subscriber (event id, type and this name). @default the function's name, else `subscriber <n> (<type>)` */
  name?: string;
}

/** When subscribers run and how long each may take: the `subscribers` config. */
export interface EventBusOptions {
  /** `before_response`: {@link EventBus.publish} resolves once every subscriber has settled; `after_response`: at once. @default "before_response" */
  mode?: 'before_response' | 'after_response';
  /** How long one subscriber may take with one event, in ms. @default 10000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * In-process event bus. Handlers run after the notification's transaction has committed (its events
 * are in the outbox), one after another in subscription order, each for at most `timeoutMs` (past it,
 * it is logged and no longer waited for; the next one starts). A throwing or timed-out handler is logged
 * with the event id and the subscriber's name and never changes what the provider is told, nor stops
 * the other handlers. In `before_response` mode (the default) the provider's answer waits for them; in
 * `after_response` mode they run without delaying it, at most once (a crash loses runs in flight), and
 * {@link EventBus.drain} waits for the runs in flight (as `hooks.delivery.stop()` does).
 *
 * @example
 * const off = hooks.bus.subscribe('customer.subscription.renewed', async (event) => {
 *   await grantAccess(event.data.object.user_id, event.data.object.current_period_end);
 * });
 * hooks.bus.subscribe((event) => console.log(event.type)); // every event
 * hooks.bus.subscribe('order.paid', syncCrm, { name: 'crm' }); // the name logs give it
 * off(); // unsubscribe
 */
export class EventBus {
  /** Per type (or `'*'`): handler → its name, in subscription order. */
  private readonly handlers = new Map<string, Map<EventHandler<never>, string>>();
  private readonly running = new Set<Promise<void>>();
  private readonly mode: 'before_response' | 'after_response';
  private readonly timeoutMs: number;
  private subscribed = 0;

  constructor(
    private readonly logger?: Logger,
    options: EventBusOptions = {},
  ) {
    this.mode = options.mode ?? 'before_response';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Subscribe to every event. @returns a function that unsubscribes. */
  subscribe(handler: EventHandler, options?: SubscribeOptions): () => void;
  /** Subscribe to one event type, or `'*'` for all. @returns a function that unsubscribes. */
  subscribe<T extends EventType>(type: T | '*', handler: EventHandler<T>, options?: SubscribeOptions): () => void;
  subscribe(typeOrHandler: string | EventHandler, handlerOrOptions?: EventHandler<never> | SubscribeOptions, maybeOptions?: SubscribeOptions): () => void {
    const type = typeof typeOrHandler === 'string' ? typeOrHandler : '*';
    const handler = (typeof typeOrHandler === 'function' ? typeOrHandler : handlerOrOptions) as EventHandler<never> | undefined;
    const options = (typeof typeOrHandler === 'function' ? handlerOrOptions : maybeOptions) as SubscribeOptions | undefined;
    if (typeof handler !== 'function') throw new TypeError('bus.subscribe needs a handler function');
    let map = this.handlers.get(type);
    if (!map) this.handlers.set(type, (map = new Map()));
    this.subscribed += 1;
    if (!map.has(handler)) map.set(handler, options?.name || handler.name || `subscriber ${this.subscribed} (${type})`);
    return () => {
      map.delete(handler);
    };
  }

  /** Number of handlers that would receive an event of `type`. */
  listenerCount(type: EventType): number {
    return (this.handlers.get(type)?.size ?? 0) + (this.handlers.get('*')?.size ?? 0);
  }

  /**
   * Deliver events to subscribers, in order. Never rejects. In `before_response` mode it resolves when every
   * handler has settled or timed out; in `after_response` mode at once, the handlers running on their own.
   */
  publish(events: readonly DomainEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const run = this.deliver(events);
    this.running.add(run);
    void run.then(() => this.running.delete(run));
    return this.mode === 'after_response' ? Promise.resolve() : run;
  }

  /**
   * Waits for the subscriber runs in flight, at most `timeoutMs` (default: `subscribers.timeoutMs`).
   * `hooks.delivery.stop()` calls it; call it yourself on shutdown if you do not run the delivery worker.
   * @returns true when every run ended, false when the bound passed first (logged at warn).
   */
  async drain(timeoutMs: number = this.timeoutMs): Promise<boolean> {
    if (this.running.size === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const all = (async () => {
      while (this.running.size > 0) await Promise.all(this.running);
      return true as const;
    })();
    try {
      const ended = await Promise.race([all, bound]);
      if (!ended) this.logger?.warn({ running: this.running.size, timeoutMs }, `event subscribers still running after ${timeoutMs} ms: no longer waited for`);
      return ended;
    } finally {
      clearTimeout(timer);
    }
  }

  private async deliver(events: readonly DomainEvent[]): Promise<void> {
    // After the answer: the adapter writes the response before this turn of the event loop ends.
    if (this.mode === 'after_response') await new Promise((resolve) => setImmediate(resolve));
    for (const event of events) {
      const targets = [...(this.handlers.get(event.type) ?? []), ...(this.handlers.get('*') ?? [])];
      for (const [handler, name] of targets) await this.runOne(handler as EventHandler, name, event);
    }
  }

  /** One handler with one event: settled, failed (logged) or timed out (logged; a later failure is logged too). Never rejects. */
  private async runOne(handler: EventHandler, subscriber: string, event: DomainEvent): Promise<void> {
    const context = { eventId: event.id, type: event.type, subscriber };
    let result: unknown;
    try {
      result = handler(event);
    } catch (err) {
      this.logger?.error({ err, ...context }, 'event subscriber failed');
      return;
    }
    if (!isThenable(result)) return;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = Promise.resolve(result).then(
      () => undefined,
      (err: unknown) => this.logger?.error({ err, ...context }, timedOut ? 'event subscriber failed after it timed out' : 'event subscriber failed'),
    );
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.logger?.error({ ...context, timeoutMs: this.timeoutMs }, `event subscriber timed out after ${this.timeoutMs} ms`);
        resolve();
      }, this.timeoutMs);
      // A subscriber that never settles must not keep the process alive.
      timer.unref?.();
    });
    try {
      await Promise.race([settled, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
