import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SubscriptionWebhooksError, verifyXsollaSignature, xsollaSignature } from '../../../src/index.js';
import { signXsollaBody } from '../../../src/testing/index.js';
import { toMilliunits } from '../../../src/providers/xsolla/apply.js';

describe('Xsolla signature', () => {
  const body = '{"notification_type":"user_validation","user":{"id":"1234567","name":"Jöhn 🙂"}}';
  const secret = 'a-secret';
  const expected = createHash('sha1')
    .update(Buffer.concat([Buffer.from(body, 'utf8'), Buffer.from(secret, 'utf8')]))
    .digest('hex');

  it('is lowercase hex sha1(rawBody + secretKey) over the UTF-8 bytes; strings and bytes agree', () => {
    expect(xsollaSignature(body, secret)).toBe(expected);
    expect(xsollaSignature(new TextEncoder().encode(body), secret)).toBe(expected);
    expect(signXsollaBody(body, secret)).toBe(`Signature ${expected}`);
  });

  it('verifies any hex case and scheme case; rejects garbled headers and other bodies with XSOLLA_SIGNATURE_INVALID', () => {
    for (const header of [`Signature ${expected}`, `Signature ${expected.toUpperCase()}`, `signature ${expected}`, `  Signature\t${expected}  `]) {
      expect(() => verifyXsollaSignature(header, body, secret), header).not.toThrow();
    }
    for (const header of [
      undefined,
      '',
      expected,
      `Signature ${expected} extra`,
      `Signature 0x${expected.slice(2)}`,
      `Signature ${'g'.repeat(40)}`,
      `Signature=${expected}`,
    ]) {
      expect(() => verifyXsollaSignature(header, body, secret), String(header)).toThrow(expect.objectContaining({ code: 'XSOLLA_SIGNATURE_INVALID' }));
    }
    expect(() => verifyXsollaSignature(`Signature ${expected}`, `${body} `, secret)).toThrow(SubscriptionWebhooksError);
    expect(() => verifyXsollaSignature(`Signature ${expected}`, body, 'other')).toThrow(SubscriptionWebhooksError);
  });
});

describe('Xsolla amounts → Order.amount (milliunits, like Apple)', () => {
  it.each([
    [9.99, 9990],
    ['0.2500', 250],
    [0.1 + 0.2, 300],
    [100, 100000],
    ['0.0005', 1],
    ['0.0004', 0],
    [-1.5, -1500],
    [1e21, null],
    [null, null],
  ] as const)('%s → %s', (input, out) => {
    expect(toMilliunits(input)).toBe(out);
  });
});
