import { SubscriptionWebhooksError, type HandlerResponse } from '../src/index.js';

/**
 * Reads a Web `Request`'s exact bytes, capped at `maxBytes` (413 `BODY_TOO_LARGE`) and `timeoutMs`
 * (408 `BODY_TIMEOUT`). A body already read means the raw bytes are gone: `BODY_NOT_RAW`.
 */
export async function readWebBody(request: Request, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  if (request.bodyUsed)
    throw new SubscriptionWebhooksError(
      'BODY_NOT_RAW',
      'The Request body was already read (request.json(), formData()...). Pass the untouched Request, or a request.clone() made before reading it.',
    );
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SubscriptionWebhooksError('BODY_TIMEOUT', `Body not received within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (err) {
    void reader.cancel().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const body = new Uint8Array(size);
  chunks.reduce((offset, c) => (body.set(c, offset), offset + c.byteLength), 0);
  return body;
}

/** The core's answer as a Web `Response`. */
export function toWebResponse(r: HandlerResponse): Response {
  return new Response(r.body, { status: r.status, headers: r.headers });
}
