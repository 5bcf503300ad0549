/**
 * zod schemas for the decoded App Store payloads (App Store Server Notifications V2, JWSTransaction,
 * JWSRenewalInfo), field names as in Apple's documentation and in @apple/app-store-server-library 3.1.
 *
 * Forward compatible on purpose: Apple adds notification types, subtypes, enum values and fields
 * without notice, and a webhook that rejects them would make Apple retry for days. So every object
 * is loose (unknown keys are kept), every enum is a plain `z.string()` / `z.number()` with the known
 * values only exported as constants, and only the few fields we cannot work without are required.
 */
import { z } from 'zod';

/**
 * Every `notificationType` Apple documents for App Store Server Notifications V2 (23 values).
 * Informational only: the schemas accept any string, so a type Apple adds later still verifies.
 *
 * @example
 * if (!(APPLE_NOTIFICATION_TYPES as readonly string[]).includes(payload.notificationType)) log.warn('new type');
 */
export const APPLE_NOTIFICATION_TYPES = [
  'CONSUMPTION_REQUEST',
  'DID_CHANGE_RENEWAL_PREF',
  'DID_CHANGE_RENEWAL_STATUS',
  'DID_FAIL_TO_RENEW',
  'DID_RENEW',
  'EXPIRED',
  'EXTERNAL_PURCHASE_TOKEN',
  'GRACE_PERIOD_EXPIRED',
  'METADATA_UPDATE',
  'MIGRATION',
  'OFFER_REDEEMED',
  'ONE_TIME_CHARGE',
  'PRICE_CHANGE',
  'PRICE_INCREASE',
  'REFUND',
  'REFUND_DECLINED',
  'REFUND_REVERSED',
  'RENEWAL_EXTENDED',
  'RENEWAL_EXTENSION',
  'RESCIND_CONSENT',
  'REVOKE',
  'SUBSCRIBED',
  'TEST',
] as const;

/** One of {@link APPLE_NOTIFICATION_TYPES}. Payload fields stay `string` (see module comment). */
export type AppleNotificationType = (typeof APPLE_NOTIFICATION_TYPES)[number];

/**
 * Every documented notification `subtype`. Informational only, like {@link APPLE_NOTIFICATION_TYPES}.
 *
 * @example
 * const isKnown = (APPLE_SUBTYPES as readonly string[]).includes(payload.subtype ?? '');
 */
export const APPLE_SUBTYPES = [
  'ACCEPTED',
  'ACTIVE_TOKEN_REMINDER',
  'AUTO_RENEW_DISABLED',
  'AUTO_RENEW_ENABLED',
  'BILLING_RECOVERY',
  'BILLING_RETRY',
  'CREATED',
  'DOWNGRADE',
  'FAILURE',
  'GRACE_PERIOD',
  'INITIAL_BUY',
  'PENDING',
  'PRICE_INCREASE',
  'PRODUCT_NOT_FOR_SALE',
  'RESUBSCRIBE',
  'SUMMARY',
  'UNREPORTED',
  'UPGRADE',
  'VOLUNTARY',
] as const;

/** One of {@link APPLE_SUBTYPES}. */
export type AppleSubtype = (typeof APPLE_SUBTYPES)[number];

/** The environments Apple documents. Verifiers accept only those listed in their `environments` option. */
export const APPLE_ENVIRONMENTS = ['Production', 'Sandbox', 'Xcode', 'LocalTesting'] as const;

/** One of {@link APPLE_ENVIRONMENTS}. */
export type AppleEnvironment = (typeof APPLE_ENVIRONMENTS)[number];

const str = z.string().optional();
const num = z.number().optional();
const bool = z.boolean().optional();

const advancedCommerceDescriptors = z.looseObject({ description: str, displayName: str }).optional();

/** `advancedCommerceInfo` of a transaction (Advanced Commerce API apps only). */
export const AdvancedCommerceTransactionInfoSchema = z.looseObject({
  descriptors: advancedCommerceDescriptors,
  estimatedTax: num,
  items: z.array(z.looseObject({})).optional(),
  period: str,
  requestReferenceId: str,
  taxCode: str,
  taxExclusivePrice: num,
  taxRate: str,
});

/** `advancedCommerceInfo` of a renewal info (Advanced Commerce API apps only). */
export const AdvancedCommerceRenewalInfoSchema = z.looseObject({
  consistencyToken: str,
  descriptors: advancedCommerceDescriptors,
  items: z.array(z.looseObject({})).optional(),
  period: str,
  requestReferenceId: str,
  taxCode: str,
});

