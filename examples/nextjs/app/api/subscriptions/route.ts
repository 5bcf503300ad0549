import { getHooks } from '@/lib/subscriptions.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function GET(req: Request): Promise<Response> {
  const userId = req.headers.get('x-user-id');
  if (!userId) return Response.json({ error: 'sign in first' }, { status: 401 });
  return Response.json(await getHooks().subscriptions.list({ userId }));
}
