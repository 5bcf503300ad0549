import { createSubscriptionWebhooks, type Store, type StoreTransaction } from '../src/index.js';
import { freshPostgres, postgresServer } from './lib/databases.js';
import { APP_APPLE_ID, benchSigner, BUNDLE_ID, signedBodies } from './lib/fixtures.js';
const s = await postgresServer();
const db = await freshPostgres(s.url, 10, process.env.STORE === 'pg' ? 'pg' : 'prisma');
const stats = new Map<string, { n: number; ms: number }>();
const wrapTx = (tx: StoreTransaction) =>
  new Proxy(tx, {
    get(t, k) {
      const f = (t as any)[k];
      if (typeof f !== 'function') return f;
      return async (...a: unknown[]) => {
        const t0 = performance.now();
        try {
          return await f.apply(t, a);
        } finally {
          const e = stats.get(String(k)) ?? { n: 0, ms: 0 };
          e.n++;
          e.ms += performance.now() - t0;
          stats.set(String(k), e);
        }
      };
    },
  });
const store: Store = new Proxy(db.store, {
  get(t, k) {
    if (k === 'transaction')
      return (fn: any) => {
        const t0 = performance.now();
        return t
          .transaction((tx) => fn(wrapTx(tx)))
          .finally(() => {
            const e = stats.get('(transaction total)') ?? { n: 0, ms: 0 };
            e.n++;
            e.ms += performance.now() - t0;
            stats.set('(transaction total)', e);
          });
      };
    return (t as any)[k];
  },
});
const signer = await benchSigner();
const bodies = await signedBodies(signer, 400);
const hooks = createSubscriptionWebhooks({
  apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [signer.rootCertificate] },
  store,
  logger: { debug() {}, info() {}, warn() {}, error: console.error },
});
await hooks.webhookEndpoints.create({ url: 'http://127.0.0.1:9/x', enabled_events: ['*'] });
for (const b of bodies.slice(0, 100)) await hooks.handle('apple', { headers: {}, rawBody: b });
stats.clear();
const c0 = process.cpuUsage();
const t0 = performance.now();
for (const b of bodies.slice(100)) await hooks.handle('apple', { headers: {}, rawBody: b });
const n = 300;
const cpu = process.cpuUsage(c0);
console.log('per notification:', ((performance.now() - t0) / n).toFixed(2), 'ms wall,', ((cpu.user + cpu.system) / 1000 / n).toFixed(2), 'ms cpu');
for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) console.log(k.padEnd(24), (v.n / n).toFixed(1), 'calls', (v.ms / n).toFixed(2), 'ms');
await db.close();
await s.stop();
