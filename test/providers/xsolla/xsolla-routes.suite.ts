import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Order, Store, Subscription } from '../../../src/index.js';
import { signXsollaBody } from '../../../src/testing/index.js';
import { PLAN, PLAN_PRO, PROJECT_ID, SECRET, types, xsollaHarness, type XsollaHarness } from '../../helpers/xsolla-harness.js';

const R = 'provider.notification.received';
const S = (s: string) => `customer.subscription.${s}`;
const DAY = 86_400_000;

/**
 * Every row of EVENTS.md § Xsolla, through real Express over HTTP, on the given store: the HTTP
 * answer, the events (types and order) and the resulting subscription and order state; and every
 * rejection (signature, project, body) leaving no row.
 */
export function xsollaRouteSuite(storeName: string, makeStore: () => Promise<Store>) {
  describe(`Xsolla webhooks through Express (${storeName})`, () => {
    const setup = async (opts: { userExists?: (id: string) => Promise<boolean> } = {}) => xsollaHarness({ store: await makeStore(), ...opts });
    const sub = (h: XsollaHarness, id: string) => h.hooks.subscriptions.get(id, 'xsolla');
    const order = async (h: XsollaHarness, tradeNo: number): Promise<Order | null> => {
      const events = await h.store.listEvents();
      const found = events
        .filter((e) => e.type === 'order.paid' || e.type === 'order.refunded')
        .map((e) => e.data.object as Order)
        .find((o) => o.trade_no === String(tradeNo));
      return found ? h.hooks.orders.get(found.no) : null;
    };

    async function created(h: XsollaHarness, init: Parameters<XsollaHarness['contract']>[0] = {}) {
      const c = h.contract(init);
      const r = await h.post(c.create());
      expect(r.status).toBe(204);
      return { c, r };
    }

    it('user_validation: 204 when userExists says yes, 400 INVALID_USER when no; nothing recorded either way', async () => {
      const h = await setup({ userExists: async (id) => id === 'known' });
      const yes = await h.post(h.userValidation('known'));
      expect(yes.status).toBe(204);
      expect(yes.text).toBe('');
      const no = await h.post(h.userValidation('stranger'));
      expect(no.status).toBe(400);
      expect(no.body).toEqual({ error: { code: 'INVALID_USER', message: expect.stringContaining('stranger') } });
      expect(yes.events).toEqual([]);
      expect(no.events).toEqual([]);
      expect(await h.nothingRecorded()).toBe(true);
    });

    it('user_validation without a userExists hook: 204', async () => {
      const h = await setup();
      const r = await h.post(h.userValidation('anyone'));
      expect(r.status).toBe(204);
      expect(await h.nothingRecorded()).toBe(true);
    });

    it("create_subscription: 204 no body; created, started; active for Xsolla's user.id, keyed by subscription_id", async () => {
      const h = await setup();
      const { c, r } = await created(h);
      expect(r.text).toBe('');
      expect(types(r.events)).toEqual([R, S('created'), S('started')]);
      expect(r.events.every((e) => e.provider === 'xsolla' && e.livemode && e.source.notification_type === 'create_subscription')).toBe(true);
      const s = await sub(h, c.subscriptionId);
      expect(s).toMatchObject({ provider: 'xsolla', contract_id: c.subscriptionId, user_id: c.userId, product_id: PLAN, status: 'active', auto_renew: true });
      expect(s?.current_period_end).toBe(new Date(c.nextCharge()).toISOString());
      expect(s?.metadata).toMatchObject({ xsolla_product_id: 'Demo Product' });
      expect(r.events[0]!.data.object).toMatchObject({ notification_type: 'create_subscription', subscription: { subscription_id: c.subscriptionId } });
      expect((await h.store.listEvents()).map((e) => e.id)).toEqual(r.events.map((e) => e.id));
    });

    it('create_subscription with a trial: trialing', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.post(c.create({ trial: { value: 90, type: 'day' }, is_gift: true }));
      expect(types(r.events)).toEqual([R, S('created'), S('started')]);
      expect((await sub(h, c.subscriptionId))?.status).toBe('trialing');
    });

    it('a redelivered notification answers 204, records no second row and emits nothing', async () => {
      const h = await setup();
      const { c } = await created(h);
      const body = JSON.stringify(c.create());
      const inbox = await h.store.countNotifications('xsolla');
      const again = await h.post(body);
      expect(again.status).toBe(204);
      expect(again.events).toEqual([]);
      expect(await h.store.countNotifications('xsolla')).toBe(inbox);
      expect(types(await h.store.listEvents())).toEqual([R, S('created'), S('started')]);
    });

    it('concurrent redeliveries of one notification commit exactly one set of events', async () => {
      const h = await setup();
      const c = h.contract();
      const body = JSON.stringify(c.create());
      const results = await Promise.all(Array.from({ length: 6 }, () => h.post(body)));
      expect(results.map((x) => x.status)).toEqual(Array(6).fill(204));
      expect(types(await h.store.listEvents())).toEqual([R, S('created'), S('started')]);
    });

    it('update_subscription with date_next_charge moved forward: renewed; the period moves forward; trial ends', async () => {
      const h = await setup();
      const c = h.contract();
      await h.post(c.create({ trial: { value: 7, type: 'day' } }));
      const oldEnd = (await sub(h, c.subscriptionId))!.current_period_end;
      const r = await h.post(c.update(30));
      expect(r.status).toBe(204);
      expect(types(r.events)).toEqual([R, S('renewed')]);
      const s = await sub(h, c.subscriptionId);
      expect(s).toMatchObject({ status: 'active', current_period_start: oldEnd, current_period_end: new Date(c.nextCharge()).toISOString() });
      expect(r.events[1]!.data.previous_attributes).toMatchObject({ current_period_end: oldEnd, status: 'trialing' });
    });

    it('update_subscription with a new plan and a new period: upgraded (previous product_id), then renewed', async () => {
      const h = await setup();
      const { c } = await created(h);
      const r = await h.post(c.update(30, { plan_id: PLAN_PRO }));
      expect(types(r.events)).toEqual([R, S('upgraded'), S('renewed')]);
      expect(r.events[1]!.data.previous_attributes).toEqual({ product_id: PLAN });
      expect(await sub(h, c.subscriptionId)).toMatchObject({ product_id: PLAN_PRO, status: 'active' });
    });

    it('update_subscription with a new plan and the same date: updated with previous product_id', async () => {
      const h = await setup();
      const { c } = await created(h);
      const r = await h.post(c.update(0, { plan_id: PLAN_PRO }));
      expect(types(r.events)).toEqual([R, S('updated')]);
      expect(r.events[1]!.data.previous_attributes).toEqual({ product_id: PLAN });
      expect((await sub(h, c.subscriptionId))?.product_id).toBe(PLAN_PRO);
    });

    it('a stale update_subscription (older date_next_charge than recorded) is acknowledged and changes nothing', async () => {
      const h = await setup();
      const { c } = await created(h);
      await h.post(c.update(30));
      const before = await sub(h, c.subscriptionId);
      const stale = await h.post(c.update(-15, { plan_id: PLAN_PRO }));
      expect(stale.status).toBe(204);
      expect(types(stale.events)).toEqual([R]);
      const after = await sub(h, c.subscriptionId);
      expect(after).toMatchObject({ product_id: PLAN, current_period_end: before!.current_period_end, status: 'active' });
      expect(await h.store.countNotifications('xsolla')).toBe(3);
    });

    it('update_subscription for a subscription never seen: created, then renewed', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.post(c.update(30));
      expect(types(r.events)).toEqual([R, S('created'), S('renewed')]);
      expect(await sub(h, c.subscriptionId)).toMatchObject({ status: 'active', user_id: c.userId });
    });

    it('cancel_subscription with date_end in the future: canceled; access until date_end', async () => {
      const h = await setup();
      const { c } = await created(h);
      const end = h.now + 10 * DAY;
      const r = await h.post(c.cancel(end));
      expect(types(r.events)).toEqual([R, S('canceled')]);
      expect(await sub(h, c.subscriptionId)).toMatchObject({ status: 'canceled', auto_renew: false, current_period_end: new Date(end).toISOString() });
      expect(r.events[1]!.data.previous_attributes).toMatchObject({ status: 'active', auto_renew: true });
    });

    it('cancel_subscription with date_end in the past: deleted; expired; later updates change nothing', async () => {
      const h = await setup();
      const { c } = await created(h);
      const r = await h.post(c.cancel(h.now - DAY));
      expect(types(r.events)).toEqual([R, S('deleted')]);
      expect((r.events[1]!.data.object as Subscription).status).toBe('expired');
      expect(await sub(h, c.subscriptionId)).toMatchObject({ status: 'expired', auto_renew: false });
      const late = await h.post(c.update(60));
      expect(types(late.events)).toEqual([R]);
      expect((await sub(h, c.subscriptionId))?.status).toBe('expired');
    });

    it('non_renewal_subscription: canceled; auto_renew off, access until date_next_charge', async () => {
      const h = await setup();
      const { c } = await created(h);
      const r = await h.post(c.nonRenewal());
      expect(types(r.events)).toEqual([R, S('canceled')]);
      expect(await sub(h, c.subscriptionId)).toMatchObject({ status: 'canceled', auto_renew: false });
    });

    it('payment: order.paid keyed by transaction.id, linked to the subscription; amount in milliunits', async () => {
      const h = await setup();
      const { c } = await created(h);
      const r = await h.post(c.payment(87654321));
      expect(r.status).toBe(204);
      expect(types(r.events)).toEqual([R, 'order.paid']);
      const o = r.events[1]!.data.object as Order;
      expect(o).toMatchObject({
        provider: 'xsolla',
        trade_no: '87654321',
        origin_no: c.subscriptionId,
        status: 'paid',
        user_id: c.userId,
        product_id: PLAN,
        amount: 9990,
        currency: 'USD',
      });
      expect(await order(h, 87654321)).toMatchObject({ status: 'paid', amount: 9990 });
      expect(r.events.every((e) => e.livemode)).toBe(true);
      expect((await sub(h, c.subscriptionId))?.latest_transaction_id).toBe('87654321');
      const again = await h.post(c.payment(87654321));
      expect(again.status).toBe(204);
      expect(again.events).toEqual([]);
    });

    it('payment with transaction.dry_run = 1: livemode false, inbox environment Sandbox', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.post(c.payment(555, { dryRun: true, amount: 0.25 }));
      expect(types(r.events)).toEqual([R, 'order.paid']);
      expect(r.events.every((e) => e.livemode === false)).toBe(true);
      expect((r.events[1]!.data.object as Order).amount).toBe(250);
      expect((await h.store.getNotification('xsolla', 'payment:555'))?.environment).toBe('Sandbox');
    });

    it('per-subscription notification settings through the order named by external_id: subscription created before the payment', async () => {
      const h = await setup();
      const c = h.contract();
      await h.post(c.create());
      const pending = await h.hooks.orders.create({
        userId: c.userId,
        productId: PLAN,
        provider: 'xsolla',
        subscription_data: { notification_settings: { self_handle: true, include_events: ['customer.subscription.renewed'] } },
      });
      await h.post(c.payment(881, { externalId: pending.no }));
      expect((await sub(h, c.subscriptionId))?.notification_settings).toEqual({ self_handle: true, include_events: ['customer.subscription.renewed'] });
      const renewed = await h.post(c.update(30));
      expect(types(renewed.events)).toEqual([R, 'customer.subscription.renewed', 'manual.notification']);
      expect((renewed.events[2]!.data.object as { type: string }).type).toBe('customer.subscription.renewed');
    });

    it('per-subscription notification settings through the order named by external_id: payment before the subscription (found by its subscription id)', async () => {
      const h = await setup();
      const c = h.contract();
      const pending = await h.hooks.orders.create({
        userId: c.userId,
        productId: PLAN,
        provider: 'xsolla',
        subscriptionData: { notificationSettings: { self_handle: true, include_events: ['customer.subscription.started'] } },
        metadata: { setting_id: 'set_from_order' },
      });
      await h.post(c.payment(882, { externalId: pending.no }));
      const created = await h.post(c.create());
      // A store without the optional getLatestOrderByOriginNo keeps the documented fallback: no settings from the order.
      if (!(await h.store.transaction(async (tx) => typeof tx.getLatestOrderByOriginNo === 'function'))) {
        expect(types(created.events)).toEqual([R, 'customer.subscription.created', 'customer.subscription.started']);
        return;
      }
      expect(types(created.events)).toEqual([R, 'customer.subscription.created', 'customer.subscription.started', 'manual.notification']);
      expect(await sub(h, c.subscriptionId)).toMatchObject({
        notification_settings: { self_handle: true, include_events: ['customer.subscription.started'] },
        setting_id: 'set_from_order',
      });
    });

    it('payment whose transaction.external_id is an order the app created: that order is paid', async () => {
      const h = await setup();
      const c = h.contract();
      const pending = await h.hooks.orders.create({ userId: c.userId, productId: PLAN, provider: 'xsolla' });
      const r = await h.post(c.payment(777, { externalId: pending.no }));
      expect(types(r.events)).toEqual([R, 'order.paid']);
      expect(await h.hooks.orders.get(pending.no)).toMatchObject({ id: pending.id, status: 'paid', trade_no: '777', amount: 9990 });
    });

    it('refund: order.refunded; the order is refunded', async () => {
      const h = await setup();
      const c = h.contract();
      await h.post(c.payment(4242));
      const r = await h.post(c.refund(4242));
      expect(r.status).toBe(204);
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(await order(h, 4242)).toMatchObject({ status: 'refunded', amount: 9990, amount_refunded: 9990, refund_reason: 'canceled_by_request' });
      expect(r.events[0]!.livemode).toBe(false);
    });

    it('refund_details.code reaches the order as refund_reason (chargeback, fraud; an undocumented code kept as xsolla_<code>)', async () => {
      const h = await setup();
      const c = h.contract();
      for (const [trade, code, reason] of [
        [5001, 2, 'chargeback'],
        [5002, 4, 'potential_fraud'],
        [5003, 12, 'friendly_fraud'],
        [5004, 99, 'xsolla_99'],
      ] as const) {
        await h.post(c.payment(trade));
        const r = await h.post(c.refund(trade, 'refund', 9.99, code));
        expect(r.status).toBe(204);
        expect(r.events[1]!.data.object).toMatchObject({ status: 'refunded', refund_reason: reason });
        expect(await order(h, trade)).toMatchObject({ status: 'refunded', refund_reason: reason });
      }
    });

    it('partial_refund: order.refunded; the order is partially_refunded with the amount; partial refunds add up, reaching the amount makes it refunded', async () => {
      const h = await setup();
      const c = h.contract();
      await h.post(c.payment(4343));
      const r = await h.post(c.refund(4343, 'partial_refund', 2.5, 9));
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(r.events[1]!.source.notification_type).toBe('partial_refund');
      expect(r.events[1]!.data.object).toMatchObject({ status: 'partially_refunded', amount_refunded: 2500 });
      expect(await order(h, 4343)).toMatchObject({ status: 'partially_refunded', amount: 9990, amount_refunded: 2500, refund_reason: 'requested_by_customer' });
      const second = await h.post(c.refund(4343, 'partial_refund', 1.5));
      expect(types(second.events)).toEqual([R, 'order.refunded']);
      expect(await order(h, 4343)).toMatchObject({ status: 'partially_refunded', amount_refunded: 4000 });
      const rest = await h.post(c.refund(4343, 'partial_refund', 5.99));
      expect(rest.status).toBe(204);
      expect(await order(h, 4343)).toMatchObject({ status: 'refunded', amount_refunded: 9990 });
    });

    it('partial_refund out of order: before the payment it records the order partially refunded at the plan price; the late payment adds no order.paid', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.post(c.refund(4444, 'partial_refund', 3));
      expect(r.status).toBe(204);
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(await order(h, 4444)).toMatchObject({ status: 'partially_refunded', amount: 9990, amount_refunded: 3000 });
      const late = await h.post(c.payment(4444));
      expect(late.status).toBe(204);
      expect(types(late.events)).toEqual([R]);
      expect(await order(h, 4444)).toMatchObject({ status: 'partially_refunded', amount: 9990, amount_refunded: 3000 });
      expect((await h.store.listEvents({ type: 'order.paid' })).length).toBe(0);
    });

    it('a refund for a transaction never seen records the refunded order; the late payment adds nothing', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.post(c.refund(9191));
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      const late = await h.post(c.payment(9191));
      expect(late.status).toBe(204);
      expect(types(late.events)).toEqual([R]);
      expect(await order(h, 9191)).toMatchObject({ status: 'refunded', amount: 9990, amount_refunded: 9990 });
    });

    it('any other notification_type: recorded, 204, provider.notification.received only', async () => {
      const h = await setup();
      const body = { notification_type: 'afs_reject', settings: h.settings, user: { id: 'u1' }, transaction: { id: 1, date: '2023-03-29T12:00:00+03:00' } };
      const r = await h.post(body);
      expect(r.status).toBe(204);
      expect(types(r.events)).toEqual([R]);
      const text = JSON.stringify(body);
      expect(await h.store.getNotification('xsolla', `sha256:${createHash('sha256').update(text).digest('hex')}`)).toMatchObject({
        notification_type: 'afs_reject',
        raw_body: text,
      });
    });

    describe("rejections: 400 in Xsolla's error format, nothing recorded", () => {
      it('a wrong signature → INVALID_SIGNATURE', async () => {
        const h = await setup();
        const body = JSON.stringify(h.contract().create());
        const r = await h.post(body, { authorization: signXsollaBody(body, 'another-secret') });
        expect(r.status).toBe(400);
        expect(r.body).toEqual({ error: { code: 'INVALID_SIGNATURE', message: expect.any(String) } });
        expect(await h.nothingRecorded()).toBe(true);
      });

      it('a signature over re-serialized JSON instead of the raw bytes → INVALID_SIGNATURE', async () => {
        const h = await setup();
        const raw = JSON.stringify(h.contract().create(), null, 2);
        const r = await h.post(raw, { authorization: signXsollaBody(JSON.stringify(JSON.parse(raw)), SECRET) });
        expect(r.status).toBe(400);
        expect(r.body.error?.code).toBe('INVALID_SIGNATURE');
        expect(await h.nothingRecorded()).toBe(true);
        expect((await h.post(raw)).status).toBe(204);
      });

      it('a missing or garbled Authorization header → INVALID_SIGNATURE', async () => {
        const h = await setup();
        const body = JSON.stringify(h.contract().create());
        const hex = signXsollaBody(body, SECRET).slice('Signature '.length);
        for (const authorization of [
          null,
          '',
          hex,
          `Bearer ${hex}`,
          `Signature ${hex.slice(0, 39)}`,
          `Signature ${hex}0`,
          `Signature ${hex.slice(0, 38)}zz`,
          `Signature:${hex}`,
        ]) {
          const r = await h.post(body, { authorization });
          expect(r.status, String(authorization)).toBe(400);
          expect(r.body.error?.code, String(authorization)).toBe('INVALID_SIGNATURE');
        }
        expect(await h.nothingRecorded()).toBe(true);
      });

      it('hex and scheme letter case: lower, UPPER and mixed hex and any-case "Signature" are accepted (same digest)', async () => {
        const h = await setup();
        const c = h.contract();
        const bodies = [c.create(), c.update(30), c.update(30), c.update(30)].map((b) => JSON.stringify(b));
        const hexOf = (b: string) => signXsollaBody(b, SECRET).slice('Signature '.length);
        const mixed = (hex: string) => [...hex].map((ch, i) => (i % 2 ? ch.toUpperCase() : ch)).join('');
        const headers = [
          `Signature ${hexOf(bodies[0]!)}`,
          `Signature ${hexOf(bodies[1]!).toUpperCase()}`,
          `Signature ${mixed(hexOf(bodies[2]!))}`,
          `SIGNATURE  ${hexOf(bodies[3]!)} `,
        ];
        for (let i = 0; i < bodies.length; i++) expect((await h.post(bodies[i]!, { authorization: headers[i]! })).status, headers[i]).toBe(204);
        expect(await h.store.countNotifications('xsolla')).toBe(4);
      });

      it('a body for another project → INVALID_PARAMETER', async () => {
        const h = await setup();
        const body = { ...h.contract().create(), settings: { project_id: PROJECT_ID + 1, merchant_id: 2340 } };
        const r = await h.post(body);
        expect(r.status).toBe(400);
        expect(r.body).toEqual({ error: { code: 'INVALID_PARAMETER', message: expect.stringContaining('project_id') } });
        expect(await h.nothingRecorded()).toBe(true);
      });

      it('a malformed body → INVALID_PARAMETER naming the zod path', async () => {
        const h = await setup();
        const c = h.contract();
        const noId = c.create() as { subscription: Record<string, unknown> };
        delete noId.subscription.subscription_id;
        const r = await h.post(noId);
        expect(r.status).toBe(400);
        expect(r.body.error).toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('subscription.subscription_id') });
        const badDate = await h.post(c.update(0, { date_next_charge: 'tomorrow' }));
        expect(badDate.body.error).toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('subscription.date_next_charge') });
        const noTx = await h.post({ notification_type: 'payment', settings: h.settings, user: { id: 'u' } });
        expect(noTx.body.error).toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('transaction') });
        for (const raw of ['not json', '[1,2]', '']) {
          const x = await h.post(raw);
          expect(x.status, raw).toBe(400);
          expect(x.body.error?.code, raw).toBe('INVALID_PARAMETER');
        }
        expect(await h.nothingRecorded()).toBe(true);
      });
    });
  });
}
