/**
 * SSRF at connect time: every resolved address is checked and the socket connects to a checked one,
 * so a rebinding DNS answer cannot reach a private address; every address form of the blocklist is
 * refused; and private or http: targets are refused unless allowed (NODE_ENV unset counts as production).
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkEndpointUrl } from '../../src/delivery/endpoints.js';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { isPrivateAddress } from '../../src/delivery/ssrf.js';
import { createSubscriptionWebhooks, memoryStore, type SubscriptionWebhooksConfig } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const PUBLIC = '93.184.215.14';
const REFUSED = [
  // IPv4: loopback, private, link-local, CGNAT, this-network, IETF, documentation, 6to4 relay, benchmarking, multicast, reserved, broadcast
  '127.0.0.1',
  '127.255.255.254',
  '10.0.0.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.1.1',
  '169.254.169.254',
  '100.64.0.1',
  '0.0.0.0',
  '192.0.0.8',
  '192.0.2.1',
  '198.51.100.7',
  '203.0.113.9',
  '192.88.99.1',
  '198.18.0.1',
  '198.19.255.255',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '255.255.255.255',
  // IPv6: unspecified, loopback, IPv4-compatible, IPv4-mapped (both spellings), SIIT, NAT64 well-known and local-use, 6to4, Teredo,
  // documentation, benchmarking, ULA, link-local (with zone), site-local, multicast, discard
  '::',
  '::1',
  '::7f00:1',
  '::127.0.0.1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:a9fe:a9fe',
  '::ffff:0:7f00:1',
  '64:ff9b::7f00:1',
  '64:ff9b::10.0.0.1',
  '64:ff9b:1::808:808',
  '2002:7f00:1::',
  '2002:a00:1::1',
  '2002:c0a8:101::1',
  '2001::1',
  '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  '2001:db8::1',
  '3fff::1',
  '2001:2::1',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  'fe80::1%eth0',
  'fec0::1',
  'ff02::1',
  '100::1',
];
const ALLOWED = ['8.8.8.8', PUBLIC, '1.1.1.1', '2606:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A resolver that answers `first` for a host's first lookup (the registration check) and `later` afterwards (the connection). */
function rebindingResolver(answers: Record<string, { first: string[]; later: string[] }>) {
  const calls = new Map<string, number>();
  return async (hostname: string) => {
    const n = calls.get(hostname) ?? 0;
    calls.set(hostname, n + 1);
    const a = answers[hostname];
    if (!a) throw Object.assign(new Error(`unknown host ${hostname}`), { code: 'ENOTFOUND' });
    return (n === 0 ? a.first : a.later).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

/** A TCP listener on 127.0.0.1 that counts connections (and closes them). */
async function countingListener() {
  const sockets: Socket[] = [];
  const server = createTcpServer((s) => {
    sockets.push(s);
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, sockets, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function hooksWith(config: Partial<SubscriptionWebhooksConfig>) {
  const store = memoryStore();
  const hooks = createSubscriptionWebhooks({
    store,
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    logger: quiet,
    ...config,
    delivery: { timeoutMs: 5000, ...config.delivery },
  });
  async function commitOne(tag: string) {
    const event = sampleEvent(tag, 1);
    await store.transaction(async (tx) => {
      await tx.insertEvents([event]);
      await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
    });
    return event;
  }
  return { store, hooks, commitOne };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('SSRF: the blocklist', () => {
  it('refuses every address form (IPv4, IPv6, IPv4-mapped, SIIT, NAT64, 6to4, Teredo, ::7f00:1-style, documentation, benchmarking) and allows public ones', async () => {
    expect(REFUSED.filter((a) => !isPrivateAddress(a))).toEqual([]);
    expect(ALLOWED.filter((a) => isPrivateAddress(a))).toEqual([]);
    // The same at registration, for literal hosts.
    for (const a of REFUSED.filter((x) => !x.includes('%'))) {
      const host = a.includes(':') ? `[${a}]` : a;
      await expect(checkEndpointUrl(`https://${host}/cb`, false, true)).rejects.toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED' });
    }
  });
});

describe('SSRF at connect time', () => {
  it('a resolver that answers public at registration, then loopback: the connection is refused by our check and the reason recorded', async () => {
    const listener = await countingListener();
    try {
      const dnsLookup = rebindingResolver({
        'rebind.test': { first: [PUBLIC], later: ['127.0.0.1'] },
        'mixed.test': { first: [PUBLIC], later: [PUBLIC, '127.0.0.1'] },
      });
      const { hooks, commitOne } = hooksWith({ allowPrivateUrls: false, dnsLookup });
      const rebind = await hooks.webhookEndpoints.create({ url: `https://rebind.test:${listener.port}/hook`, enabled_events: ['*'] });
      const mixed = await hooks.webhookEndpoints.create({ url: `https://mixed.test:${listener.port}/hook`, enabled_events: ['*'] });
      await commitOne('rebind');
      expect(await hooks.delivery.runOnce()).toMatchObject({ attempted: 2, delivered: 0, retrying: 2 });
      const rows = Object.fromEntries((await hooks.delivery.list()).map((d) => [d.endpoint_id, [d.status, d.last_status, d.last_error]]));
      expect(rows).toEqual({
        [rebind.id]: ['pending', null, 'refused: rebind.test resolved to 127.0.0.1, a private or reserved address'],
        [mixed.id]: ['pending', null, 'refused: mixed.test resolved to 127.0.0.1, a private or reserved address'],
      });
      expect(listener.sockets).toHaveLength(0);
      await hooks.delivery.stop();

      // Control: the same resolver with private targets allowed does connect to 127.0.0.1 (the check is what stopped it).
      const allowed = hooksWith({ allowPrivateUrls: true, dnsLookup: rebindingResolver({ 'rebind.test': { first: ['127.0.0.1'], later: ['127.0.0.1'] } }) });
      await allowed.hooks.webhookEndpoints.create({ url: `https://rebind.test:${listener.port}/hook`, enabled_events: ['*'] });
      await allowed.commitOne('control');
      await allowed.hooks.delivery.runOnce();
      expect(listener.sockets).toHaveLength(1);
      await allowed.hooks.delivery.stop();
    } finally {
      await listener.close();
    }
  });

  it('every refused address form, answered by DNS at delivery time, is refused before connecting', async () => {
    const answers: Record<string, { first: string[]; later: string[] }> = {};
    REFUSED.forEach((a, i) => (answers[`h${i}.test`] = { first: [PUBLIC], later: [a] }));
    const { hooks, commitOne } = hooksWith({ allowPrivateUrls: false, dnsLookup: rebindingResolver(answers), delivery: { endpointConcurrency: 4 } });
    const ids = new Map<string, string>();
    for (const [i, a] of REFUSED.entries()) ids.set((await hooks.webhookEndpoints.create({ url: `https://h${i}.test/hook`, enabled_events: ['*'] })).id, a);
    await commitOne('forms');
    expect(await hooks.delivery.runOnce()).toMatchObject({ attempted: REFUSED.length, delivered: 0 });
    for (const d of await hooks.delivery.list({ limit: 1000 })) {
      const address = ids.get(d.endpoint_id)!;
      expect(d.last_error).toBe(`refused: h${REFUSED.indexOf(address)}.test resolved to ${address}, a private or reserved address`);
    }
    await hooks.delivery.stop();
  });
});

describe('SSRF: fail closed', () => {
  it('NODE_ENV unset refuses private and http: targets, at registration and at delivery; development, test or allowPrivateUrls allow them', async () => {
    const receiver = await webhookReceiver();
    try {
      // Registered while allowed (NODE_ENV=test), then the process runs with NODE_ENV unset.
      const store = memoryStore();
      const before = createSubscriptionWebhooks({ store, apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
      const registered = await before.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });

      vi.stubEnv('NODE_ENV', undefined);
      expect(process.env.NODE_ENV).toBeUndefined();
      const hooks = createSubscriptionWebhooks({ store, apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
      for (const url of [receiver.url, 'https://127.0.0.1/cb', 'https://[::ffff:7f00:1]/cb', 'https://169.254.169.254/latest']) {
        await expect(hooks.webhookEndpoints.create({ url, enabled_events: ['*'] })).rejects.toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED', status: 400 });
      }
      const event = sampleEvent('unset', 1);
      await store.transaction(async (tx) => {
        await tx.insertEvents([event]);
        await enqueueDeliveries(tx, [event], [], { now: new Date().toISOString(), notifier: false });
      });
      expect(await hooks.delivery.runOnce()).toMatchObject({ attempted: 1, retrying: 1 });
      expect(receiver.received).toHaveLength(0);
      expect((await hooks.delivery.list({ endpointId: registered.id }))[0]?.last_error).toBe(
        'refused: http: sends events and signatures in clear text (allowPrivateUrls is off)',
      );
      await hooks.delivery.stop();

      // NODE_ENV=production with allowPrivateUrls: true delivers.
      vi.stubEnv('NODE_ENV', 'production');
      const allowed = createSubscriptionWebhooks({
        store,
        apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
        logger: quiet,
        allowPrivateUrls: true,
        delivery: { now: () => Date.now() + 10_000 },
      });
      await allowed.delivery.runOnce();
      expect(receiver.accepted()).toEqual([event.id]);
      await allowed.delivery.stop();

      for (const env of ['development', 'test']) {
        vi.stubEnv('NODE_ENV', env);
        const dev = createSubscriptionWebhooks({ store: memoryStore(), apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, logger: quiet });
        await expect(dev.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] })).resolves.toMatchObject({ status: 'enabled' });
      }
      // An explicit false wins over NODE_ENV=test.
      vi.stubEnv('NODE_ENV', 'test');
      const strict = createSubscriptionWebhooks({
        store: memoryStore(),
        apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
        logger: quiet,
        allowPrivateUrls: false,
      });
      await expect(strict.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] })).rejects.toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED' });
    } finally {
      await receiver.stop();
    }
  });
});
