import type { UserNotification } from '../core/config.js';
import { normalizeLocale } from './locale.js';
import type { DomainEvent, EntitlementChange, Order, Subscription } from '../events/types.js';
import { ENTITY_EVENT_TYPES } from './event-names.js';

type Vars = { product: string; end: string | null };
type Template = { title: string; body: (v: Vars) => string };

const until = (v: Vars, en: boolean): string => (v.end ? (en ? ` until ${v.end}` : `，有效期至 ${v.end}`) : '');

const EN: Record<string, Template> = {
  'customer.subscription.created': { title: 'Subscription created', body: (v) => `Your subscription to ${v.product} was created.` },
  'customer.subscription.started': { title: 'Subscription started', body: (v) => `Your subscription to ${v.product} is active${until(v, true)}.` },
  'customer.subscription.renewed': { title: 'Subscription renewed', body: (v) => `Your subscription to ${v.product} was renewed${until(v, true)}.` },
  'customer.subscription.upgraded': { title: 'Subscription upgraded', body: (v) => `You are now subscribed to ${v.product}.` },
  'customer.subscription.updated': { title: 'Subscription updated', body: (v) => `Your subscription to ${v.product} was updated.` },
  'customer.subscription.transferred': {
    title: 'Subscription moved to this account',
    body: (v) => `Your subscription to ${v.product} now belongs to this account.`,
  },
  'customer.subscription.canceled': {
    title: 'Auto-renewal turned off',
    body: (v) => `Your subscription to ${v.product} will not renew; access continues${until(v, true)}.`,
  },
  'customer.subscription.reactivated': {
    title: 'Auto-renewal turned on',
    body: (v) => `Your subscription to ${v.product} will renew${v.end ? ` on ${v.end}` : ''}.`,
  },
  'customer.subscription.past_due': {
    title: 'Payment failed',
    body: (v) => `We could not renew your subscription to ${v.product}. Please update your payment method.`,
  },
  'customer.subscription.recovered': { title: 'Payment recovered', body: (v) => `Your subscription to ${v.product} was paid and continues${until(v, true)}.` },
  'customer.subscription.deleted': { title: 'Subscription ended', body: (v) => `Your subscription to ${v.product} has ended.` },
  'customer.subscription.trial_will_end': {
    title: 'Your trial ends soon',
    body: (v) => `Your free trial of ${v.product} ends${v.end ? ` on ${v.end}` : ' soon'}; your subscription then renews unless you cancel.`,
  },
  'entitlement.granted': { title: 'Access granted', body: (v) => `You now have access to ${v.product}${until(v, true)}.` },
  'entitlement.revoked': { title: 'Access ended', body: (v) => `Your access to ${v.product} has ended.` },
  'order.paid': { title: 'Payment received', body: (v) => `Your payment for ${v.product} was received.` },
  'order.refunded': { title: 'Payment refunded', body: (v) => `Your payment for ${v.product} was refunded.` },
  'refund.requested': { title: 'Refund requested', body: (v) => `We received your refund request for ${v.product}.` },
  'refund.declined': { title: 'Refund declined', body: (v) => `Your refund request for ${v.product} was declined.` },
  'refund.reversed': { title: 'Refund reversed', body: (v) => `The refund for ${v.product} was reversed.` },
};

const ZH: Record<string, Template> = {
  'customer.subscription.created': { title: '订阅已创建', body: (v) => `您对 ${v.product} 的订阅已创建。` },
  'customer.subscription.started': { title: '订阅已开通', body: (v) => `您的 ${v.product} 订阅已开通${until(v, false)}。` },
  'customer.subscription.renewed': { title: '订阅已续费', body: (v) => `您的 ${v.product} 订阅已续费${until(v, false)}。` },
  'customer.subscription.upgraded': { title: '订阅已升级', body: (v) => `您已升级到 ${v.product}。` },
  'customer.subscription.updated': { title: '订阅已更新', body: (v) => `您的 ${v.product} 订阅已更新。` },
  'customer.subscription.transferred': { title: '订阅已转移到此账户', body: (v) => `您的 ${v.product} 订阅现已归属此账户。` },
  'customer.subscription.canceled': { title: '已关闭自动续费', body: (v) => `您的 ${v.product} 订阅不会再自动续费${v.end ? `，可继续使用至 ${v.end}` : ''}。` },
  'customer.subscription.reactivated': { title: '已开启自动续费', body: (v) => `您的 ${v.product} 订阅将${v.end ? `于 ${v.end} ` : ''}自动续费。` },
  'customer.subscription.past_due': { title: '续费失败', body: (v) => `您的 ${v.product} 订阅续费失败，请更新支付方式。` },
  'customer.subscription.recovered': { title: '续费已恢复', body: (v) => `您的 ${v.product} 订阅已成功付款${until(v, false)}。` },
  'customer.subscription.deleted': { title: '订阅已结束', body: (v) => `您的 ${v.product} 订阅已结束。` },
  'customer.subscription.trial_will_end': {
    title: '试用即将结束',
    body: (v) => `您的 ${v.product} 免费试用将${v.end ? `于 ${v.end} ` : ''}结束，届时订阅将自动续费，除非您取消。`,
  },
  'entitlement.granted': { title: '已获得权益', body: (v) => `您已获得 ${v.product} 权益${until(v, false)}。` },
  'entitlement.revoked': { title: '权益已结束', body: (v) => `您的 ${v.product} 权益已结束。` },
  'order.paid': { title: '支付成功', body: (v) => `您购买 ${v.product} 的付款已到账。` },
  'order.refunded': { title: '已退款', body: (v) => `您购买 ${v.product} 的款项已退还。` },
  'refund.requested': { title: '已申请退款', body: (v) => `我们已收到您对 ${v.product} 的退款申请。` },
  'refund.declined': { title: '退款申请未通过', body: (v) => `您对 ${v.product} 的退款申请未通过。` },
  'refund.reversed': { title: '退款已撤销', body: (v) => `${v.product} 的退款已被撤销。` },
};

