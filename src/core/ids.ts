import { createHash, randomUUID } from 'node:crypto';

function digest(input: string): Buffer {
  return createHash('sha256').update(input).digest();
}

/**
 * Event ids are derived from (provider, notification id, position) so that a redelivered or
 * replayed notification can only ever produce the same ids, which the outbox's primary key dedups.
 */
export function eventId(provider: string, notificationId: string, position: number): string {
  return `evt_${digest(`${provider}\u0000${notificationId}\u0000${position}`).toString('base64url').slice(0, 24)}`;
}

/** A stable id for a record keyed by a natural key (e.g. `sub_` + provider + contract id). */
export function stableId(prefix: string, ...parts: string[]): string {
  return `${prefix}_${digest(parts.join('\u0000')).toString('base64url').slice(0, 24)}`;
}

/** A UUID (RFC 4122 layout, version 5-style) derived from a name, so replays produce the same value. */
export function nameUuid(name: string): string {
  const b = digest(name).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A random id with a type prefix, e.g. `ord_…`. */
export function randomId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

export { randomUUID };
