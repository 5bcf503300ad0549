import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Resolves a host name to every address it has (the system resolver by default). */
export type HostResolver = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/** `dns.lookup(host, { all: true })`: what a connection would use. */
export const systemResolver: HostResolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

// IPv4: this network, private, CGNAT, loopback, link-local (cloud metadata), IETF protocol assignments,
// documentation (TEST-NET-1/2/3), the 6to4 relay anycast, benchmarking, multicast, reserved and broadcast.
const v4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  v4.addSubnet(net, prefix, 'ipv4');
}

// IPv6 ranges refused outright. Ranges that embed an IPv4 address (IPv4-mapped, SIIT, NAT64
// 64:ff9b::/96, 6to4 2002::/16) are judged by that address instead, below.
const v6 = new BlockList();
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback, and the deprecated IPv4-compatible ::a.b.c.d (e.g. ::7f00:1)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['5f00::', 16], // SRv6 SIDs
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  v6.addSubnet(net, prefix, 'ipv6');
}

/** The 16 bytes of an IPv6 address (zone id ignored), or null when it is not one. */
function ipv6Bytes(address: string): number[] | null {
  let s = address.split('%')[0]!;
  if (isIP(s) !== 6) return null;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  let groups: string[];
  if (s.includes('::')) {
    const [head, tail] = s.split('::') as [string, string];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  } else groups = s.split(':');
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

const v4Of = (b: number[], at: number): string => b.slice(at, at + 4).join('.');
const zeros = (b: number[], from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0);

/**
 * True for addresses an internet-facing webhook must never reach: loopback, private, link-local,
 * CGNAT, documentation and benchmarking ranges, multicast, reserved; and IPv6 forms that carry one of
 * those (IPv4-mapped `::ffff:a.b.c.d`, SIIT, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), Teredo and the
 * deprecated IPv4-compatible `::a.b.c.d`. Anything that is not an IP address counts as private.
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address.split('%')[0]!);
  if (family === 4) return v4.check(address, 'ipv4');
  const b = ipv6Bytes(address);
  if (!b) return true;
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (SIIT)
  if (zeros(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return v4.check(v4Of(b, 12), 'ipv4');
  if (zeros(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(b, 10, 12)) return v4.check(v4Of(b, 12), 'ipv4');
  // 64:ff9b::a.b.c.d (NAT64, well-known prefix)
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(b, 4, 12)) return v4.check(v4Of(b, 12), 'ipv4');
  // 2002:AABB:CCDD::/48 (6to4) embeds a.b.c.d
  if (b[0] === 0x20 && b[1] === 0x02) return v4.check(v4Of(b, 2), 'ipv4');
  const canonical = b.reduce<string[]>((out, x, i) => (i % 2 ? out : [...out, ((x << 8) | b[i + 1]!).toString(16)]), []).join(':');
  return v6.check(canonical, 'ipv6');
}

/**
 * Whether webhook targets may be `http:` or private addresses: `allowPrivateUrls` when it is set,
 * else only when NODE_ENV is `development` or `test`. An unset NODE_ENV counts as production.
 */
export function privateTargetsAllowed(allowPrivateUrls: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (allowPrivateUrls !== undefined) return allowPrivateUrls;
  return env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
}

/** Why a connection was not made: the target is, or resolved to, an address we refuse. */
export class TargetRefusedError extends Error {
  readonly code = 'TARGET_NOT_ALLOWED';
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefusedError';
  }
}

/**
 * A `lookup` for node:net / node:http(s): resolves with `resolve`, and when `check` is on, fails the
 * connection unless every resolved address is public. The socket then connects to one of exactly the
 * addresses checked, so a DNS answer that changes between the check and the connection (rebinding)
 * cannot reach a private address.
 */
export function connectLookup(resolve: HostResolver, check: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = found.filter((a) => family === 0 || a.family === family);
        if (usable.length === 0) {
          callback(Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        const bad = check ? found.find((a) => isPrivateAddress(a.address)) : undefined;
        if (bad) {
          callback(new TargetRefusedError(`refused: ${hostname} resolved to ${bad.address}, a private or reserved address`), '', 0);
          return;
        }
        if (options.all)
          (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(
            null,
            usable.map((a) => ({ address: a.address, family: a.family })),
          );
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}