/**
 * A decoded `signedTransactionInfo` / StoreKit 2 `jwsRepresentation` (JWSTransactionDecodedPayload).
 * Required: the identifiers every transaction carries and the verifier needs (`bundleId` is
 * matched against the configured app, `signedDate` is the date the certificates must be valid at).
 *
 * @example
 * const tx = JWSTransactionDecodedPayloadSchema.parse(decodedJson);
 */
export const JWSTransactionDecodedPayloadSchema = z.looseObject({
  transactionId: z.string(),
  originalTransactionId: z.string(),
  webOrderLineItemId: str,
  bundleId: z.string(),
  productId: z.string(),
  subscriptionGroupIdentifier: str,
  purchaseDate: num,
  originalPurchaseDate: num,
  expiresDate: num,
  quantity: num,
  /** 'Auto-Renewable Subscription' | 'Non-Consumable' | 'Consumable' | 'Non-Renewing Subscription' */
  type: str,
  appAccountToken: str,
  /** 'PURCHASED' | 'FAMILY_SHARED' */
  inAppOwnershipType: str,
  signedDate: z.number(),
  /** 0 = other, 1 = app issue */
  revocationReason: num,
  revocationDate: num,
  isUpgraded: bool,
  /** 1 introductory, 2 promotional, 3 offer code, 4 win-back */
  offerType: num,
  offerIdentifier: str,
  environment: str,
  storefront: str,
  storefrontId: str,
  /** 'PURCHASE' | 'RENEWAL' */
  transactionReason: str,
  currency: str,
  /** Milliunits of `currency`. */
  price: num,
  /** 'FREE_TRIAL' | 'PAY_AS_YOU_GO' | 'PAY_UP_FRONT' | 'ONE_TIME' */
  offerDiscountType: str,
  appTransactionId: str,
  /** ISO 8601 duration, e.g. 'P1M'. */
  offerPeriod: str,
  /** 'REFUND_FULL' | 'REFUND_PRORATED' | 'FAMILY_REVOKE' */
  revocationType: str,
  revocationPercentage: num,
  advancedCommerceInfo: AdvancedCommerceTransactionInfoSchema.optional(),
  /** 'BILLED_UPFRONT' | 'MONTHLY' */
  billingPlanType: str,
  commitmentInfo: z.looseObject({ billingPeriodNumber: num, commitmentExpiresDate: num, commitmentPrice: num, totalBillingPeriods: num }).optional(),
});
/** A decoded transaction. */
export type JWSTransactionDecodedPayload = z.infer<typeof JWSTransactionDecodedPayloadSchema>;

/**
 * A decoded `signedRenewalInfo` (JWSRenewalInfoDecodedPayload). It carries no `bundleId`.
 *
 * @example
 * const info = JWSRenewalInfoDecodedPayloadSchema.parse(decodedJson);
 */
export const JWSRenewalInfoDecodedPayloadSchema = z.looseObject({
  /** 1 voluntary, 2 billing error, 3 price increase refused, 4 product unavailable, 5 other */
  expirationIntent: num,
  originalTransactionId: z.string(),
  autoRenewProductId: str,
  productId: str,
  /** 0 off, 1 on */
  autoRenewStatus: num,
  isInBillingRetryPeriod: bool,
  /** 0 not responded, 1 consented / not needed */
  priceIncreaseStatus: num,
  gracePeriodExpiresDate: num,
  offerType: num,
  offerIdentifier: str,
  signedDate: z.number(),
  environment: str,
  recentSubscriptionStartDate: num,
  renewalDate: num,
  currency: str,
  renewalPrice: num,
  offerDiscountType: str,
  eligibleWinBackOfferIds: z.array(z.string()).optional(),
  appAccountToken: str,
  appTransactionId: str,
  offerPeriod: str,
  advancedCommerceInfo: AdvancedCommerceRenewalInfoSchema.optional(),
  commitmentInfo: z
    .looseObject({
      commitmentAutoRenewProductId: str,
      commitmentAutoRenewStatus: num,
      commitmentRenewalBillingPlanType: str,
      commitmentRenewalDate: num,
      commitmentRenewalPrice: num,
    })
    .optional(),
  renewalBillingPlanType: str,
});
/** A decoded renewal info. */
export type JWSRenewalInfoDecodedPayload = z.infer<typeof JWSRenewalInfoDecodedPayloadSchema>;

/**
 * The `data` object of most notifications. The nested JWS stay strings here; the verifier decodes them.
 *
 * @example
 * NotificationDataSchema.parse({ bundleId: 'com.example.app', environment: 'Sandbox' });
 */
