/** The stored form of an Apple raw body: a third of the size, expanded byte for byte. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compactRawBody, expandRawBody } from '../../src/store/raw-body-codec.js';

const real = (name: string) => readFileSync(new URL(`../fixtures/apple-real/${name}`, import.meta.url), 'utf8').trim();

describe('raw body codec', () => {
  it('a real Apple notification body: the two nested copies of its certificate chain are stored once; expanded exactly', () => {
    for (const file of ['03-notification-SUBSCRIBED_RESUBSCRIBE.jws', '04-notification-DID_RENEW.jws', '07-notification-REFUND.jws']) {
      const raw = JSON.stringify({ signedPayload: real(file) });
      const stored = compactRawBody(raw)!;
      expect(stored.length / raw.length, file).toBeLessThan(0.4);
      expect(expandRawBody(stored)).toBe(raw);
    }
  });

  it('keeps as received: short bodies, other shapes, a payload that is not UTF-8 JSON, non-canonical base64url, null', () => {
    const jws = real('04-notification-DID_RENEW.jws');
    const [h, p, s] = jws.split('.') as [string, string, string];
    const others = [
      '{"signedPayload":"a.b.c"}',
      JSON.stringify({ signedTransaction: jws }),
      JSON.stringify({ signedPayload: jws, extra: 1 }),
      JSON.stringify({ signedPayload: `${h}.${Buffer.from([0xff, 0xfe, 0x00]).toString('base64url')}.${s}` }),
      // A payload ending in a character with non-zero unused bits decodes to the same bytes as the canonical one.
      JSON.stringify({ signedPayload: `${h}.${p.slice(0, -1)}${p.endsWith('A') ? 'B' : 'A'}.${s}` }),
    ];
    for (const raw of others) {
      const stored = compactRawBody(raw);
      expect(expandRawBody(stored)).toBe(raw);
    }
    expect(compactRawBody(others[0]!)).toBe(others[0]);
    expect(compactRawBody(others[1]!)).toBe(others[1]);
    expect(compactRawBody(null)).toBeNull();
    expect(expandRawBody(null)).toBeNull();
    expect(expandRawBody('sw-jws1:not json')).toBe('sw-jws1:not json');
  });
});