/** True for events whose object is a Subscription or an Order. */
export function isUserEvent(event: DomainEvent): event is DomainEvent & { data: { object: Subscription | Order } } {
  return (ENTITY_EVENT_TYPES as readonly string[]).includes(event.type);
}

/** True for `entitlement.granted` / `entitlement.revoked`. */
export function isEntitlementEvent(event: DomainEvent): event is DomainEvent<'entitlement.granted' | 'entitlement.revoked'> {
  return event.type === 'entitlement.granted' || event.type === 'entitlement.revoked';
}

/** The user's locale: the entity's `metadata.locale`, else the configured one. */
export function localeFor(entity: Subscription | Order, fallback: string): string {
  return normalizeLocale(entity.metadata?.locale) ?? fallback;
}

/**
 * Renders the user-facing notification for a Subscription or Order event, in English or Simplified
 * Chinese. Total: never throws, whatever the event holds (it runs inside the commit).
 */
export function renderUserNotification(event: DomainEvent, locale: string): UserNotification {
  const entity = event.data.object as Partial<Subscription & Order>;
  const lang = normalizeLocale(locale) ?? 'en';
  const table = lang === 'zh-CN' ? ZH : EN;
  if (isEntitlementEvent(event)) {
    const e = event.data.object as Partial<EntitlementChange>;
    const template = table[event.type]!;
    const name = typeof e.entitlement === 'string' && e.entitlement ? e.entitlement : lang === 'zh-CN' ? '权益' : 'your plan';
    return {
      userId: typeof e.user_id === 'string' ? e.user_id : null,
      eventType: event.type,
      title: template.title,
      body: template.body({ product: name, end: typeof e.expires_at === 'string' ? e.expires_at.slice(0, 10) : null }),
      locale: lang,
      context: {
        entitlement: e.entitlement ?? null,
        active: e.active ?? null,
        reason: e.reason ?? null,
        expires_at: e.expires_at ?? null,
        subscription_id: e.subscription_id ?? null,
        product_id: e.product_id ?? null,
        provider: event.provider,
        event_id: event.id,
      },
    };
  }
  const isOrder = event.type.startsWith('order.') || event.type.startsWith('refund.');
  const end = typeof entity.current_period_end === 'string' ? entity.current_period_end.slice(0, 10) : null;
  const product = typeof entity.product_id === 'string' && entity.product_id ? entity.product_id : lang === 'zh-CN' ? '订阅' : 'your plan';
  const template = table[event.type] ?? { title: event.type, body: () => event.type };
  const context: Record<string, unknown> = isOrder
    ? {
        order_no: entity.no ?? null,
        product_id: entity.product_id ?? null,
        status: entity.status ?? null,
        amount: entity.amount ?? null,
        currency: entity.currency ?? null,
        paid_at: entity.paid_at ?? null,
      }
    : {
        subscription_id: entity.id ?? null,
        product_id: entity.product_id ?? null,
        status: entity.status ?? null,
        current_period_end: entity.current_period_end ?? null,
        auto_renew: entity.auto_renew ?? null,
      };
  Object.assign(context, { provider: event.provider, event_id: event.id });
  return {
    userId: typeof entity.user_id === 'string' ? entity.user_id : null,
    eventType: event.type,
    title: template.title,
    body: template.body({ product, end }),
    locale: lang,
    context,
  };
}
