import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/core/config.js';
import { keysAt } from '../../src/core/config-hints.js';
import { ERROR_CODES, HTTP_STATUS_BY_CODE } from '../../src/core/errors.js';

// The reference pages are checked against the code they describe, and the README against what a newcomer needs.
const root = new URL('../..', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const docs = readdirSync(join(root, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const readme = read('README.md');

/** Every leaf key of the config schema, dotted (records and arrays are leaves). */
function leafKeys(path: string[] = []): string[] {
  const keys = keysAt(configSchema as never, path);
  if (keys.length === 0) return [path.join('.')];
  return keys.flatMap((k) => leafKeys([...path, k]));
}

describe('docs/errors.md', () => {
  it('has one row per error code, with its HTTP status', () => {
    const rows = [...read('docs/errors.md').matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(rows.map(([c]) => c).sort()).toEqual([...ERROR_CODES].sort());
    for (const [code, status] of rows) expect(status, code).toBe(HTTP_STATUS_BY_CODE[code as keyof typeof HTTP_STATUS_BY_CODE]);
  });
});

describe('docs/events.md', () => {
  it('has one row per event type, and every subscription and order status', async () => {
    const { EVENT_TYPES } = await import('../../src/events/types.js');
    const text = read('docs/events.md');
    const rows = [...text.matchAll(/^\| `([a-z_.]+)`(?: \/ `([a-z_.]+)`)? \|/gm)].flatMap((m) => [m[1]!, ...(m[2] ? [m[2]] : [])]);
    expect([...rows].sort()).toEqual([...EVENT_TYPES].sort());
    const statuses: string[] = [
      'trialing',
      'active',
      'past_due',
      'in_grace_period',
      'canceled',
      'expired',
      'revoked',
      'refunded',
      'pending',
      'paid',
      'partially_refunded',
    ];
    for (const s of statuses) expect(text).toContain(`\`${s}\``);
  });
});

describe('docs/configuration.md', () => {
  const text = read('docs/configuration.md');
  const rows = new Set([...text.matchAll(/^\| `([\w.]+)` \|/gm)].map((m) => m[1]!));
  it('has a row for every key of the config schema', () => {
    const keys = leafKeys();
    expect(keys.length).toBeGreaterThan(30);
    expect(keys.filter((k) => !rows.has(k))).toEqual([]);
  });
  it('documents no key the schema does not have', () => {
    const keys = new Set(leafKeys());
    expect([...rows].filter((k) => !keys.has(k))).toEqual([]);
  });
});

describe('README and docs/', () => {
  it('README stays a quick start: about 10 KB, topics in docs/', () => {
    // About 10 KB: what it is, the quick start, links. A new topic gets a page in docs/ and a line here.
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(10_240);
  });

  it('README keeps its two first commands, and they exist', () => {
    const lines = readme.split('\n');
    expect(lines[3]).toMatch(/^npm install && npm run demo +# /);
    expect(lines[4]).toMatch(/^npm install && npm test +# /);
  });

  it('no internal notes or planning words', () => {
    for (const p of ['README.md', ...docs]) {
      const text = read(p);
      for (const word of [/\bseed \d{3}\b/i, /\(seed[:)]/i, /EVENTS\.md/, /ARCHITECTURE\.md/, /STYLE\.md/, /\.\.\/shared\//, /\bissue \d+\b/i, /WeChat/])
        expect(text, `${p}: ${word}`).not.toMatch(word);
    }
  });

  it('the install line has what Prisma 7 needs: the CLI, the client, a driver adapter and its driver', () => {
    const install = readme.split('\n').filter((l) => /^npm install (-D )?\S/.test(l) && !l.includes('&&'));
    const words = install
      .join(' ')
      .split(/\s+/)
      .map((w) => w.replace(/@\d+$/, ''));
    for (const pkg of ['subscription-webhooks', 'express', '@prisma/client', '@prisma/adapter-better-sqlite3', 'better-sqlite3', 'prisma', 'dotenv'])
      expect(words, pkg).toContain(pkg);
    expect(readme).toMatch(/`@prisma\/adapter-pg pg`/);
    expect(readme).toMatch(/better-sqlite3@12/);
  });

  it('every `npm run X` in README and docs is a script of the package, every `npx subscription-webhooks X` a CLI command', () => {
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const usage = read('src/cli/main.ts');
    for (const p of ['README.md', ...docs]) {
      const text = read(p);
      for (const m of text.matchAll(/npm run (?:--silent )?([\w:-]+)/g))
        if (!['dev', 'build'].includes(m[1]!) || p !== 'docs/cli.md') expect(scripts, `${p}: npm run ${m[1]}`).toContain(m[1]);
      for (const m of text.matchAll(/npx subscription-webhooks ([a-z-]+)(?: ([a-z-]+))?/g)) {
        const command = m[2] && ['apple', 'lifecycle', 'xsolla', 'google', 'path'].includes(m[2]) ? `${m[1]} ${m[2]}` : m[1]!;
        expect(usage, `${p}: npx subscription-webhooks ${command}`).toMatch(new RegExp(`\\n  ${command.replace(/-/g, '\\-')}\\b`));
      }
    }
  });

  it('every relative link points at a file that exists', () => {
    for (const p of ['README.md', ...docs]) {
      for (const m of read(p).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        expect(existsSync(join(root, dirname(p), target)), `${p} → ${target}`).toBe(true);
      }
    }
  });
});

describe('examples', () => {
  it("each README's commands are scripts of its package.json", () => {
    for (const ex of ['express', 'koa', 'nextjs']) {
      const scripts = Object.keys((JSON.parse(read(`examples/${ex}/package.json`)) as { scripts: Record<string, string> }).scripts);
      const text = read(`examples/${ex}/README.md`);
      for (const m of text.matchAll(/npm (start|run [\w:-]+)/g)) {
        const name = m[1] === 'start' ? 'start' : m[1]!.slice(4);
        // `npm run demo` / `npm run build` "at the root" are the root's scripts
        const rootScripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
        expect([...scripts, ...rootScripts], `examples/${ex}: npm ${m[1]}`).toContain(name);
      }
      expect(existsSync(join(root, `examples/${ex}/.npmrc`)) && read(`examples/${ex}/.npmrc`).includes('package-lock=false'), ex).toBe(true);
    }
  });
});
