import type { Provider } from '../events/types.js';
import type { SubscriptionWebhooks } from '../core/handler.js';
import type { ReconcileResult } from '../providers/apple/reconcile.js';
import type { AdminRole } from './dashboard.js';
import { deliveryStatusParam, notificationStatusParam, pageParam, pathParts, providerParam } from './params.js';
import { h, qs, type Html } from './html.js';
import type { AdminReadModel, Overview } from './read-model.js';

/** What every page needs: where it is mounted, the caller's role, the form token, the time. */
export interface PageContext {
  base: string;
  role: Exclude<AdminRole, 'denied'>;
  csrf: string;
  now: number;
}

const NAV: Array<[string, string]> = [
  ['/', 'Overview'],
  ['/notifications', 'Notifications'],
  ['/subscriptions', 'Subscriptions'],
  ['/orders', 'Orders'],
  ['/deliveries', 'Deliveries'],
  ['/endpoints', 'Endpoints'],
  ['/apple', 'Apple'],
  ['/audit', 'Audit log'],
];

function layout(ctx: PageContext, title: string, body: Html | Array<Html | null>): Html {
  return h`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · subscription-webhooks</title><link rel="icon" href="${ctx.base}/assets/favicon.svg"><link rel="stylesheet" href="${ctx.base}/assets/dashboard.css"><script src="${ctx.base}/assets/dashboard.js" defer></script></head>
<body><header><strong>subscription-webhooks</strong><nav>${NAV.map(([p, label]) => h`<a href="${ctx.base}${p === '/' ? '/' : p}">${label}</a>`)}</nav><span class="mut">${ctx.role}</span></header>
<main><h1>${title}</h1>${body}</main></body></html>`;
}

/** A POST button with the form token; shown to the read-write role only. */
function action(ctx: PageContext, path: string, label: string, confirm?: string, danger = false): Html | null {
  if (ctx.role !== 'read-write') return null;
  return h`<form class="inline" method="post" action="${ctx.base}${path}"${confirm ? h` data-confirm="${confirm}"` : null}><input type="hidden" name="csrf" value="${ctx.csrf}"><button${danger ? h` class="danger"` : null}>${label}</button></form>`;
}

function table(head: string[], rows: Html[]): Html {
  return h`<div class="tbl"><table><thead><tr>${head.map((x) => h`<th>${x}</th>`)}</tr></thead><tbody>${rows.length ? rows : h`<tr><td colspan="${head.length}" class="mut">Nothing here.</td></tr>`}</tbody></table></div>`;
}

function more(ctx: PageContext, path: string, q: URLSearchParams, next: string | null): Html | null {
  if (!next) return null;
  const p = new URLSearchParams(q);
  p.set('after', next);
  return h`<p><a rel="next" href="${ctx.base}${path}?${p.toString()}">Older →</a></p>`;
}

const enc = encodeURIComponent;
const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

/** Notifications per hour over 48 hours as inline SVG bars (one per hour, oldest left). */
function hourChart(rows: Overview['notificationsPerHour'], now: number): Html {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.hour, (counts.get(r.hour) ?? 0) + r.count);
  const hours = Array.from({ length: 48 }, (_, i) => new Date(now - (47 - i) * 3_600_000).toISOString().slice(0, 13));
  const max = Math.max(1, ...hours.map((x) => counts.get(x) ?? 0));
  const bars = hours.map((x, i) => {
    const c = counts.get(x) ?? 0;
    const height = Math.round((c / max) * 80);
    return h`<rect class="bar" x="${i * 10}" y="${90 - height}" width="8" height="${height}"><title>${x}:00Z ${c}</title></rect>`;
  });
  return h`<svg viewBox="0 0 480 104" role="img" aria-label="Notifications per hour, last 48 hours">${bars}<text x="0" y="102">-48 h</text><text x="440" y="102">now</text><text x="0" y="9">${max}</text></svg>`;
}

