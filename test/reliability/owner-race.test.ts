/**
 * an ownerless purchase (no appAccountToken) posted at once by an anonymous client and two
 * signed-in users, with Apple's notification for it: exactly one user ends up owning it, that user (and
 * only that user) was answered with its own userId, the other signed-in user got 409, nobody got a 5xx.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { loopbackServers, postJson } from '../helpers/loopback.js';

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 10);
const { listen, closeAll } = loopbackServers();
afterAll(closeAll);

for (const [name, make] of EVERY_STORE.filter(([n]) => n === 'memory' || n.includes('PostgreSQL'))) {
  describe(`ownerless purchase posted by many at once (${name})`, { timeout: 300_000 }, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });
    for (const second of [false, true]) {
      it(`${ROUNDS} rounds: anonymous + user A + user B + Apple's notification${second ? ', posting the renewal (a second transaction) for B' : ''}`, async () => {
        const db = await make();
        open.push(db);
        const h = await appleHarness({ store: db.store, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
        const base = await listen(h.app);
        // The anonymous client: the same hooks mounted without getUserId (a route that does not sign users in).
        const anonApp = express();
        anonApp.use(subscriptionWebhooks(h.hooks));
        const anonBase = await listen(anonApp);
        const problems: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const c = h.contract();
          const t1 = c.transaction();
          const t2 = c.transaction();
          const note = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t1, renewalInfo: c.renewal() });
          const j1 = await h.signer.signTransaction(t1 as never);
          const j2 = second ? await h.signer.signTransaction(t2 as never) : j1;
          const [n, anon, a, b] = await Promise.all([
            postJson(base + h.hooks.routes.apple, { signedPayload: note }),
            postJson(anonBase + h.hooks.routes.appleTransactions, { signedTransaction: j1 }),
            postJson(base + h.hooks.routes.appleTransactions, { signedTransaction: j1 }, { 'x-user-id': `a${round}` }),
            postJson(base + h.hooks.routes.appleTransactions, { signedTransaction: j2 }, { 'x-user-id': `b${round}` }),
          ]);
          const owner = (await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id ?? null;
          const statuses = [n.status, anon.status, a.status, b.status];
          if (statuses.some((s) => s >= 500) || n.status !== 200 || anon.status !== 200) problems.push(`round ${round}: statuses ${statuses.join(',')}`);
          if (anon.data.userId !== null) problems.push(`round ${round}: anonymous told userId ${String(anon.data.userId)}`);
          const winners = [a, b].filter((r) => r.status === 200);
          const losers = [a, b].filter((r) => r.status === 409);
          if (winners.length !== 1 || losers.length !== 1)
            problems.push(
              `round ${round}: A ${a.status} (told ${String(a.data.userId)}) B ${b.status} (told ${String(b.data.userId)}), owner ${String(owner)}`,
            );
          else if (winners[0]!.data.userId !== owner)
            problems.push(`round ${round}: winner told ${String(winners[0]!.data.userId)}, owner is ${String(owner)}`);
          const paid = (await h.store.listEvents()).filter(
            (e) => e.type === 'order.paid' && (e.data.object as { trade_no: string }).trade_no === t1.transactionId,
          ).length;
          if (paid !== 1) problems.push(`round ${round}: ${paid} order.paid`);
        }
        expect(problems).toEqual([]);
      });
    }
  });
}
