import type { IncomingMessage } from 'node:http';
import { SubscriptionWebhooksError } from './errors.js';

/** Default cap on the time to receive a whole body: a slow-loris client gets 408 instead of holding a socket. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** Where a framework may have left the body: Express's `req.body`, Koa's `ctx.request.body` / `rawBody`. */
export interface ParsedBody {
  body?: unknown;
  rawBody?: unknown;
}

/** Limits and wording of {@link readNodeBody}. */
export interface NodeBodyOptions {
  /** Largest body accepted, in bytes (413 `BODY_TOO_LARGE` beyond). */
  maxBytes: number;
  /** Longest wait for the whole body, in ms (408 `BODY_TIMEOUT` beyond). */
  timeoutMs: number;
  /** How to fix `BODY_NOT_RAW` in this framework (goes into the error message). */
  fix: string;
}

/**
 * Reads a Node request's exact bytes, capped at `maxBytes` (413 `BODY_TOO_LARGE`) and `timeoutMs` (408
 * `BODY_TIMEOUT`). A body a parser kept as a Buffer or string is the raw body and is used as is; a
 * consumed stream means the raw bytes are gone, which `BODY_NOT_RAW` reports with the fix. On an error
 * the stream is paused, not destroyed: the 408/413 can still be written on the socket (answer it with
 * `connection: close`, the rest of the body is never read). What every Node adapter and the
 * `subscription-webhooks/callback` wrappers read bodies with.
 *
 * @throws SubscriptionWebhooksError (rejects) `BODY_TOO_LARGE`, `BODY_TIMEOUT`, `BODY_NOT_RAW`, `BODY_INVALID` (client aborted)
 */
export function readNodeBody(req: IncomingMessage, parsed: ParsedBody, options: NodeBodyOptions): Promise<string | Uint8Array> {
  for (const v of [parsed.rawBody, parsed.body]) if (typeof v === 'string' || v instanceof Uint8Array) return Promise.resolve(v);
  // body-parser marks a body it consumed with `_body`; a stream that already ended has nothing left to read.
  if ((req as { _body?: unknown })._body === true || req.readableEnded) {
    return Promise.reject(new SubscriptionWebhooksError('BODY_NOT_RAW', `The request body was already consumed by a body parser. ${options.fix}`));
  }
  const { maxBytes } = options;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done).off('aborted', onAborted);
      // Stop reading but keep the socket: the answer (408/413) still has to be written on it.
      if (err) req.pause();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(tooLarge(maxBytes));
      else chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onAborted = () => done(new SubscriptionWebhooksError('BODY_INVALID', 'The client aborted the request'));
    const timer = setTimeout(() => done(new SubscriptionWebhooksError('BODY_TIMEOUT', `Body not received within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', done).on('aborted', onAborted);
  });
}

const tooLarge = (maxBytes: number) => new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
