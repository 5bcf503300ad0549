/**
 * Memory: RSS and heap while one process handles 100,000 notifications through the core
 * (`hooks.handle`, verification included). The store keeps nothing, so any growth is the library's
 * own; what is bounded (the chain cache) must stay bounded. 1,000 distinct signed bodies are cycled.
 */
import { createSubscriptionWebhooks, type Store, type StoreTransaction } from '../src/index.js';
import { APP_APPLE_ID, benchSigner, BUNDLE_ID, signedBodies } from './lib/fixtures.js';

/**
 * A Store that accepts every write and keeps nothing (reads find nothing). A Proxy, so it keeps up
 * with methods the Store interface gains: `list*` → [], `count*` → 0, `insertNotification*` → true, else null.
 */
function discardingStore(): Store {
  const answer = (name: string) => (name.startsWith('list') ? [] : name.startsWith('count') ? 0 : name.startsWith('insertNotification') ? true : null);
  const tx = new Proxy({}, { get: (_t, name) => async () => answer(String(name)) }) as StoreTransaction;
  return new Proxy({ name: 'discarding', transaction: (fn: (t: StoreTransaction) => Promise<unknown>) => fn(tx) } as unknown as Store, {
    get: (target, name) => (name in target ? (target as unknown as Record<string | symbol, unknown>)[name] : async () => answer(String(name))),
  });
}

export interface MemoryResult {
  notifications: number;
  rss_mb_at_20k: number;
  rss_mb_at_end: number;
  heap_mb_at_20k: number;
  heap_mb_at_end: number;
  rss_growth_pct: number;
}

export async function runMemoryBench(total = 100_000): Promise<MemoryResult> {
  const signer = await benchSigner();
  const bodies = await signedBodies(signer, 1000);
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [signer.rootCertificate] },
    store: discardingStore(),
    logger: { debug() {}, info() {}, warn() {}, error: (o: unknown, m?: string) => console.error(m, o) },
  });
  let events = 0;
  hooks.bus.subscribe(() => {
    events++;
  });
  const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  let at20k = { rss: 0, heap: 0 };
  for (let i = 0; i < total; i++) {
    const { response } = await hooks.handle('apple', { headers: {}, rawBody: bodies[i % bodies.length]! });
    if (response.status !== 200) throw new Error(`unexpected ${response.status}: ${response.body}`);
    if (i + 1 === 20_000) {
      global.gc?.();
      at20k = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
    }
  }
  global.gc?.();
  const end = process.memoryUsage();
  if (events < total) throw new Error('events missing');
  return {
    notifications: total,
    rss_mb_at_20k: mb(at20k.rss),
    rss_mb_at_end: mb(end.rss),
    heap_mb_at_20k: mb(at20k.heap),
    heap_mb_at_end: mb(end.heapUsed),
    rss_growth_pct: Math.round(((end.rss - at20k.rss) / at20k.rss) * 1000) / 10,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runMemoryBench(Number(process.env.TOTAL ?? 100_000)));
}
