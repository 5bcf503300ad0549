/** HTML helpers of the admin dashboard: every interpolated value goes through {@link h} or {@link attr}. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** A piece of HTML that is already safe (built from escaped parts); plain strings are escaped when interpolated. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Escapes text for an element body or a quoted attribute. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Tagged template: interpolated `Html` is kept, arrays joined, anything else escaped. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}
function render(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(v);
}

/** A query string from defined values. */
export function qs(params: Record<string, string | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** The stylesheet served at `<mount>/assets/dashboard.css` (no CDN, works offline, readable on a phone). */
export const DASHBOARD_CSS = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mut:#656d76;--line:#d0d7de;--acc:#0969da;--bad:#cf222e;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mut:#8d96a0;--line:#30363d;--acc:#4493f8;--bad:#f85149;--ok:#3fb950}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
header strong{margin-right:auto}nav a{margin-right:.8rem}a{color:var(--acc);text-decoration:none}a:hover{text-decoration:underline}
main{padding:1rem;max-width:80rem}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.tbl{overflow-x:auto}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;word-break:break-all}th{color:var(--mut);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.6rem}.card{border:1px solid var(--line);border-radius:6px;padding:.6rem}
.card b{display:block;font-size:1.4rem}.mut{color:var(--mut)}.bad{color:var(--bad)}.ok{color:var(--ok)}
form.inline{display:inline}form.filters{display:flex;flex-wrap:wrap;gap:.4rem;margin-bottom:.8rem}
input,select,button{font:inherit;padding:.3rem .5rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}
button{cursor:pointer}button.danger{color:var(--bad)}pre{background:rgba(127,127,127,.1);padding:.6rem;overflow:auto;max-height:30rem;white-space:pre-wrap;word-break:break-all}
svg{width:100%;max-width:40rem;height:auto}svg .bar{fill:var(--acc)}svg .bar.bad{fill:var(--bad)}svg text{fill:var(--mut);font-size:10px}.secret{font-family:monospace;font-size:1.1rem;padding:.6rem;border:2px dashed var(--bad)}
`;

/** The script served at `<mount>/assets/dashboard.js`: asks before a state-changing POST. */
export const DASHBOARD_JS = `document.addEventListener('submit',function(e){var m=e.target.getAttribute('data-confirm');if(m&&!window.confirm(m))e.preventDefault();});
`;

/** The tab icon served at `<mount>/assets/favicon.svg`. */
export const DASHBOARD_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0969da"/><path d="M4 11V5h2l2 3 2-3h2v6" stroke="#fff" fill="none" stroke-width="1.5"/></svg>';
