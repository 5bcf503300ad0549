import type { ServerResponse } from 'node:http';
import type { HandlerResponse } from '../src/index.js';

/** Writes the core's answer to a Node response. */
export function writeNodeResponse(res: ServerResponse, response: HandlerResponse): void {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.end(response.body ?? undefined);
}
