import type { DomainEvent } from '../events/types.js';
import type { InboxRecord, StoreTransaction } from '../store/types.js';
import type { CoreContext } from './types.js';

/** What a provider's apply step returns: the events to append, plus anything the route answers with. */
export interface Applied {
  events: DomainEvent[];
}

/** The outcome of {@link commitNotification}. */
export type CommitOutcome<A extends Applied> = { duplicate: true } | ({ duplicate: false } & A);

/**
 * The one path every provider notification takes: in one store transaction, insert the inbox row
 * (a duplicate stops here), apply the state change, append the events to the outbox; after the
 * commit, publish the events on the bus. Nothing is acknowledged before this resolves.
 */
export async function commitNotification<A extends Applied>(
  ctx: CoreContext,
  inbox: InboxRecord,
  apply: (tx: StoreTransaction) => Promise<A>,
): Promise<CommitOutcome<A>> {
  const outcome = await ctx.store.transaction(async (tx): Promise<CommitOutcome<A>> => {
    if (!(await tx.insertNotification(inbox))) return { duplicate: true };
    const applied = await apply(tx);
    await tx.insertEvents(applied.events);
    return { duplicate: false, ...applied };
  });
  if (!outcome.duplicate) await ctx.bus.publish(outcome.events);
  return outcome;
}