/** Rejections by code as inline SVG horizontal bars (codes summed over providers, most first). */
function rejectionChart(rows: Overview['rejections']): Html | null {
  const byCode = new Map<string, number>();
  for (const r of rows) byCode.set(r.code, (byCode.get(r.code) ?? 0) + r.count);
  const codes = [...byCode].sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (codes.length === 0) return null;
  const max = Math.max(1, ...codes.map(([, c]) => c));
  const bars = codes.map(([code, c], i) => {
    const width = Math.max(2, Math.round((c / max) * 280));
    return h`<text x="0" y="${i * 18 + 13}">${code}</text><rect class="bar bad" x="190" y="${i * 18 + 3}" width="${width}" height="12"><title>${code}: ${c}</title></rect><text x="${194 + width}" y="${i * 18 + 13}">${c}</text>`;
  });
  return h`<svg viewBox="0 0 520 ${codes.length * 18 + 4}" role="img" aria-label="Rejections by code, last 48 hours">${bars}</svg>`;
}

/**
 * Decodes JWS strings nested in a payload (Apple's signedTransactionInfo, signedRenewalInfo, ...) for display:
 * the notification was verified when received; this only shows what the signed parts say.
 */
export function decodeNestedJws(value: unknown, depth = 0): unknown {
  if (depth > 8) return value;
  if (typeof value === 'string' && /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(value)) {
    try {
      return { '(decoded JWS payload)': decodeNestedJws(JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString('utf8')), depth + 1) };
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((v) => decodeNestedJws(v, depth + 1));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeNestedJws(v, depth + 1)]));
  return value;
}

