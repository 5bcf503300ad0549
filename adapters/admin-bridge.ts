import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_FORM_BYTES = 16 * 1024;

/**
 * A Node request as the Web `Request` the admin dashboard handles. A body a parser already read
 * (`parsed`, e.g. express.urlencoded's `req.body`) is sent on as a form.
 */
export async function nodeToWebRequest(req: IncomingMessage, url: string, parsed?: unknown): Promise<Request> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return new Request(url, { method, headers });
  let body: string;
  if (req.readableEnded && parsed && typeof parsed === 'object') {
    body = new URLSearchParams(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, String(v)])).toString();
    headers.set('content-type', 'application/x-www-form-urlencoded');
  } else {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      chunks.push(chunk as Buffer);
      // Past the limit: stop reading; the dashboard refuses what it got as too large (never a truncated form).
      if (size > MAX_FORM_BYTES) break;
    }
    body = Buffer.concat(chunks).toString('utf8');
  }
  headers.delete('content-length');
  return new Request(url, { method, headers, body });
}

/** Writes a Web `Response` to a Node response. */
export async function writeWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((v, k) => res.setHeader(k, v));
  res.end(Buffer.from(await response.arrayBuffer()));
}
