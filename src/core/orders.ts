import { z } from 'zod';
import { SubscriptionWebhooksError } from './errors.js';
import { randomId, randomUUID } from './ids.js';
import { checkNotificationSettings } from '../notifications/event-names.js';
import type { NotificationSettings, Order, Provider } from '../events/types.js';
import type { Store } from '../store/types.js';

/** Input of `hooks.orders.create`. */
export interface CreateOrderInput {
  userId: string;
  productId: string;
  /** @default "apple" */
  provider?: Provider;
  amount?: number;
  currency?: string;
  metadata?: Record<string, unknown>;
  subscriptionData?: { notificationSettings?: NotificationSettings };
  /** The same as `subscriptionData`, spelled as the order object stores it (give one or the other, not both). */
  subscription_data?: { notification_settings?: NotificationSettings };
}

/** `hooks.orders`: create an order before the purchase; its `no` is the `appAccountToken` you pass to StoreKit. */
export interface OrdersApi {
  create(input: CreateOrderInput): Promise<Order>;
  get(no: string): Promise<Order | null>;
}

const notificationSettingsSchema = z.strictObject({
  self_handle: z.boolean(),
  include_events: z.array(z.string()).optional(),
  exclude_events: z.array(z.string()).optional(),
});
const createOrderSchema = z.strictObject({
  userId: z.string().min(1),
  productId: z.string().min(1),
  provider: z.enum(['apple', 'xsolla', 'google']).optional(),
  amount: z.number().int().nonnegative().optional(),
  currency: z.string().length(3).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  subscriptionData: z.strictObject({ notificationSettings: notificationSettingsSchema.optional() }).optional(),
  subscription_data: z.strictObject({ notification_settings: notificationSettingsSchema.optional() }).optional(),
});

/** The orders API over `store`. */
export function createOrdersApi(store: Store): OrdersApi {
  return {
    async create(input) {
      const parsed = createOrderSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new SubscriptionWebhooksError('INVALID_ARGUMENT', `orders.create: \`${issue.path.join('.') || 'input'}\` ${issue.message}`);
      }
      const i = parsed.data;
      if (i.subscriptionData !== undefined && i.subscription_data !== undefined) {
        throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'orders.create: give `subscriptionData` or `subscription_data`, not both');
      }
      const requested = i.subscriptionData?.notificationSettings ?? i.subscription_data?.notification_settings;
      const where = i.subscriptionData ? 'subscriptionData.notificationSettings' : 'subscription_data.notification_settings';
      if (requested) checkNotificationSettings(requested, where);
      const now = new Date().toISOString();
      const order: Order = {
        id: randomId('ord'),
        no: randomUUID(),
        trade_no: null,
        origin_no: null,
        status: 'pending',
        user_id: i.userId,
        product_id: i.productId,
        provider: i.provider ?? 'apple',
        amount: i.amount ?? null,
        currency: i.currency ?? null,
        amount_refunded: null,
        refund_reason: null,
        paid_at: null,
        metadata: i.metadata ?? {},
        subscription_data: requested ? { notification_settings: requested } : null,
        created: now,
        updated: now,
      };
      await store.transaction((tx) => tx.saveOrder(order));
      return order;
    },
    get: (no) => store.getOrderByNo(no),
  };
}
