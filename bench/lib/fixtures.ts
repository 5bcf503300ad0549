import { randomUUID } from 'node:crypto';
import { createAppleTestSigner, type AppleTestSigner } from '../../src/testing/index.js';

export const BUNDLE_ID = 'com.example.bench';
export const APP_APPLE_ID = 1234567890;
const DAY = 86_400_000;

/** One test chain for the whole run, like Apple's single production chain. */
export async function benchSigner(): Promise<AppleTestSigner> {
  return createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
}

/**
 * `count` distinct, fully signed SUBSCRIBED/INITIAL_BUY notifications (each its own subscription,
 * with a signed transaction and renewal info inside), as `{"signedPayload": ...}` request bodies.
 */
export async function signedBodies(signer: AppleTestSigner, count: number, offset = 0): Promise<string[]> {
  const now = Date.now();
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const otid = String(3_000_000_000_000_000 + offset + i);
    const signedPayload = await signer.signNotification({
      notificationType: 'SUBSCRIBED',
      subtype: 'INITIAL_BUY',
      notificationUUID: randomUUID(),
      signedDate: now,
      data: {
        transaction: {
          transactionId: otid,
          originalTransactionId: otid,
          productId: 'com.example.pro.monthly',
          purchaseDate: now,
          originalPurchaseDate: now,
          expiresDate: now + 30 * DAY,
          type: 'Auto-Renewable Subscription',
          inAppOwnershipType: 'PURCHASED',
          environment: 'Production',
          price: 9990,
          currency: 'USD',
          transactionReason: 'PURCHASE',
        },
        renewalInfo: {
          originalTransactionId: otid,
          autoRenewProductId: 'com.example.pro.monthly',
          productId: 'com.example.pro.monthly',
          autoRenewStatus: 1,
          environment: 'Production',
        },
      },
    } as never);
    out.push(JSON.stringify({ signedPayload }));
  }
  return out;
}

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
