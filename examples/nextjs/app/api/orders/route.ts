import { getHooks } from '@/lib/subscriptions.js';

export const runtime = 'nodejs';

/** Step 1 of the "like WeChat Pay" flow: create an order, hand its `no` to StoreKit as appAccountToken. */
export async function POST(req: Request): Promise<Response> {
  const userId = req.headers.get('x-user-id');
  if (!userId) return Response.json({ error: 'sign in first' }, { status: 401 });
  const body = (await req.json().catch(() => ({}))) as { productId?: unknown };
  const order = await getHooks().orders.create({ userId, productId: String(body.productId ?? '') });
  return Response.json({ no: order.no, appAccountToken: order.no }, { status: 201 });
}