export const NotificationDataSchema = z.looseObject({
  appAppleId: num,
  bundleId: str,
  bundleVersion: str,
  environment: str,
  signedTransactionInfo: str,
  signedRenewalInfo: str,
  /** 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked */
  status: num,
  /** Present on CONSUMPTION_REQUEST, e.g. 'UNINTENDED_PURCHASE'. */
  consumptionRequestReason: str,
});
/** The `data` object of a notification. */
export type NotificationData = z.infer<typeof NotificationDataSchema>;

/**
 * The `summary` object of RENEWAL_EXTENSION / SUMMARY notifications (mass renewal-date extension).
 *
 * @example
 * NotificationSummarySchema.parse({ requestIdentifier: 'r1', bundleId: 'com.example.app', environment: 'Production' });
 */
export const NotificationSummarySchema = z.looseObject({
  requestIdentifier: str,
  environment: str,
  appAppleId: num,
  bundleId: str,
  productId: str,
  storefrontCountryCodes: z.array(z.string()).optional(),
  failedCount: num,
  succeededCount: num,
});
/** The `summary` object of a notification. */
export type NotificationSummary = z.infer<typeof NotificationSummarySchema>;

/**
 * The `externalPurchaseToken` object of EXTERNAL_PURCHASE_TOKEN notifications. It has no
 * `environment`: a sandbox token's `externalPurchaseId` starts with `SANDBOX`.
 *
 * @example
 * ExternalPurchaseTokenSchema.parse({ externalPurchaseId: 'SANDBOX_1', bundleId: 'com.example.app' });
 */
export const ExternalPurchaseTokenSchema = z.looseObject({
  externalPurchaseId: str,
  tokenCreationDate: num,
  appAppleId: num,
  bundleId: str,
});
/** The `externalPurchaseToken` object of a notification. */
export type ExternalPurchaseToken = z.infer<typeof ExternalPurchaseTokenSchema>;

/**
 * The `appData` object of RESCIND_CONSENT notifications.
 *
 * @example
 * AppDataSchema.parse({ bundleId: 'com.example.app', environment: 'Sandbox' });
 */
export const AppDataSchema = z.looseObject({
  appAppleId: num,
  bundleId: str,
  environment: str,
  signedAppTransactionInfo: str,
});
/** The `appData` object of a notification. */
export type AppData = z.infer<typeof AppDataSchema>;

/**
 * A decoded `appData.signedAppTransactionInfo` (JWSAppTransactionDecodedPayload): the customer's
 * download of the app, what RESCIND_CONSENT is about.
 *
 * @example
 * const app = JWSAppTransactionDecodedPayloadSchema.parse(decodedJson); // app.appTransactionId
 */
export const JWSAppTransactionDecodedPayloadSchema = z.looseObject({
  /** The environment: Production, Sandbox, Xcode, LocalTesting. */
  receiptType: str,
  appAppleId: num,
  bundleId: str,
  applicationVersion: str,
  versionExternalIdentifier: num,
  receiptCreationDate: num,
  originalPurchaseDate: num,
  originalApplicationVersion: str,
  deviceVerification: str,
  deviceVerificationNonce: str,
  preorderDate: num,
  /** The unique identifier of the app download transaction; transactions and renewal infos carry it too. */
  appTransactionId: str,
  originalPlatform: str,
});
/** A decoded app transaction. */
export type JWSAppTransactionDecodedPayload = z.infer<typeof JWSAppTransactionDecodedPayloadSchema>;

/**
 * The decoded `signedPayload` of an App Store Server Notification V2 (responseBodyV2DecodedPayload).
 * `data`, `summary`, `externalPurchaseToken` and `appData` are mutually exclusive.
 *
 * @example
 * const n = ResponseBodyV2DecodedPayloadSchema.parse(decodedJson);
 * if (n.notificationType === 'DID_RENEW') ...
 */
export const ResponseBodyV2DecodedPayloadSchema = z.looseObject({
  notificationType: z.string(),
  subtype: str,
  notificationUUID: z.string(),
  version: str,
  signedDate: z.number(),
  data: NotificationDataSchema.optional(),
  summary: NotificationSummarySchema.optional(),
  externalPurchaseToken: ExternalPurchaseTokenSchema.optional(),
  appData: AppDataSchema.optional(),
});
/** A decoded notification payload. */
export type ResponseBodyV2DecodedPayload = z.infer<typeof ResponseBodyV2DecodedPayloadSchema>;
