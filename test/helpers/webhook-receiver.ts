import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/** Decides the answer to the n-th request (0-based, across all ids) or to a given request. */
export type Behaviour = (req: { id: string; body: string; n: number; perId: number }) => { status: number; headers?: Record<string, string> };

/**
 * A real HTTP receiver on 127.0.0.1 that records every webhook and answers per `behaviour`.
 * `stop()` closes it (connections refused from then on); `start()` listens again on the same port.
 */
export async function webhookReceiver(behaviour: Behaviour = () => ({ status: 200 })) {
  const received: ReceivedWebhook[] = [];
  const perId = new Map<string, number>();
  let server: Server | null = null;
  let port = 0;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      const k = perId.get(id) ?? 0;
      perId.set(id, k + 1);
      const answer = behaviour({ id, body, n: received.length, perId: k });
      received.push({
        id,
        timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        signature: String(req.headers['webhook-signature'] ?? ''),
        body,
        status: answer.status,
      });
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.status < 300 ? 'ok' : 'nope');
    });
  };
  async function start(): Promise<void> {
    const s = createServer(onRequest);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  }
  async function stop(): Promise<void> {
    const s = server;
    server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await start();
  return {
    get url() {
      return `http://127.0.0.1:${port}/hooks`;
    },
    received,
    /** Ids answered 2xx, one entry per successful request. */
    accepted: () => received.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.id),
    start,
    stop,
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof webhookReceiver>>;
