import { Environment, SignedDataVerifier } from '@apple/app-store-server-library';
import type { AppleVerifier, VerifiedAppleNotification } from '../../src/index.js';

/**
 * Apple's own library behind our verifier's interface, so the end-to-end baseline runs the very same
 * app and database writes and differs only in how the notification is verified and decoded.
 */
export function appleLibraryVerifier(root: Uint8Array, bundleId: string, appAppleId: number): AppleVerifier {
  const v = new SignedDataVerifier([Buffer.from(root)], false, Environment.PRODUCTION, bundleId, appAppleId);
  return {
    async verifyNotification(signedPayload: string) {
      const payload = await v.verifyAndDecodeNotification(signedPayload);
      const data = payload.data;
      const transaction = data?.signedTransactionInfo ? await v.verifyAndDecodeTransaction(data.signedTransactionInfo) : undefined;
      const renewalInfo = data?.signedRenewalInfo ? await v.verifyAndDecodeRenewalInfo(data.signedRenewalInfo) : undefined;
      return {
        payload,
        transaction,
        renewalInfo,
        environment: data?.environment ?? null,
        signedDate: payload.signedDate,
      } as unknown as VerifiedAppleNotification;
    },
    verifyTransaction: (jws: string) => v.verifyAndDecodeTransaction(jws) as never,
    verifyRenewalInfo: (jws: string) => v.verifyAndDecodeRenewalInfo(jws) as never,
    verifyJws: async () => {
      throw new Error('not used by the benchmark');
    },
  } as AppleVerifier;
}
