import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

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

/**
 * A TCP port on 127.0.0.1 that refuses connections and that no other test can start listening on meanwhile:
 * a privileged port (below 1024, never handed out by `listen(0)`, which every test server and test PostgreSQL
 * uses), checked to refuse. Closing a test server and reusing its port is racy: the OS may hand the port to
 * another test file's server running in parallel.
 */
export async function refusedPort(): Promise<number> {
  for (let port = 1; port < 1024; port++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(false)));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('no port below 1024 refuses connections on 127.0.0.1');
}
