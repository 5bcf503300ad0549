import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { connectLookup, isPrivateAddress, systemResolver, TargetRefusedError, type HostResolver } from './ssrf.js';

/** What a webhook POST came back with: the status, `retry-after`, and the start of the body (for `last_error`). */
export interface PostResult {
  status: number;
  retryAfter: string | null;
  text: string;
}

/**
 * POSTs webhook bodies over node:http(s) with keep-alive connections per origin. Written on the core
 * modules rather than `fetch` because the delivery worker is a tight loop of small POSTs: measured, a
 * POST through `fetch` (undici + web streams + an AbortSignal per request) cost about three times the
 * CPU of the same POST here, and the worker's throughput is bounded by exactly that CPU. Redirects are
 * not followed (a 3xx is a failed attempt); the body of every answer is read to the end so the
 * connection can be reused, keeping only the first `keepChars` characters.
 *
 * SSRF: with `check` on, `http:` targets are refused, an IP-literal host must be public, and a host
 * name is resolved by `resolve` at connect time with every address checked; the socket connects to a
 * checked address (see {@link connectLookup}). A refusal rejects with {@link TargetRefusedError}.
 */
export function createWebhookPoster(keepChars: number, ssrf: { check: boolean; resolve?: HostResolver } = { check: false }) {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const lookup = connectLookup(ssrf.resolve ?? systemResolver, ssrf.check);
  return {
    post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<PostResult> {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      if (ssrf.check) {
        if (!secure) return Promise.reject(new TargetRefusedError('refused: http: sends events and signatures in clear text (allowPrivateUrls is off)'));
        const host = target.hostname.replace(/^\[|\]$/g, '');
        if (isIP(host) && isPrivateAddress(host)) return Promise.reject(new TargetRefusedError(`refused: ${host} is a private or reserved address`));
      }
      const send = secure ? httpsRequest : httpRequest;
      return new Promise<PostResult>((resolve, reject) => {
        const req = send(
          target,
          {
            method: 'POST',
            agent: secure ? agents.https : agents.http,
            lookup,
            signal,
            headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          },
          (res: IncomingMessage) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              if (text.length < keepChars) text += chunk.slice(0, keepChars - text.length);
            });
            res.on('end', () => {
              const retryAfter = res.headers['retry-after'];
              resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, text });
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    /** Closes idle keep-alive connections (the worker stopped). */
    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
