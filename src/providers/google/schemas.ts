import { z } from 'zod';

/**
 * Cloud Pub/Sub's push body: `{ message: { data, messageId, publishTime, attributes }, subscription }`.
 * Pub/Sub also sends the snake_case twins (`message_id`, `publish_time`); either spelling is accepted.
 */
export const pushBodySchema = z.looseObject({
  message: z.looseObject({
    data: z.string().min(1, 'must be the base64 DeveloperNotification').max(1_000_000),
    messageId: z.string().min(1).max(256).optional(),
    message_id: z.string().min(1).max(256).optional(),
    publishTime: z.string().optional(),
    publish_time: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
  }),
  subscription: z.string().max(512).optional(),
});

/** A JSON `long`: Google writes int64 values as decimal strings; a number is accepted too. */
const long = z
  .union([z.string().regex(/^\d{1,16}$/, 'must be a decimal integer'), z.number().int().nonnegative()])
  .transform((v) => Number(v))
  // Milliseconds a Date can hold: beyond, there is no date to speak of.
  .refine((v) => v <= 8.64e15, 'must be a time in milliseconds since 1970');
/** An RFC 3339 timestamp, as the Play Developer API writes them. */
const timestamp = z.string().refine((v) => !Number.isNaN(Date.parse(v)) && Math.abs(Date.parse(v)) <= 8.64e15, 'must be an RFC 3339 timestamp');
const token = z.string().min(1).max(4096);

/** `subscriptionNotification`: 1 RECOVERED … 20 PENDING_PURCHASE_CANCELED. */
export const subscriptionNotificationSchema = z.looseObject({
  version: z.string().optional(),
  notificationType: z.number().int(),
  purchaseToken: token,
  /** Deprecated by Google but still sent. */
  subscriptionId: z.string().optional(),
});

/** `oneTimeProductNotification`: 1 PURCHASED, 2 CANCELED. */
export const oneTimeProductNotificationSchema = z.looseObject({
  version: z.string().optional(),
  notificationType: z.number().int(),
  purchaseToken: token,
  sku: z.string().min(1).max(512),
});

/** `voidedPurchaseNotification`: a refund, chargeback or revocation of a purchase. */
export const voidedPurchaseNotificationSchema = z.looseObject({
  purchaseToken: token,
  orderId: z.string().min(1).max(512),
  /** 1 subscription, 2 one-time product. */
  productType: z.number().int().optional(),
  /** 1 full refund, 2 quantity-based partial refund. */
  refundType: z.number().int().optional(),
});

/** The decoded `message.data`: exactly one of the four notifications (or none, for a type added later). */
export const developerNotificationSchema = z.looseObject({
  version: z.string().optional(),
  packageName: z.string().min(1).max(512),
  eventTimeMillis: long,
  subscriptionNotification: subscriptionNotificationSchema.optional(),
  oneTimeProductNotification: oneTimeProductNotificationSchema.optional(),
  voidedPurchaseNotification: voidedPurchaseNotificationSchema.optional(),
  testNotification: z.looseObject({ version: z.string().optional() }).optional(),
});

export type DeveloperNotification = z.infer<typeof developerNotificationSchema>;

/** `SubscriptionNotification.notificationType` names, as Google documents them. */
export const SUBSCRIPTION_NOTIFICATION_TYPES: Readonly<Record<number, string>> = {
  1: 'SUBSCRIPTION_RECOVERED',
  2: 'SUBSCRIPTION_RENEWED',
  3: 'SUBSCRIPTION_CANCELED',
  4: 'SUBSCRIPTION_PURCHASED',
  5: 'SUBSCRIPTION_ON_HOLD',
  6: 'SUBSCRIPTION_IN_GRACE_PERIOD',
  7: 'SUBSCRIPTION_RESTARTED',
  8: 'SUBSCRIPTION_PRICE_CHANGE_CONFIRMED',
  9: 'SUBSCRIPTION_DEFERRED',
  10: 'SUBSCRIPTION_PAUSED',
  11: 'SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED',
  12: 'SUBSCRIPTION_REVOKED',
  13: 'SUBSCRIPTION_EXPIRED',
  19: 'SUBSCRIPTION_PRICE_CHANGE_UPDATED',
  20: 'SUBSCRIPTION_PENDING_PURCHASE_CANCELED',
};

