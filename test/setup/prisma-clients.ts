/**
 * vitest globalSetup: make sure the test Prisma clients in test/generated/ exist and are newer than
 * the schema fragment and test schemas; otherwise run `npm run prisma:generate` (offline, ~6 s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const folders = ['sqlite', 'postgresql', 'merge-app'];

export default function setup(): void {
  const mtime = (p: string): number => (existsSync(p) ? statSync(p).mtimeMs : 0);
  const sources = [
    join(root, 'prisma-schema', 'subscription-webhooks.prisma'),
    ...folders.map((f) => join(root, 'test', 'prisma', f === 'merge-app' ? f : `schema-${f}`, 'main.prisma')),
  ];
  const newestSource = Math.max(...sources.map(mtime));
  const stale = folders.some((f) => mtime(join(root, 'test', 'generated', f, 'client.ts')) < newestSource);
  if (stale) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'scripts', 'prisma-generate.ts')], {
      cwd: root,
      stdio: 'inherit',
    });
  }
}
