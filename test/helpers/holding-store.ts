import type { Store, StoreTransaction } from '../../src/index.js';

/** A store whose units of work can be held once, right before their first order write. */
export interface HoldingStore extends Store {
  /** Arms the hold: the next unit of work to write an order waits there until `release()`; resolves when one is held. */
  arm(): Promise<void>;
  release(): void;
  /** How many units of work were held (a forced round that held none proves nothing). */
  held: number;
}

export function holding(inner: Store): HoldingStore {
  let waiting: { reached: () => void; gate: Promise<void> } | null = null; // armed, no unit of work held yet
  let open: (() => void) | null = null;
  const store: HoldingStore = Object.create(inner) as HoldingStore;
  store.held = 0;
  store.arm = () =>
    new Promise<void>((reached) => {
      const gate = new Promise<void>((r) => (open = r));
      waiting = { reached, gate };
    });
  store.release = () => {
    waiting = null;
    open?.();
    open = null;
  };
  const holdHere = async () => {
    const w = waiting;
    if (!w) return;
    waiting = null;
    store.held += 1;
    w.reached();
    await w.gate;
  };
  store.transaction = <T>(fn: (tx: StoreTransaction) => Promise<T>) =>
    inner.transaction((tx) => {
      const wrapped: StoreTransaction = Object.create(tx) as StoreTransaction;
      for (const m of ['saveOrder', 'insertOrder'] as const) {
        const original = (tx as unknown as Record<string, ((...a: unknown[]) => Promise<unknown>) | undefined>)[m];
        if (!original) continue;
        (wrapped as unknown as Record<string, unknown>)[m] = async (...args: unknown[]) => {
          await holdHere();
          return original.apply(tx, args);
        };
      }
      return fn(wrapped);
    });
  return store;
}
