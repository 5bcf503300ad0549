/** Shared pieces of the reliability tests (test/reliability/): a retrying "provider" and bounded waits. */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { DomainEvent, Store } from '../../src/index.js';

export const APPLE_PATH = '/api/users/app-store-notifications';

/** One delivery attempt as the provider sees it: status 0 when the connection failed (refused, reset by a crash). */
export interface ProviderResult {
  status: number;
  code?: string;
  duplicate?: boolean;
}

/** POSTs an Apple notification over real HTTP; never throws (a dead process is status 0, as Apple would see it). */
export async function postApple(baseUrl: string, signedPayload: string): Promise<ProviderResult> {
  try {
    const res = await fetch(baseUrl + APPLE_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signedPayload }) });
    const text = await res.text();
    // Apple's answer shape: { code: <status>, message, data: { duplicate? } | { processed: false, error: <stable code> } }
    let body: { data?: { duplicate?: unknown; error?: unknown } } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON: keep the status only
    }
    return {
      status: res.status,
      ...(typeof body.data?.error === 'string' ? { code: body.data.error } : {}),
      ...(body.data?.duplicate === true ? { duplicate: true } : {}),
    };
  } catch {
    return { status: 0 };
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Polls `check` every 100 ms until it is true or `ms` passed; returns whether it became true (the caller asserts). */
export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

/** Events keyed by id, as comparable JSON (the same notification always yields byte-identical events). */
export function byId(events: readonly DomainEvent[]): Map<string, string> {
  return new Map(events.map((e) => [e.id, JSON.stringify(e)]));
}

/** Fisher-Yates with a seeded LCG: a reproducible shuffle. */
export function shuffle<T>(items: T[], seed = 1): T[] {
  let s = seed >>> 0 || 1;
  for (let i = items.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Receipts at a webhook receiver, checked against the events that should have been delivered. */
export function deliveryReport(received: readonly { id: string; body: string; status: number }[], expectedIds: readonly string[]) {
  const ok = received.filter((r) => r.status >= 200 && r.status < 300);
  const bodies = new Map<string, Set<string>>();
  for (const r of ok) bodies.set(r.id, (bodies.get(r.id) ?? new Set()).add(r.body));
  const expected = new Set(expectedIds);
  return {
    /** Expected events no receiver ever acknowledged. */
    missing: expectedIds.filter((id) => !bodies.has(id)),
    /** Acknowledged ids that are not expected events. */
    unexpected: [...bodies.keys()].filter((id) => !expected.has(id)),
    /** Ids acknowledged more than once (at-least-once after a crash). */
    repeated: [...bodies.keys()].filter((id) => ok.filter((r) => r.id === id).length > 1),
    /** Ids whose repeated copies differ in body: must never happen (a redelivery is the same message). */
    inconsistent: [...bodies.entries()].filter(([, b]) => b.size > 1).map(([id]) => id),
  };
}

/**
 * After a burst and its replays: exactly `count` inbox rows, the events byte-identical to the
 * single-process `reference` (none twice), and one active contract per notification.
 */
export async function expectCompleteAndExact(store: Store, reference: Map<string, string>, count: number): Promise<void> {
  expect(await store.countNotifications('apple')).toBe(count);
  const events = await store.listEvents();
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  const got = byId(events);
  expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
  for (const [id, json] of reference) expect(got.get(id), id).toBe(json);
  const subs = await store.listSubscriptions();
  expect(subs).toHaveLength(count);
  expect(subs.every((s) => s.status === 'active')).toBe(true);
}

/** Waits (bounded) until every expected event reached the receiver; none missing, none unexpected, repeats identical. */
export async function expectAllDelivered(received: readonly { id: string; body: string; status: number }[], ids: readonly string[], ms: number) {
  await waitUntil(() => deliveryReport(received, ids).missing.length === 0, ms);
  const report = deliveryReport(received, ids);
  expect(report.missing).toEqual([]);
  expect(report.unexpected).toEqual([]);
  expect(report.inconsistent).toEqual([]);
  return report;
}
