import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { APPLE_ROOT_CA_G3, APPLE_ROOT_CA_G3_DER } from '../../../src/providers/apple/root-certificate.js';

const FINGERPRINT = '63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79';

describe('bundled Apple Root CA - G3', () => {
  it('has the published SHA-256 fingerprint', async () => {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(APPLE_ROOT_CA_G3_DER)));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
    expect(hex).toBe(FINGERPRINT);
  });

  it('the base64 constant and the bytes are the same certificate, and equal the shared copy of Apple’s file', () => {
    expect(Buffer.from(APPLE_ROOT_CA_G3, 'base64')).toEqual(Buffer.from(APPLE_ROOT_CA_G3_DER));
    const shared = readFileSync(new URL('../../fixtures/AppleRootCA-G3.cer', import.meta.url));
    expect(Buffer.from(APPLE_ROOT_CA_G3_DER)).toEqual(shared);
  });
});
