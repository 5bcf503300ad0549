import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Real HTTP servers on 127.0.0.1 for a test file: `listen(app)` gives the base URL; `closeAll()` in `afterAll`. */
export function loopbackServers() {
  const servers: Server[] = [];
  return {
    async listen(app: Parameters<typeof createServer>[1]): Promise<string> {
      const server = createServer(app);
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    closeAll: () => Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r)))),
  };
}

/** POST a JSON body (a string is sent as is) over real HTTP; the answer's status, text, parsed body (or `{}`) and its `data`. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : {}) as { data?: Record<string, unknown> };
  return { status: res.status, text, body: parsed, data: parsed.data ?? {} };
}