/** The page at `path`, or null (404). */
export async function renderPage(rm: AdminReadModel, hooks: SubscriptionWebhooks, path: string, q: URLSearchParams, ctx: PageContext): Promise<Html | null> {
  const parts = pathParts(path);
  const b = ctx.base;
  if (parts.length === 0) {
    const o = await rm.overview(new Date(ctx.now).toISOString());
    const byStatus = new Map<string, number>();
    for (const s of o.subscriptions) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + s.count);
    const backlog = await rm.deliveryBacklog();
    return layout(ctx, 'Overview', [
      h`<div class="cards">${['active', 'trialing', 'in_grace_period', 'past_due', 'canceled'].map((s) => h`<div class="card"><span class="mut">${s}</span><b>${byStatus.get(s) ?? 0}</b></div>`)}
<div class="card"><span class="mut">deliveries pending</span><b>${o.deliveries.pending}</b><span class="mut">oldest ${when(o.deliveries.oldestPending)}</span></div>
<div class="card"><span class="mut">deliveries failed</span><b class="${o.deliveries.failed ? 'bad' : ''}">${o.deliveries.failed}</b></div></div>`,
      h`<h2>Notifications per hour (48 h)</h2>${hourChart(o.notificationsPerHour, ctx.now)}`,
      h`<h2>Rejections by code (48 h)</h2>${rejectionChart(o.rejections)}${table(
        ['Code', 'Provider', 'Count'],
        o.rejections.map(
          (r) =>
            h`<tr><td><a href="${b}/notifications${qs({ status: 'rejected', provider: r.provider })}">${r.code}</a></td><td>${r.provider}</td><td>${r.count}</td></tr>`,
        ),
      )}`,
      h`<h2>Subscriptions by status, provider and product</h2>${table(
        ['Status', 'Provider', 'Product', 'Count'],
        o.subscriptions.map((s) => h`<tr><td>${s.status}</td><td>${s.provider}</td><td>${s.product_id}</td><td>${s.count}</td></tr>`),
      )}`,
      h`<h2>Delivery backlog by endpoint</h2>${table(
        ['Endpoint', 'Status', 'Count', 'Oldest'],
        backlog.map(
          (r) =>
            h`<tr><td><a href="${b}/deliveries${qs({ endpoint: r.endpoint_id, status: r.status })}">${r.endpoint_id}</a></td><td>${r.status}</td><td>${r.count}</td><td>${when(r.oldest)}</td></tr>`,
        ),
      )}`,
      o.entitlements.length
        ? h`<h2>Entitlements</h2>${table(
            ['Entitlement', 'Status', 'Count'],
            o.entitlements.map((e) => h`<tr><td>${e.entitlement}</td><td>${e.status}</td><td>${e.count}</td></tr>`),
          )}`
        : h``,
    ]);
  }
  const [what, a, c] = parts;
  if (what === 'notifications' && parts.length === 1) {
    const status = notificationStatusParam(q);
    const range = { provider: providerParam(q), since: q.get('since') || undefined, until: q.get('until') || undefined };
    const filters = h`<form class="filters" method="get"><select name="provider"><option value="">any provider</option>${(['apple', 'xsolla', 'google'] as const).map((p) => h`<option${q.get('provider') === p ? h` selected` : null}>${p}</option>`)}</select>
<select name="status">${(['processed', 'duplicate', 'stale', 'rejected'] as const).map((x) => h`<option${(status ?? 'processed') === x ? h` selected` : null}>${x}</option>`)}</select>
<input name="type" placeholder="type" value="${q.get('type') ?? ''}"><input name="since" placeholder="since (ISO 8601)" value="${q.get('since') ?? ''}"><input name="until" placeholder="until" value="${q.get('until') ?? ''}"><button>Filter</button></form>`;
    if (status && status !== 'processed') {
      // Duplicates, stale notifications and rejections added no inbox row: they are listed from their own records.
      const page = await rm.listOutcomes({ outcome: status, ...range }, pageParam(q));
      return layout(ctx, 'Notifications', [
        filters,
        table(
          ['Received', 'Provider', 'Outcome', 'Code', 'HTTP', 'Type', 'Id', 'Reason'],
          page.items.map(
            (
              x,
            ) => h`<tr><td>${when(x.received_at)}</td><td>${x.provider}</td><td class="${x.outcome === 'rejected' ? 'bad' : ''}">${x.outcome}</td><td>${x.code}</td><td>${x.status}</td>
<td>${x.notification_type ?? ''}</td><td class="wrap">${x.notification_id && x.outcome !== 'rejected' ? h`<a href="${b}/notifications/${enc(x.provider)}/${enc(x.notification_id)}">${x.notification_id}</a>` : (x.notification_id ?? '')}</td><td class="wrap">${x.reason ?? ''}</td></tr>`,
          ),
        ),
        more(ctx, '/notifications', q, page.next),
      ]);
    }
    const page = await rm.listNotifications({ ...range, type: q.get('type') || undefined }, pageParam(q));
    return layout(ctx, 'Notifications', [
      filters,
      table(
        ['Received', 'Provider', 'Type', 'Subtype', 'Environment', 'Id'],
        page.items.map(
          (
            n,
          ) => h`<tr><td>${when(n.received_at)}</td><td>${n.provider}</td><td>${n.notification_type}</td><td>${n.subtype ?? ''}</td><td>${n.environment ?? ''}</td>
<td class="wrap"><a href="${b}/notifications/${enc(n.provider)}/${enc(n.notification_id)}">${n.notification_id}</a></td></tr>`,
        ),
      ),
      more(ctx, '/notifications', q, page.next),
    ]);
  }
  if (what === 'notifications' && parts.length === 3) {
    const d = await rm.getNotification(a as Provider, c!);
    if (!d) return null;
    const n = d.notification;
    return layout(ctx, `Notification ${n.notification_type}`, [
      h`<p>${n.provider} · ${n.notification_id} · ${n.subtype ?? ''} · ${n.environment ?? ''} · signed ${when(n.signed_at)} · received ${when(n.received_at)}</p>`,
      h`<h2>Events emitted</h2>${table(
        ['Event', 'Type', 'Object'],
        d.events.map((e) => {
          const o = e.data.object as unknown as Record<string, unknown>;
          const sub = typeof o.id === 'string' && o.id.startsWith('sub_') ? h`<a href="${b}/subscriptions/${enc(o.id)}">${o.id}</a>` : h`${String(o.id ?? '')}`;
          return h`<tr><td>${e.id}</td><td>${e.type}</td><td>${sub}</td></tr>`;
        }),
      )}`,
      h`<h2>Deliveries</h2>${deliveryTable(
        ctx,
        d.deliveries.map((x) => ({ ...x, event_type: d.events.find((e) => e.id === x.event_id)?.type ?? null })),
      )}`,
      h`<h2>Payload (nested JWS decoded)</h2><pre>${JSON.stringify(decodeNestedJws(n.payload), null, 2)}</pre>`,
    ]);
  }
  if (what === 'subscriptions' && parts.length === 1) {
    const term = q.get('q')?.trim() ?? '';
    const found = term ? await rm.searchSubscriptions(term) : null;
    return layout(ctx, 'Subscriptions', [
      h`<form class="filters" method="get"><input name="q" size="40" placeholder="user id, contract id, order no or transaction id" value="${term}"><button>Find</button></form>`,
      found
        ? h`${table(
            ['Subscription', 'Provider', 'Contract', 'User', 'Product', 'Status', 'Period end'],
            found.subscriptions.map(
              (s) =>
                h`<tr><td><a href="${b}/subscriptions/${enc(s.id)}">${s.id}</a></td><td>${s.provider}</td><td>${s.contract_id}</td><td>${s.user_id ?? ''}</td><td>${s.product_id}</td><td>${s.status}</td><td>${when(s.current_period_end)}</td></tr>`,
            ),
          )}
<h2>Matching orders</h2>${orderTable(found.orders)}`
        : null,
    ]);
  }
  if (what === 'subscriptions' && parts.length === 2) {
    const d = await rm.getSubscription(a!);
    if (!d) return null;
    const s = d.subscription;
    return layout(ctx, `Subscription ${s.id}`, [
      h`<p>${s.provider} · contract ${s.contract_id} · user ${s.user_id ?? '—'} · ${s.product_id} · <b>${s.status}</b> · auto-renew ${s.auto_renew ? 'on' : 'off'} · period ${when(s.current_period_start)} → ${when(s.current_period_end)}</p>`,
      h`<p>Notification settings: <code>${JSON.stringify(s.notification_settings ?? null)}</code>${s.setting_id ? h` · setting ${s.setting_id}` : null}</p>`,
      h`<h2>Timeline</h2>${table(
        ['Event', 'Created', 'Notification'],
        d.events.map(
          (e) =>
            h`<tr><td>${e.type}</td><td>${when(e.created)}</td><td><a href="${b}/notifications/${enc(e.provider)}/${enc(e.source.notification_id)}">${e.source.notification_type}</a></td></tr>`,
        ),
      )}`,
      h`<h2>Orders</h2>${orderTable(d.orders)}`,
      d.grants.length
        ? h`<h2>Entitlements</h2>${table(
            ['Entitlement', 'Status', 'Expires'],
            d.grants.map((g) => h`<tr><td>${g.entitlement}</td><td>${g.status}</td><td>${when(g.expires_at)}</td></tr>`),
          )}`
        : null,
    ]);
  }
  if (what === 'orders' && parts.length === 1) {
    const page = await rm.listOrders(
      { provider: providerParam(q), status: (q.get('status') || undefined) as never, userId: q.get('user') || undefined },
      pageParam(q),
    );
    return layout(ctx, 'Orders', [
      h`<form class="filters" method="get"><input name="user" placeholder="user id" value="${q.get('user') ?? ''}"><input name="status" placeholder="status" value="${q.get('status') ?? ''}"><button>Filter</button></form>`,
      orderTable(page.items),
      more(ctx, '/orders', q, page.next),
    ]);
  }
  if (what === 'deliveries' && parts.length === 1) {
    const endpoint = q.get('endpoint') || undefined;
    const page = await rm.listDeliveries({ status: deliveryStatusParam(q), endpointId: endpoint }, pageParam(q));
    return layout(ctx, 'Deliveries', [
      h`<form class="filters" method="get"><select name="status"><option value="">any status</option>${(['pending', 'failed', 'delivered', 'disabled'] as const).map((s) => h`<option${q.get('status') === s ? h` selected` : null}>${s}</option>`)}</select>
<input name="endpoint" placeholder="endpoint id" value="${endpoint ?? ''}"><button>Filter</button></form>`,
      endpoint && endpoint !== 'notifier'
        ? action(ctx, `/endpoints/${enc(endpoint)}/replay-failed`, 'Replay all failed for this endpoint', 'Replay every failed delivery of this endpoint?')
        : null,
      deliveryTable(ctx, page.items),
      more(ctx, '/deliveries', q, page.next),
    ]);
  }
  if (what === 'deliveries' && parts.length === 2) {
    const d = await rm.getDelivery(a!);
    if (!d) return null;
    return layout(ctx, `Delivery ${d.delivery.id}`, [
      deliveryTable(ctx, [d.delivery]),
      h`<h2>Attempts</h2>${table(
        ['#', 'When', 'HTTP status', 'Duration', 'Reason'],
        d.attempts.map(
          (x) =>
            h`<tr><td>${x.attempt}</td><td>${when(x.at)}</td><td class="${x.error === null ? 'ok' : 'bad'}">${x.status_code ?? '—'}</td><td>${x.duration_ms === null ? '—' : `${x.duration_ms} ms`}</td><td class="wrap">${x.error ?? ''}</td></tr>`,
        ),
      )}`,
    ]);
  }
  if (what === 'endpoints' && parts.length === 1) {
    const endpoints = await hooks.webhookEndpoints.list();
    return layout(ctx, 'Endpoints', [
      table(
        ['Endpoint', 'URL', 'Events', 'Status', 'Secret', ''],
        endpoints.map(
          (
            e,
          ) => h`<tr><td><a href="${b}/deliveries${qs({ endpoint: e.id })}">${e.id}</a></td><td class="wrap">${e.url}</td><td class="wrap">${e.enabled_events.join(', ')}</td>
<td>${e.status}</td><td>${e.secret}</td><td>${e.status === 'enabled' ? action(ctx, `/endpoints/${enc(e.id)}/disable`, 'Disable', 'Disable this endpoint?', true) : action(ctx, `/endpoints/${enc(e.id)}/enable`, 'Enable')}
${action(ctx, `/endpoints/${enc(e.id)}/rotate`, 'Rotate secret', 'Issue a new secret? The old one keeps signing for 24 hours.')}</td></tr>`,
        ),
      ),
      ctx.role === 'read-write'
        ? h`<h2>New endpoint</h2><form class="filters" method="post" action="${b}/endpoints"><input type="hidden" name="csrf" value="${ctx.csrf}">
<input name="url" size="40" placeholder="https://…" required><input name="enabled_events" placeholder="event types, or *" value="*"><input name="description" placeholder="description"><button>Create</button></form>`
        : null,
    ]);
  }
  if (what === 'apple' && parts.length === 1) {
    return layout(ctx, 'Apple: reconcile', [
      h`<p>Walks the App Store Server API's notification history for a time range and feeds every notification through the live path (duplicates are recognised). Needs <code>apple.api</code> in the configuration.</p>`,
      ctx.role === 'read-write'
        ? h`<form class="filters" method="post" action="${b}/apple/reconcile" data-confirm="Reconcile this range with Apple's notification history?"><input type="hidden" name="csrf" value="${ctx.csrf}">
<input name="since" placeholder="since: ISO 8601 or 7d" value="24h" required><input name="until" placeholder="until (default now)"><label><input type="checkbox" name="onlyFailures" value="1"> only the ones Apple could not deliver</label><button>Reconcile</button></form>`
        : h`<p class="mut">Reconcile needs the read-write role.</p>`,
    ]);
  }
  if (what === 'audit' && parts.length === 1) {
    const page = await rm.listAudit(pageParam(q));
    return layout(ctx, 'Audit log', [
      table(
        ['When', 'Who', 'Action', 'Target', 'Result'],
        page.items.map(
          (x) =>
            h`<tr><td>${when(x.at)}</td><td>${x.actor}</td><td>${x.action}</td><td>${x.target}</td><td class="${x.result === 'ok' ? 'ok' : 'bad'}">${x.result}</td></tr>`,
        ),
      ),
      more(ctx, '/audit', q, page.next),
    ]);
  }
  return null;
}

