/**
 * Polls `done()` every `intervalMs` until it is true. After `timeoutMs` throws "`what` did not happen within N s",
 * followed by `detail()` (say what is missing: the ids not seen, the events counted), so a failure explains itself
 * instead of ending in the test's timeout.
 */
export async function waitUntil(
  what: string,
  done: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 20, detail }: { timeoutMs?: number; intervalMs?: number; detail?: () => string | Promise<string> } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s${detail ? `: ${await detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `ids` not in `seen`, as "N missing: a, b, c … (first 20)". */
export function missing(ids: Iterable<string>, seen: ReadonlySet<string>, show = 20): string {
  const gone = [...ids].filter((id) => !seen.has(id));
  return `${gone.length} missing: ${gone.slice(0, show).join(', ')}${gone.length > show ? ' …' : ''}`;
}
