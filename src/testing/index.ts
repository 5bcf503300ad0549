/**
 * Test kit for apps that use subscription-webhooks: sign Apple-style notifications with a local
 * test chain, sign Xsolla webhook bodies, stand in for Google Play (push tokens, JWKS, Play Developer API), and run the store conformance suite against your own `Store`.
 * @module subscription-webhooks/testing
 */
export { createAppleTestSigner } from './apple-signer.js';
export type {
  AppleTestSigner,
  AppleTestSignerOptions,
  AppleTestNotificationInput,
  AppleTestTransactionInput,
  AppleTestRenewalInfoInput,
} from './apple-signer.js';
export { signXsollaBody } from './xsolla.js';
export { createGooglePlayTestKit } from './google.js';
export type {
  GooglePlayTestKit,
  GooglePlayTestKitKeys,
  GooglePlayTestKitOptions,
  GooglePlayPush,
  PushTokenInput,
  GooglePlayScriptedAnswer,
  GooglePlaySeenRequest,
} from './google.js';
export { resetDefaultHooks } from '../core/default-instance.js';
export { storeConformanceSuite } from './store-conformance.js';
export type { ConformanceTestApi } from './store-conformance.js';
export { signOutboundWebhook } from './outbound-webhook.js';
export type { SignOutboundWebhookInput } from './outbound-webhook.js';
