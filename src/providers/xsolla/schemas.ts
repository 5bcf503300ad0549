import { z } from 'zod';

// Shapes of Xsolla's documented webhook bodies (developers.xsolla.com/webhooks). Objects are loose:
// Xsolla adds fields (and Publisher Account toggles add more), and an unknown field must never make
// us answer 400, which Xsolla treats as final. Only what the mapping relies on is required.

/** Xsolla documents ids as integers but its own samples send some as strings (`"subscription_id": "10"`). */
const idLike = z.union([z.string().min(1), z.number().int().nonnegative()]);
/** ISO 8601 date-time, as Xsolla sends it (`2014-09-22T19:25:25+04:00`). */
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO 8601 date-time' });
/** Xsolla documents amounts as floats; accept a decimal string too. */
const amountLike = z.union([z.number().finite(), z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a decimal amount')]);

/** `{ currency, amount }`, Xsolla's money object. */
export const xsollaMoneySchema = z.looseObject({ currency: z.string().min(1), amount: amountLike });

/** `settings`: the project the notification is for. */
export const xsollaSettingsSchema = z.looseObject({
  project_id: z.union([z.number().int(), z.string().regex(/^\d+$/)]),
  merchant_id: z.union([z.number().int(), z.string()]).optional(),
});

/** `user`: `id` is the user id your app gave Xsolla in the payment token. */
export const xsollaUserSchema = z.looseObject({
  id: idLike,
  name: z.string().nullish(),
  email: z.string().nullish(),
  country: z.string().nullish(),
  ip: z.string().nullish(),
  phone: z.string().nullish(),
});

/** `subscription` (and `purchase.subscription`). */
export const xsollaSubscriptionSchema = z.looseObject({
  plan_id: idLike,
  subscription_id: idLike,
  product_id: z.union([z.string(), z.number()]).nullish(),
  date_create: isoDate.nullish(),
  date_next_charge: isoDate.nullish(),
  date_end: isoDate.nullish(),
  trial: z.looseObject({ value: z.number(), type: z.string() }).nullish(),
  currency: z.string().nullish(),
  amount: amountLike.nullish(),
  tags: z.array(z.string()).nullish(),
});

/** `transaction`: `dry_run` is 1 for a test (sandbox) transaction and absent for a real one. */
export const xsollaTransactionSchema = z.looseObject({
  id: idLike,
  external_id: z.union([z.string(), z.number()]).nullish(),
  payment_date: isoDate.nullish(),
  /** Refund webhooks carry `date` instead of `payment_date`. */
  date: isoDate.nullish(),
  payment_method: z.union([z.number(), z.string()]).nullish(),
  dry_run: z.union([z.number(), z.boolean()]).nullish(),
  agreement: z.union([z.number(), z.string()]).nullish(),
});

/** `purchase`: what was bought. */
export const xsollaPurchaseSchema = z.looseObject({
  subscription: xsollaSubscriptionSchema.nullish(),
  total: xsollaMoneySchema.nullish(),
});

/** `payment_details`: `payment` is the amount the user paid. */
export const xsollaPaymentDetailsSchema = z.looseObject({
  payment: xsollaMoneySchema.nullish(),
});

const base = {
  notification_type: z.string().min(1),
  settings: xsollaSettingsSchema.nullish(),
  custom_parameters: z.record(z.string(), z.unknown()).nullish(),
};

/** `user_validation`: is this user one of yours? */
export const xsollaUserValidationSchema = z.looseObject({ ...base, notification_type: z.literal('user_validation'), user: xsollaUserSchema });

/** `create_subscription`, `update_subscription`, `cancel_subscription`, `non_renewal_subscription`. */
export const xsollaSubscriptionNotificationSchema = z.looseObject({
  ...base,
  notification_type: z.enum(['create_subscription', 'update_subscription', 'cancel_subscription', 'non_renewal_subscription']),
  user: xsollaUserSchema,
  subscription: xsollaSubscriptionSchema,
});

/** `payment`, `refund`, `partial_refund`. */
export const xsollaTransactionNotificationSchema = z.looseObject({
  ...base,
  notification_type: z.enum(['payment', 'refund', 'partial_refund']),
  user: xsollaUserSchema.nullish(),
  transaction: xsollaTransactionSchema,
  purchase: xsollaPurchaseSchema.nullish(),
  payment_details: xsollaPaymentDetailsSchema.nullish(),
  refund_details: z.looseObject({ code: z.union([z.number(), z.string()]).nullish(), reason: z.string().nullish(), author: z.string().nullish() }).nullish(),
});

/** Any other `notification_type`: recorded and acknowledged. */
export const xsollaOtherNotificationSchema = z.looseObject({ ...base, transaction: xsollaTransactionSchema.partial().nullish() });

/** A decoded `user_validation` webhook. */
export type XsollaUserValidation = z.output<typeof xsollaUserValidationSchema>;
/** A decoded subscription webhook. */
export type XsollaSubscriptionNotification = z.output<typeof xsollaSubscriptionNotificationSchema>;
/** A decoded `payment` / `refund` / `partial_refund` webhook. */
export type XsollaTransactionNotification = z.output<typeof xsollaTransactionNotificationSchema>;
/** A decoded webhook of a type the library does not map. */
export type XsollaOtherNotification = z.output<typeof xsollaOtherNotificationSchema>;

/** Every Xsolla webhook the route understands, discriminated by `kind`. */
export type XsollaNotification =
  | { kind: 'user_validation'; body: XsollaUserValidation }
  | { kind: 'subscription'; body: XsollaSubscriptionNotification }
  | { kind: 'transaction'; body: XsollaTransactionNotification }
  | { kind: 'other'; body: XsollaOtherNotification };

const SUBSCRIPTION_TYPES = new Set(['create_subscription', 'update_subscription', 'cancel_subscription', 'non_renewal_subscription']);
const TRANSACTION_TYPES = new Set(['payment', 'refund', 'partial_refund']);

/** The result of {@link parseXsollaNotification}: the notification, or the first issue as `path` + message. */
export type XsollaParseResult = { success: true; notification: XsollaNotification } | { success: false; path: string; message: string };

/** Validates a webhook body against the schema its `notification_type` selects. */
export function parseXsollaNotification(body: Record<string, unknown>): XsollaParseResult {
  const type = body.notification_type;
  const schema =
    type === 'user_validation'
      ? xsollaUserValidationSchema
      : typeof type === 'string' && SUBSCRIPTION_TYPES.has(type)
        ? xsollaSubscriptionNotificationSchema
        : typeof type === 'string' && TRANSACTION_TYPES.has(type)
          ? xsollaTransactionNotificationSchema
          : xsollaOtherNotificationSchema;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { success: false, path: issue.path.join('.') || '(body)', message: issue.message };
  }
  const kind =
    schema === xsollaUserValidationSchema
      ? 'user_validation'
      : schema === xsollaSubscriptionNotificationSchema
        ? 'subscription'
        : schema === xsollaTransactionNotificationSchema
          ? 'transaction'
          : 'other';
  return { success: true, notification: { kind, body: parsed.data } as XsollaNotification };
}
