import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every TypeScript block of README.md and docs/*.md compiles in strict mode against the built package
// (`npm run build`), resolved as an installed `subscription-webhooks` (through node_modules, its "exports").
// - A block whose first line is `// <path>.ts` is that file of the reader's project: README's quick start
//   files are one project (NodeNext, as a `"type": "module"` app runs them); each doc's files are written
//   under its own folder of a second project (bundler resolution, `@/*` → the quick start's files, as Next.js).
// - A block marked ```ts fragment is compiled as a module with the names it assumes from your app declared
//   below (hooks, prisma, app, request, userId, …). Any other block must compile on its own.
const root = new URL('../..', import.meta.url).pathname;
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const dir = mkdtempSync(join(tmpdir(), 'sw-snippets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Block {
  doc: string;
  line: number;
  fragment: boolean;
  path?: string;
  code: string;
}

export function extractBlocks(doc: string, text: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```(ts|typescript)( fragment)?[ \t]*\n([\s\S]*?)^```/gm;
  for (const m of text.matchAll(re)) {
    const code = m[3]!;
    const line = text.slice(0, m.index).split('\n').length + 1;
    const path = /^\/\/ ([\w./[\]@-]+\.ts)\b/.exec(code)?.[1];
    blocks.push({ doc, line, fragment: Boolean(m[2]), ...(path ? { path } : {}), code });
  }
  return blocks;
}

const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const blocks = docs.flatMap((d) => extractBlocks(d, readFileSync(join(root, d), 'utf8')));

// What fragments assume from the reader's app.
const PRELUDE = `import type { SubscriptionWebhooks } from 'subscription-webhooks';
import type { Express } from 'express';
import type supertest from 'supertest';
import type { PrismaClient } from './generated/prisma/client.js';
declare global {
  const hooks: SubscriptionWebhooks;
  const prisma: PrismaClient;
  const app: Express;
  const request: typeof supertest;
  const createSubscriptionWebhooks: typeof import('subscription-webhooks').createSubscriptionWebhooks;
  const prismaStore: typeof import('subscription-webhooks/prisma').prismaStore;
  const user: { id: string };
  const userId: string;
  const productId: string;
  const id: string;
  const secret: string;
  const userJwt: string;
  function grantPro(userId: string | null, until: string | null): Promise<void>;
  function revokePro(userId: string | null): Promise<void>;
  function extendAccess(subscription: unknown): Promise<void>;
  function sendCustomEmail(data: unknown): Promise<void>;
  const mailer: { send(userId: string | null, title: string, body: string): Promise<void> };
  const Bun: { serve(options: { fetch: (request: Request) => Promise<Response> }): unknown };
  const honoApp: { post(path: string, handler: (c: { req: { raw: Request } }) => Promise<Response>): unknown };
  namespace Express {
    interface Request {
      signedInUserId?: string;
    }
  }
}
export {};
`;

// A Prisma 7 schema as the quick start leaves it: prisma init's generator and datasource, a model of the
// app's own, and our fragment beside it.
const SCHEMA = `generator client {
  provider = "prisma-client"
  output   = "../../generated/prisma"
}
datasource db {
  provider = "sqlite"
}
model User {
  id    String @id
  email String @unique
}
`;

function write(file: string, text: string) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function runTsc(project: string): string {
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', cwd: dir });
    return '';
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

/** tsc's `file(line,col)` → the document and line the snippet came from. */
function mapErrors(out: string, origin: Map<string, Block>): string {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^([^(]+)\((\d+),(\d+)\): (.*)$/.exec(l);
      const b = m && origin.get(join(dir, m[1]!));
      return b ? `${b.doc}:${b.line + Number(m[2]) - 1}: ${m![4]}` : l;
    })
    .join('\n');
}