/** `OneTimeProductNotification.notificationType` names. */
export const ONE_TIME_NOTIFICATION_TYPES: Readonly<Record<number, string>> = { 1: 'ONE_TIME_PRODUCT_PURCHASED', 2: 'ONE_TIME_PRODUCT_CANCELED' };

const money = z.looseObject({ currencyCode: z.string().optional(), units: z.union([z.string(), z.number()]).optional(), nanos: z.number().int().optional() });
export type GoogleMoney = z.infer<typeof money>;

/** `purchases.subscriptionsv2.get`: `SubscriptionPurchaseV2`, the fields that drive state. */
export const subscriptionPurchaseV2Schema = z.looseObject({
  kind: z.string().optional(),
  regionCode: z.string().optional(),
  startTime: timestamp.optional(),
  /** SUBSCRIPTION_STATE_PENDING, _ACTIVE, _PAUSED, _IN_GRACE_PERIOD, _ON_HOLD, _CANCELED, _EXPIRED, _PENDING_PURCHASE_CANCELED. */
  subscriptionState: z.string(),
  latestOrderId: z.string().optional(),
  linkedPurchaseToken: z.string().optional(),
  acknowledgementState: z.string().optional(),
  testPurchase: z.looseObject({}).optional(),
  pausedStateContext: z.looseObject({ autoResumeTime: z.string().optional() }).optional(),
  canceledStateContext: z.looseObject({}).optional(),
  externalAccountIdentifiers: z
    .looseObject({
      externalAccountId: z.string().optional(),
      obfuscatedExternalAccountId: z.string().optional(),
      obfuscatedExternalProfileId: z.string().optional(),
    })
    .optional(),
  lineItems: z
    .array(
      z.looseObject({
        productId: z.string(),
        expiryTime: timestamp.optional(),
        latestSuccessfulOrderId: z.string().optional(),
        autoRenewingPlan: z.looseObject({ autoRenewEnabled: z.boolean().optional(), recurringPrice: money.optional() }).optional(),
        prepaidPlan: z.looseObject({}).optional(),
        offerDetails: z.looseObject({ basePlanId: z.string().optional(), offerId: z.string().optional() }).optional(),
      }),
    )
    .min(1),
});
export type SubscriptionPurchaseV2 = z.infer<typeof subscriptionPurchaseV2Schema>;

/** `purchases.products.get`: `ProductPurchase`. */
export const productPurchaseSchema = z.looseObject({
  kind: z.string().optional(),
  purchaseTimeMillis: long.optional(),
  /** 0 purchased, 1 canceled, 2 pending. */
  purchaseState: z.number().int().optional(),
  /** 0 yet to be acknowledged, 1 acknowledged. */
  acknowledgementState: z.number().int().optional(),
  orderId: z.string().optional(),
  productId: z.string().optional(),
  quantity: z.number().int().optional(),
  /** Present (0) for a test purchase. */
  purchaseType: z.number().int().optional(),
  obfuscatedExternalAccountId: z.string().optional(),
  regionCode: z.string().optional(),
});
export type ProductPurchase = z.infer<typeof productPurchaseSchema>;

/** `purchases.voidedpurchases.list`: one `VoidedPurchase`. */
export const voidedPurchaseSchema = z.looseObject({
  kind: z.string().optional(),
  purchaseToken: z.string(),
  purchaseTimeMillis: long.optional(),
  voidedTimeMillis: long.optional(),
  orderId: z.string().optional(),
  /** 0 user, 1 developer, 2 Google. */
  voidedSource: z.number().int().optional(),
  /** 0 other, 1 remorse, 2 not received, 3 defective, 4 accidental purchase, 5 fraud, 6 friendly fraud, 7 chargeback, 8 unacknowledged purchase. */
  voidedReason: z.number().int().optional(),
  /** Set for a quantity-based partial refund (`includeQuantityBasedPartialRefund`). */
  voidedQuantity: z.number().int().optional(),
});
export type VoidedPurchase = z.infer<typeof voidedPurchaseSchema>;

/** `purchases.voidedpurchases.list`'s answer. */
export const voidedPurchasesListSchema = z.looseObject({
  voidedPurchases: z.array(voidedPurchaseSchema).optional(),
  tokenPagination: z.looseObject({ nextPageToken: z.string().optional() }).optional(),
});
