// the Play Developer API's per-request timeout must not include the OAuth token exchange
// (before the shared retry loop, AbortSignal.timeout(timeoutMs) was created right at the API fetch).
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createGooglePlayApi } from '../../../src/providers/google/api.js';

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const delay = (ms: number, signal?: AbortSignal | null) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

describe('Play Developer API: the per-request timeout', () => {
  it('a 300 ms token exchange plus a 250 ms API answer, timeoutMs 400, no retries: succeeds (each request within its timeout)', async () => {
    const seen: string[] = [];
    const fetch = (async (url: string, init: RequestInit) => {
      seen.push(String(url));
      if (String(url).endsWith('/token')) {
        await delay(300, init.signal);
        return new Response(JSON.stringify({ access_token: 'tok', expires_in: 3600 }), { status: 200 });
      }
      await delay(250, init.signal);
      return new Response('{}', { status: 200 });
    }) as unknown as typeof globalThis.fetch;
    const api = createGooglePlayApi({
      packageName: 'com.example.app',
      clientEmail: 'sa@example.iam.gserviceaccount.com',
      privateKey,
      tokenUrl: 'http://127.0.0.1:9/token',
      baseUrl: 'http://127.0.0.1:9',
      timeoutMs: 400,
      maxRetries: 0,
      fetch,
    });
    let error: unknown;
    await api.acknowledgeSubscription('pro', 'purchase-token').catch((e: unknown) => (error = e));
    expect(seen.length).toBe(2);
    expect(error).toBeUndefined();
  });
});
