import type { ResolvedConfig } from './config.js';
import type { Logger } from './logger.js';
import type { PruneCounts, PruneOptions, Store } from '../store/types.js';

const DAY_MS = 86_400_000;

/** What `hooks.maintenance.prune()` (and the delivery worker's pruning) removed in one run. */
export interface PruneReport extends Required<PruneCounts> {
  /** Batches run (each: at most `retention.batchSize` rows per kind). */
  batches: number;
  /** False when the run stopped at `maxBatches` with rows left to prune (the next run goes on). */
  complete: boolean;
  durationMs: number;
}

/** The cutoffs of `retention` at `now` (ms since epoch). */
export function pruneOptions(r: ResolvedConfig['retention'], now: number): PruneOptions {
  const before = (days: number) => new Date(now - days * DAY_MS).toISOString();
  return {
    rawBodiesBefore: before(r.rawBodyDays),
    notificationsBefore: before(r.notificationDays),
    eventsBefore: before(r.eventDays),
    deliveredBefore: before(r.deliveredDays),
    failedBefore: before(r.failedDays),
    receiptsBefore: before(r.receiptDays),
    limit: r.batchSize,
  };
}

/**
 * The freshness rule: a notification whose provider date is older than the dedup keys are kept
 * (`retention.notificationDays` before `now`) is stale: its key may already be pruned, so it is
 * acknowledged and changes nothing. No provider date: never stale (and its key is never pruned).
 */
export function isStale(providerDate: string | null, r: ResolvedConfig['retention'], now: number): boolean {
  return providerDate !== null && Date.parse(providerDate) < now - r.notificationDays * DAY_MS;
}

const ZERO: Required<PruneCounts> = { rawBodies: 0, notifications: 0, events: 0, deliveries: 0, receipts: 0, outcomes: 0, attempts: 0 };

/**
 * Prunes in batches until a batch finds less than a full batch of every kind (or `maxBatches` ran, or
 * `signal` aborted: the batch in flight ends first), and logs what it removed. A store without `prune` prunes nothing.
 */
export async function runPrune(
  store: Store,
  r: ResolvedConfig['retention'],
  now: number,
  logger: Logger,
  options: { maxBatches?: number; signal?: AbortSignal } = {},
): Promise<PruneReport> {
  const started = performance.now();
  const totals: Required<PruneCounts> = { ...ZERO };
  let batches = 0;
  let complete = true;
  if (store.prune) {
    const o = pruneOptions(r, now);
    const maxBatches = options.maxBatches ?? 10_000;
    for (;;) {
      const counts = await store.prune(o);
      batches++;
      for (const k of Object.keys(totals) as (keyof PruneCounts)[]) totals[k] += counts[k] ?? 0;
      if (Object.values(counts).every((n) => n < o.limit)) break;
      if (batches >= maxBatches || options.signal?.aborted) {
        complete = false;
        break;
      }
      // Let requests in between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const report: PruneReport = { ...totals, batches, complete, durationMs: Math.round(performance.now() - started) };
  const removed = Object.values(totals).reduce((a, b) => a + b, 0);
  if (removed > 0 || !complete) logger.info({ retention: report }, `retention: pruned ${removed} rows in ${report.durationMs} ms`);
  return report;
}
