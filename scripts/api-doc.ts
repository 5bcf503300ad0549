// Prints the entry sections of docs/api.md from the code (`npx tsx scripts/api-doc.ts`): a starting point when the surface changes; package-exports.test.ts checks the page.
import { publicSurface, ENTRY_SOURCES } from '../test/package/public-surface.js';
const root = process.cwd() + '/';
const s = publicSurface(root);
const groupName = (from: string) =>
  (
    ({
      'src/core': 'Core',
      'src/events': 'Events',
      'src/store': 'Stores',
      'src/providers/apple': 'Apple',
      'src/providers/xsolla': 'Xsolla',
      'src/providers/google': 'Google Play',
      'src/notifications': 'Notifications',
      'src/delivery': 'Webhook delivery',
      'src/admin': 'Admin',
      src: 'Core',
      adapters: 'Adapter',
      'src/testing': 'Testing',
    }) as Record<string, string>
  )[from] ?? from;
const lines: string[] = [];
for (const entry of Object.keys(ENTRY_SOURCES)) {
  lines.push(`## \`${entry}\``, '');
  const names = s[entry]!;
  for (const kind of ['value', 'type'] as const) {
    const groups = new Map<string, typeof names>();
    for (const n of names.filter((x) => x.kind === kind)) {
      const g = groupName(n.from);
      groups.set(g, [...(groups.get(g) ?? []), n]);
    }
    if (!groups.size) continue;
    lines.push(`### ${kind === 'value' ? 'Values' : 'Types'}`, '');
    for (const [g, list] of groups) {
      if (groups.size > 1) lines.push(`${g}:`, '');
      for (const n of list.sort((a, b) => a.name.localeCompare(b.name))) lines.push(`- \`${n.name}\`${n.deprecated ? ` (deprecated: ${n.deprecated})` : ''}`);
      lines.push('');
    }
  }
}
console.log(lines.join('\n'));
