/**
 * Apple notifications that used to be received only, on every store through real HTTP:
 * RESCIND_CONSENT (the app transaction verified and decoded, `customer.consent.rescinded`, the app
 * account's entitlements revoked) and the Advanced Commerce METADATA_UPDATE / MIGRATION / PRICE_CHANGE
 * (what they carry surfaced on the subscription, `customer.subscription.updated` only when a user would
 * see a change).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConsentRescinded, DomainEvent, EntitlementChange, Subscription } from '../../../src/index.js';
import { APP_APPLE_ID, appleHarness, BUNDLE_ID, PRODUCT, types } from '../../helpers/apple-harness.js';
import { EVERY_STORE } from '../../helpers/databases.js';

const R = 'provider.notification.received';
const U = 'customer.subscription.updated';
const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] } };
const changes = (events: DomainEvent[]) =>
  events
    .filter((e) => e.type.startsWith('entitlement.'))
    .map(
      (e) =>
        `${e.type === 'entitlement.granted' ? '+' : '-'}${(e.data.object as EntitlementChange).entitlement}:${(e.data.object as EntitlementChange).reason}`,
    );
const uid = () => `u_${Math.random().toString(36).slice(2)}`;

for (const [storeName, makeStore] of EVERY_STORE) {
  describe(`Apple RESCIND_CONSENT, METADATA_UPDATE, MIGRATION, PRICE_CHANGE (${storeName})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((o) => o.close()));
    });

    async function setup() {
      const made = await makeStore();
      open.push(made);
      return appleHarness({ store: made.store, config: { products: PRODUCTS, lifecycle: { intervalMs: null } } });
    }
    type H = Awaited<ReturnType<typeof setup>>;

    async function subscribe(h: H, userId: string, appTransactionId: string) {
      const order = await h.hooks.orders.create({ userId, productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction({ appTransactionId });
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal({ appTransactionId }) });
      expect(r.status).toBe(200);
      return { c, tx };
    }

    const rescind = async (h: H, appTransaction: Record<string, unknown>, opts: { uuid?: string } = {}) =>
      h.notify('RESCIND_CONSENT', undefined, undefined, {
        ...opts,
        extra: {
          appData: {
            appAppleId: APP_APPLE_ID,
            bundleId: BUNDLE_ID,
            environment: 'Production',
            signedAppTransactionInfo: await h.signer.sign({
              receiptType: 'Production',
              appAppleId: APP_APPLE_ID,
              bundleId: BUNDLE_ID,
              originalPlatform: 'iOS',
              ...appTransaction,
            }),
          },
        },
      });

    it("RESCIND_CONSENT: customer.consent.rescinded with the decoded app transaction and the user; that app account's entitlements are revoked, another account's kept; a later renewal grants again", async () => {
      const h = await setup();
      const [a, b] = [uid(), uid()];
      const first = await subscribe(h, a, 'app-tx-a');
      await subscribe(h, a, 'app-tx-a');
      await subscribe(h, b, 'app-tx-b');
      expect(await h.hooks.entitlements.has(a, 'pro')).toBe(true);
      // The store is asked for that app account's subscriptions only, never for every Apple subscription.
      const asked: unknown[] = [];
      const list = h.store.listSubscriptions.bind(h.store);
      h.store.listSubscriptions = (f) => (asked.push(f), list(f));
      const uuid = crypto.randomUUID();
      const r = await rescind(h, { appTransactionId: 'app-tx-a' }, { uuid });
      expect(r.status).toBe(200);
      expect(asked).toEqual([{ provider: 'apple', appTransactionId: 'app-tx-a' }]);
      expect(types(r.events)).toEqual([R, 'customer.consent.rescinded', 'entitlement.revoked']);
      const consent = r.events[1]!.data.object as ConsentRescinded;
      expect(consent).toMatchObject({
        user_id: a,
        app_transaction: { appTransactionId: 'app-tx-a', bundleId: BUNDLE_ID, originalPlatform: 'iOS' },
        app_apple_id: APP_APPLE_ID,
        bundle_id: BUNDLE_ID,
        environment: 'Production',
      });
      expect(consent.revoked_subscription_ids).toHaveLength(2);
      expect(changes(r.events)).toEqual(['-pro:revoked']);
      expect((r.events[0]!.data.object as { appData: { appTransactionInfo: unknown } }).appData.appTransactionInfo).toMatchObject({
        appTransactionId: 'app-tx-a',
      });
      expect(await h.hooks.entitlements.has(a, 'pro')).toBe(false);
      expect(await h.hooks.entitlements.has(b, 'pro')).toBe(true);
      const sub = (await h.hooks.subscriptions.get(first.c.originalTransactionId))!;
      expect(sub.status).toBe('active'); // Apple's state is unchanged; the access is what was withdrawn
      expect(typeof sub.metadata.consent_rescinded_at).toBe('string');
      expect((await h.store.listEvents({ type: 'customer.consent.rescinded' })).map((e) => e.id)).toEqual([r.events[1]!.id]);
      // Redelivered: nothing again.
      const again = await rescind(h, { appTransactionId: 'app-tx-a' }, { uuid });
      expect(again.body.data.duplicate).toBe(true);
      expect(again.events).toEqual([]);
      // A renewal signed after the rescission (consent given again) grants again.
      const renewed = await h.notify('DID_RENEW', undefined, {
        transaction: first.c.transaction({ appTransactionId: 'app-tx-a' }),
        renewalInfo: first.c.renewal(),
      });
      expect(changes(renewed.events)).toEqual(['+pro:active']);
      expect(await h.hooks.entitlements.has(a, 'pro')).toBe(true);
    });

    it("RESCIND_CONSENT for an app account we know nothing of: the event with user_id null, nothing revoked; another app's app transaction is refused (400) and records nothing", async () => {
      const h = await setup();
      const user = uid();
      await subscribe(h, user, 'app-tx-known');
      const r = await rescind(h, { appTransactionId: 'app-tx-unknown' });
      expect(types(r.events)).toEqual([R, 'customer.consent.rescinded']);
      expect(r.events[1]!.data.object).toMatchObject({ user_id: null, revoked_subscription_ids: [] });
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
      const before = await h.store.countNotifications('apple');
      const foreign = await rescind(h, { appTransactionId: 'app-tx-known', bundleId: 'com.other.app' });
      expect(foreign.status).toBe(400);
      expect(foreign.body.data).toMatchObject({ processed: false, error: 'BUNDLE_ID_MISMATCH' });
      expect(await h.store.countNotifications('apple')).toBe(before);
      expect(await h.hooks.entitlements.has(user, 'pro')).toBe(true);
    });

    it('PRICE_CHANGE: the pending price is surfaced (metadata.pending_price) and customer.subscription.updated carries the old one; the same price again emits nothing', async () => {
      const h = await setup();
      const { c, tx } = await subscribe(h, uid(), 'app-tx-p');
      const r = await h.notify('PRICE_CHANGE', undefined, { transaction: tx, renewalInfo: c.renewal({ renewalPrice: 12990, currency: 'USD' }) });
      expect(types(r.events)).toEqual([R, U]);
      expect((r.events[1]!.data.object as Subscription).metadata).toMatchObject({ pending_price: { amount: 12990, currency: 'USD' } });
      expect(r.events[1]!.data.previous_attributes).toEqual({ metadata: { pending_price: null } });
      const same = await h.notify('PRICE_CHANGE', undefined, { transaction: tx, renewalInfo: c.renewal({ renewalPrice: 12990, currency: 'USD' }) });
      expect(types(same.events)).toEqual([R]);
      const lower = await h.notify('PRICE_CHANGE', undefined, { transaction: tx, renewalInfo: c.renewal({ renewalPrice: 8990, currency: 'USD' }) });
      expect(types(lower.events)).toEqual([R, U]);
      expect(lower.events[1]!.data.previous_attributes).toEqual({ metadata: { pending_price: { amount: 12990, currency: 'USD' } } });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))!.metadata.pending_price).toEqual({ amount: 8990, currency: 'USD' });
      // Older than what was applied: changes nothing.
      const stale = await h.notify(
        'PRICE_CHANGE',
        undefined,
        { transaction: tx, renewalInfo: c.renewal({ renewalPrice: 1 }) },
        { signedDate: tx.purchaseDate - 1000 },
      );
      expect(types(stale.events)).toEqual([R]);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))!.metadata.pending_price).toEqual({ amount: 8990, currency: 'USD' });
    });

    it("METADATA_UPDATE: the plan's new display name and description (Advanced Commerce descriptors) are surfaced; MIGRATION: commitment plan fields and the previous original transaction id", async () => {
      const h = await setup();
      const { c, tx } = await subscribe(h, uid(), 'app-tx-m');
      const named = await h.notify('METADATA_UPDATE', undefined, {
        transaction: { ...tx, advancedCommerceInfo: { descriptors: { displayName: 'Pro Plus', description: 'Everything' } } },
        renewalInfo: c.renewal({ advancedCommerceInfo: { descriptors: { displayName: 'Pro Plus', description: 'Everything' } } }),
      });
      expect(types(named.events)).toEqual([R, U]);
      expect((named.events[1]!.data.object as Subscription).metadata.descriptors).toEqual({ display_name: 'Pro Plus', description: 'Everything' });
      const migrated = await h.notify('MIGRATION', undefined, {
        transaction: {
          ...tx,
          previousOriginalTransactionId: 'old-otid-1',
          billingPlanType: 'MONTHLY',
          commitmentInfo: {
            billingPeriodNumber: 1,
            totalBillingPeriods: 12,
            commitmentPrice: 119880,
            commitmentExpiresDate: tx.purchaseDate + 365 * 86_400_000,
          },
        },
        renewalInfo: c.renewal({
          renewalBillingPlanType: 'MONTHLY',
          commitmentInfo: { commitmentRenewalPrice: 119880, commitmentAutoRenewStatus: 1, commitmentRenewalBillingPlanType: 'MONTHLY' },
        }),
      });
      expect(types(migrated.events)).toEqual([R, U]);
      const after = (await h.hooks.subscriptions.get(c.originalTransactionId))!;
      expect(after.metadata).toMatchObject({
        billing_plan_type: 'MONTHLY',
        renewal_billing_plan_type: 'MONTHLY',
        previous_contract_id: 'old-otid-1',
        commitment: { billingPeriodNumber: 1, totalBillingPeriods: 12, commitmentPrice: 119880 },
        renewal_commitment: { commitmentRenewalPrice: 119880, commitmentAutoRenewStatus: 1 },
        descriptors: { display_name: 'Pro Plus' },
      });
      expect(Object.keys((migrated.events[1]!.data.previous_attributes as Partial<Subscription>).metadata!).sort()).toEqual([
        'billing_plan_type',
        'commitment',
        'previous_contract_id',
        'renewal_billing_plan_type',
        'renewal_commitment',
      ]);
      expect(after.status).toBe('active');
    });
  });
}
