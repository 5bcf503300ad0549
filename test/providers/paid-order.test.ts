import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nameUuid, stableId } from '../../src/core/ids.js';
import type { Order } from '../../src/events/types.js';
import { paidOrder } from '../../src/providers/paid-order.js';
import { sampleOrder } from '../../src/testing/store-conformance.js';

const at = '2026-11-27T12:00:00.000Z';

describe('paidOrder', () => {
  it('a new order: id and number derived from provider and transaction id, created = updated = at, nothing else assumed', () => {
    expect(paidOrder({ provider: 'google', tradeNo: 'GPA.1', at })).toStrictEqual({
      id: stableId('ord', 'google', 'GPA.1'),
      no: nameUuid('google:GPA.1'),
      trade_no: 'GPA.1',
      origin_no: null,
      status: 'paid',
      user_id: null,
      product_id: null,
      provider: 'google',
      amount: null,
      currency: null,
      amount_refunded: null,
      refund_reason: null,
      paid_at: null,
      metadata: {},
      subscription_data: null,
      created: at,
      updated: at,
    } satisfies Order);
  });

  it("the payment's facts as given; a new order's number and metadata when given", () => {
    const o = paidOrder({
      provider: 'apple',
      tradeNo: '2000',
      at,
      no: 'token-uuid',
      status: 'refunded',
      originNo: '1000',
      userId: 'u1',
      productId: 'pro',
      amount: 9990,
      currency: 'EUR',
      paidAt: '2026-11-01T00:00:00.000Z',
      metadata: { k: 1 },
    });
    expect(o).toMatchObject({ no: 'token-uuid', status: 'refunded', origin_no: '1000', user_id: 'u1', product_id: 'pro', amount: 9990, currency: 'EUR' });
    expect(o).toMatchObject({ paid_at: '2026-11-01T00:00:00.000Z', metadata: { k: 1 } });
  });

  it('a recorded order keeps its id, number, creation time, refunds, metadata and subscription data; the payment sets the rest', () => {
    const base = sampleOrder('base', { status: 'pending', trade_no: null, amount: 1, user_id: 'app-user' });
    const o = paidOrder({ provider: 'apple', tradeNo: 'T', at, no: 'ignored', amount: 2, userId: 'other', metadata: { ignored: true } }, base);
    expect(o).toStrictEqual({
      ...base,
      trade_no: 'T',
      origin_no: null,
      status: 'paid',
      user_id: 'other',
      product_id: null,
      amount: 2,
      currency: null,
      paid_at: null,
      updated: at,
    });
  });

  it('property: the same transaction names the same order from every entry point; another transaction another one', () => {
    fc.assert(
      fc.property(fc.constantFrom('apple', 'google', 'xsolla' as const), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (provider, a, b) => {
        const x = paidOrder({ provider, tradeNo: a, at });
        const y = paidOrder({ provider, tradeNo: a, at: '2030-01-01T00:00:00.000Z', amount: 5 });
        expect([y.id, y.no]).toEqual([x.id, x.no]);
        if (a !== b) expect(paidOrder({ provider, tradeNo: b, at }).id).not.toBe(x.id);
      }),
    );
  });
});