function orderTable(orders: Awaited<ReturnType<AdminReadModel['listOrders']>>['items']): Html {
  return table(
    ['Order no', 'Provider', 'Status', 'User', 'Product', 'Amount', 'Refunded', 'Transaction', 'Created'],
    orders.map(
      (o) => h`<tr><td>${o.no}</td><td>${o.provider}</td><td>${o.status}</td><td>${o.user_id ?? ''}</td><td>${o.product_id ?? ''}</td>
<td>${o.amount ?? ''} ${o.currency ?? ''}</td><td>${o.amount_refunded ?? ''}${o.refund_reason ? h` (${o.refund_reason})` : null}</td><td>${o.trade_no ?? ''}</td><td>${when(o.created)}</td></tr>`,
    ),
  );
}

function deliveryTable(ctx: PageContext, rows: Array<Awaited<ReturnType<AdminReadModel['listDeliveries']>>['items'][number]>): Html {
  return table(
    ['Delivery', 'Endpoint', 'Event', 'Status', 'Attempts', 'Last status', 'Last error', 'Last attempt', 'Next attempt', ''],
    rows.map(
      (d) => h`<tr><td><a href="${ctx.base}/deliveries/${enc(d.id)}">${d.id}</a></td><td>${d.endpoint_id}</td><td>${d.event_type ?? d.event_id}</td>
<td class="${d.status === 'failed' ? 'bad' : d.status === 'delivered' ? 'ok' : ''}">${d.status}</td><td>${d.attempts}</td><td>${d.last_status ?? ''}</td><td class="wrap">${(d.last_error ?? '').slice(0, 200)}</td><td>${when(d.last_attempt_at)}</td><td>${when(d.next_attempt_at)}</td>
<td>${d.status === 'failed' || d.status === 'disabled' ? action(ctx, `/deliveries/${enc(d.id)}/replay`, 'Replay') : null}</td></tr>`,
    ),
  );
}

/** The answer to a reconcile run from the dashboard. */
export function renderReconcileResult(
  ctx: PageContext,
  range: { since: string; until: string | null },
  result: ReconcileResult | { notConfigured: string },
): Html {
  if ('notConfigured' in result)
    return layout(ctx, 'Apple: reconcile', h`<p class="bad">${result.notConfigured}</p><p><a href="${ctx.base}/apple">Back</a></p>`);
  return layout(ctx, 'Apple: reconcile', [
    h`<p>Range ${range.since} → ${range.until ?? 'now'}</p>`,
    h`<div class="cards">${(['seen', 'processed', 'duplicates', 'failed'] as const).map((k) => h`<div class="card"><span class="mut">${k}</span><b id="reconcile-${k}">${result[k]}</b></div>`)}</div>`,
    result.failures.length
      ? h`<h2>Failures</h2>${table(
          ['Notification', 'Status', 'Error'],
          result.failures.map((f) => h`<tr><td>${f.notificationUUID ?? '—'}</td><td>${f.status}</td><td>${f.error}</td></tr>`),
        )}`
      : null,
    h`<p><a href="${ctx.base}/apple">Run another</a></p>`,
  ]);
}
