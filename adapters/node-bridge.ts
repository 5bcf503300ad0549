import type { IncomingMessage, ServerResponse } from 'node:http';
import { SubscriptionWebhooksError, type HandlerResponse } from '../src/index.js';

/** A Node request some framework may have decorated with a parsed `body`. */
type MaybeParsed = IncomingMessage & { body?: unknown; rawBody?: unknown };


/**
 * Reads the exact request bytes, capped at `maxBytes` (413 `BODY_TOO_LARGE` past it).
 * A body a parser left as a Buffer or string is the raw body and is used as is; a parsed object
 * means the raw bytes are gone, which `BODY_NOT_RAW` reports with the fix.
 */
export async function readNodeBody(req: MaybeParsed, maxBytes: number): Promise<string | Uint8Array> {
  if (typeof req.rawBody === 'string' || req.rawBody instanceof Uint8Array) return req.rawBody;
  if (typeof req.body === 'string' || req.body instanceof Uint8Array) return req.body;
  // body-parser marks a body it consumed with `_body`; a stream that already ended has nothing left to read.
  if ((req as { _body?: unknown })._body === true || req.readableEnded) {
    throw new SubscriptionWebhooksError(
      'BODY_NOT_RAW',
      'The request body was already consumed by another middleware (e.g. express.json()). Mount subscriptionWebhooks() before it, or use express.raw({ type: "*/*" }) on these routes.',
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Writes the core's answer to a Node response. */
export function writeNodeResponse(res: ServerResponse, response: HandlerResponse): void {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.end(response.body ?? undefined);
}

/** The answer for an error raised before the core ran (body reading), in the Apple wire format. */
export function errorResponse(err: unknown): HandlerResponse {
  const e = err instanceof SubscriptionWebhooksError ? err : new SubscriptionWebhooksError('INTERNAL', 'Internal error', { cause: err });
  return {
    status: e.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...(e.status === 413 ? { connection: 'close' } : {}) },
    body: JSON.stringify({ code: e.status, message: e.code === 'INTERNAL' ? 'Internal error' : e.message, data: { processed: false, error: e.code } }),
  };
}
