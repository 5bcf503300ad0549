import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createAppleVerifier } from '../../../src/providers/apple/verifier.js';
import type { AppleVerifier } from '../../../src/providers/apple/verifier.js';
import { codeOf } from '../../helpers/code-of.js';

// Ten JWS really signed by Apple (see the manifest for provenance). Several leaf certificates have
// expired since: they must verify because certificates are checked at the payload's signedDate.
const dir = new URL('../../fixtures/apple-real/', import.meta.url);

interface Vector {
  file: string;
  kind: 'notification' | 'transaction' | 'renewal';
  notificationType: string | null;
  subtype: string | null;
  notificationUUID: string | null;
  environment: string;
  bundleId: string | null;
  appAppleId: number | null;
  signedDate: number;
  transactionId: string | null;
  originalTransactionId: string | null;
  productId: string | null;
  expiresDate: number | null;
  autoRenewStatus?: number;
  autoRenewProductId?: string;
  revocationDate?: number;
  revocationReason?: number;
  transactionType?: string;
}

const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as { vectors: Vector[] };
const read = (v: Vector) => readFileSync(new URL(v.file, dir), 'utf8').trim();

function verifierFor(v: Vector): AppleVerifier {
  return createAppleVerifier({
    // Renewal info carries no bundle id; any configured value works for it.
    bundleId: v.bundleId ?? 'com.example.unused',
    appAppleId: v.appAppleId ?? undefined,
    environments: ['Production', 'Sandbox'],
  });
}

function verify(verifier: AppleVerifier, v: Vector, jws: string): Promise<unknown> {
  if (v.kind === 'notification') return verifier.verifyNotification(jws);
  if (v.kind === 'transaction') return verifier.verifyTransaction(jws);
  return verifier.verifyRenewalInfo(jws);
}

/** XOR one byte of the decoded part `index` and re-encode it canonically. */
function flipByte(jws: string, index: 1 | 2, at: (length: number) => number): string {
  const parts = jws.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  const i = at(bytes.length);
  bytes[i] = bytes[i]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('real Apple-signed JWS verify with the bundled root', () => {
  it('the manifest lists ten vectors', () => {
    expect(manifest.vectors).toHaveLength(10);
  });

  for (const v of manifest.vectors) {
    describe(v.file, () => {
      it('verifies and decodes to the manifest values', async () => {
        const verifier = verifierFor(v);
        const jws = read(v);
        if (v.kind === 'notification') {
          const result = await verifier.verifyNotification(jws);
          expect(result.payload.notificationType).toBe(v.notificationType);
          expect(result.payload.subtype ?? null).toBe(v.subtype);
          expect(result.payload.notificationUUID).toBe(v.notificationUUID);
          expect(result.payload.data?.bundleId).toBe(v.bundleId);
          expect(result.payload.data?.appAppleId ?? null).toBe(v.appAppleId);
          expect(result.environment).toBe(v.environment);
          expect(result.signedDate).toBe(v.signedDate);
          expect(result.transaction?.transactionId ?? null).toBe(v.transactionId);
          expect(result.transaction?.originalTransactionId ?? null).toBe(v.originalTransactionId);
          expect(result.transaction?.productId ?? null).toBe(v.productId);
          expect(result.transaction?.expiresDate ?? null).toBe(v.expiresDate);
          if (v.revocationDate !== undefined) expect(result.transaction?.revocationDate).toBe(v.revocationDate);
          if (v.revocationReason !== undefined) expect(result.transaction?.revocationReason).toBe(v.revocationReason);
          if (v.autoRenewStatus !== undefined) expect(result.renewalInfo?.autoRenewStatus).toBe(v.autoRenewStatus);
          if (v.autoRenewProductId !== undefined) expect(result.renewalInfo?.autoRenewProductId).toBe(v.autoRenewProductId);
        } else if (v.kind === 'transaction') {
          const tx = await verifier.verifyTransaction(jws);
          expect(tx.transactionId).toBe(v.transactionId);
          expect(tx.originalTransactionId).toBe(v.originalTransactionId);
          expect(tx.productId).toBe(v.productId);
          expect(tx.bundleId).toBe(v.bundleId);
          expect(tx.environment).toBe(v.environment);
          expect(tx.signedDate).toBe(v.signedDate);
          expect(tx.type).toBe(v.transactionType);
        } else {
          const info = await verifier.verifyRenewalInfo(jws);
          expect(info.originalTransactionId).toBe(v.originalTransactionId);
          expect(info.productId).toBe(v.productId);
          expect(info.autoRenewStatus).toBe(v.autoRenewStatus);
          expect(info.autoRenewProductId).toBe(v.autoRenewProductId);
          expect(info.environment).toBe(v.environment);
          expect(info.signedDate).toBe(v.signedDate);
        }
      });

      it('nested JWS also verify on their own (strictNested)', async () => {
        if (v.kind !== 'notification') return;
        const verifier = createAppleVerifier({
          bundleId: v.bundleId!,
          appAppleId: v.appAppleId ?? undefined,
          environments: ['Production', 'Sandbox'],
          strictNested: true,
        });
        await expect(verifier.verifyNotification(read(v))).resolves.toBeDefined();
      });

      it('verifyJws returns the payload object', async () => {
        const payload = (await verifierFor(v).verifyJws(read(v))) as { signedDate: number };
        expect(payload.signedDate).toBe(v.signedDate);
      });

      it('one flipped byte in the payload is rejected', async () => {
        const tampered = flipByte(read(v), 1, (n) => Math.floor(n / 3));
        expect(['SIGNATURE_INVALID', 'JWS_MALFORMED']).toContain(await codeOf(verify(verifierFor(v), v, tampered)));
      });

      it('one flipped byte in the signature is rejected', async () => {
        const tampered = flipByte(read(v), 2, () => 10);
        expect(['SIGNATURE_INVALID', 'JWS_MALFORMED']).toContain(await codeOf(verify(verifierFor(v), v, tampered)));
      });

      it('is rejected for another app', async () => {
        if (v.kind === 'renewal') return;
        const verifier = createAppleVerifier({ bundleId: 'com.example.other', appAppleId: v.appAppleId ?? undefined, environments: ['Production', 'Sandbox'] });
        expect(await codeOf(verify(verifier, v, read(v)))).toBe('BUNDLE_ID_MISMATCH');
      });
    });
  }
});
