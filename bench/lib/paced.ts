import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** What one load run measured. */
export interface LoadResult {
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  /** Paced runs only: requests not sent because {@link MAX_IN_FLIGHT} were already waiting (the server is past capacity). */
  shed?: number;
}

/**
 * At most this many requests wait for an answer; beyond it the generator sheds (and counts) rather than
 * queue without bound, like a provider with a bounded retry queue. Past capacity the latency then reads
 * as this queue drained at the server's rate (about MAX_IN_FLIGHT / capacity), not as the run's length.
 */
export const MAX_IN_FLIGHT = 128;

/**
 * Open-loop load at a fixed offered rate: request i leaves at t0 + i/rate whether or not earlier ones
 * were answered, on as many keep-alive connections as that needs, and its latency counts from that
 * scheduled moment (a stalled server cannot hide behind a stalled generator). Written here because
 * autocannon's `overallRate` is a per-connection budget per second: each connection sends its share
 * back to back at the start of every second, so "100/s" arrives as bursts of 100, and its latency
 * correction then assumes 1 ms between requests. autocannon still measures saturation (closed loop).
 */
export async function paced(url: string, bodies: string[], o: { rate: number; seconds: number }): Promise<LoadResult> {
  const total = Math.round(o.rate * o.seconds);
  if (total > bodies.length) throw new Error(`${total} requests for ${bodies.length} bodies: enlarge the pool`);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const target = new URL(url);
  const latencies: number[] = [];
  let non2xx = 0;
  let shed = 0;
  const inFlight = new Set<Promise<void>>();
  const one = (body: string, due: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        non2xx++;
        resolve();
      });
      req.end(body);
    });
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * o.rate) / 1000) + 1);
    for (; sent < due; sent++) {
      if (inFlight.size >= MAX_IN_FLIGHT) {
        shed++;
        continue;
      }
      const p = one(bodies[sent]!, t0 + (sent * 1000) / o.rate);
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN);
  return { req_per_s: Math.round((latencies.length / elapsed) * 10) / 10, p50_ms: at(50), p99_ms: at(99), non2xx, shed };
}