beforeAll(() => {
  // node_modules: the repository's packages, plus this package as installed (a link to the repository root: its exports → dist).
  expect(existsSync(join(root, 'dist/index.d.ts')), 'run npm run build first').toBe(true);
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  symlinkSync(root, join(dir, 'node_modules', 'subscription-webhooks'));
  write(join(dir, 'package.json'), JSON.stringify({ name: 'reader-app', private: true, type: 'module' }));
  write(join(dir, 'prisma/schema/schema.prisma'), SCHEMA);
  write(join(dir, 'prisma/schema/subscription-webhooks.prisma'), readFileSync(join(root, 'prisma-schema/subscription-webhooks.prisma'), 'utf8'));
  execFileSync(process.execPath, [join(root, 'node_modules/prisma/build/index.js'), 'generate', '--schema', join(dir, 'prisma/schema')], {
    cwd: dir,
    stdio: 'ignore',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  });
}, 120_000);

const strict = { strict: true, noUncheckedIndexedAccess: true, skipLibCheck: true, noEmit: true, target: 'ES2022', lib: ['ES2023', 'DOM'], types: ['node'] };

describe('TypeScript snippets of README.md and docs/ compile (strict)', () => {
  it('finds the quick start files and the docs blocks', () => {
    const readme = blocks.filter((b) => b.doc === 'README.md').map((b) => b.path);
    expect(readme).toEqual(
      expect.arrayContaining(['prisma.config.ts', 'lib/prisma.ts', 'lib/subscriptions.ts', 'app.ts', 'server.ts', 'test/subscriptions.test.ts']),
    );
    expect(blocks.filter((b) => b.doc !== 'README.md').length).toBeGreaterThan(15);
  });

  it('README quick start: its files make one project that compiles under NodeNext ("type": "module")', () => {
    const origin = new Map<string, Block>();
    const files: string[] = [];
    blocks
      .filter((b) => b.doc === 'README.md')
      .forEach((b, i) => {
        const file = join(dir, b.path ?? `snippets/readme-${i}.ts`);
        write(file, b.fragment ? `${b.code}\nexport {};\n` : b.code);
        origin.set(file, b);
        files.push(relative(dir, file));
      });
    write(join(dir, 'prelude.d.ts'), PRELUDE);
    // Fragments get the prelude; whole files must not need it: compile them in a project without it first.
    write(
      join(dir, 'tsconfig.files.json'),
      JSON.stringify({
        compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext' },
        files: files.filter((f) => !origin.get(join(dir, f))!.fragment),
      }),
    );
    write(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext' }, files: ['prelude.d.ts', ...files] }),
    );
    expect(mapErrors(runTsc(join(dir, 'tsconfig.files.json')), origin)).toBe('');
    expect(mapErrors(runTsc(join(dir, 'tsconfig.json')), origin)).toBe('');
  }, 120_000);

  it('docs/: every block compiles (bundler resolution, @/* → the quick start files)', () => {
    const origin = new Map<string, Block>();
    const files: string[] = ['prelude.d.ts'];
    const wholeFiles: string[] = [];
    blocks
      .filter((b) => b.doc !== 'README.md')
      .forEach((b, i) => {
        const folder = join(dir, 'docs-project', b.doc.replace(/^docs\/|\.md$/g, ''));
        const file = join(folder, b.path ?? `snippet-${i}.ts`);
        if (!existsSync(join(folder, 'generated'))) {
          mkdirSync(folder, { recursive: true });
          symlinkSync(join(dir, 'generated'), join(folder, 'generated'));
        }
        write(file, b.fragment || b.path?.endsWith('.d.ts') ? `${b.code}\nexport {};\n` : b.code);
        origin.set(file, b);
        files.push(relative(dir, file));
        if (!b.fragment) wholeFiles.push(relative(dir, file));
      });
    const options = { ...strict, module: 'ESNext', moduleResolution: 'Bundler', baseUrl: '.', paths: { '@/*': ['./*'] } };
    write(join(dir, 'tsconfig.docs.json'), JSON.stringify({ compilerOptions: options, files }));
    expect(mapErrors(runTsc(join(dir, 'tsconfig.docs.json')), origin)).toBe('');
  }, 120_000);
});
