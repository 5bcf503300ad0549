// `npm start` (and `npm run build` / `dev` in nextjs) runs this first: it copies the library's Prisma
// fragment beside the example's own schema and generates the example's Prisma client into ./generated,
// so each example starts on a fresh clone by itself. Works offline: `prisma generate` needs no engine
// for a client that runs through a driver adapter, so the engine download is skipped.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(process.cwd(), 'package.json'));
// The examples run from the repository (they import the library from ../../src): the fragment is the repository's.
const fragment = join(dirname(fileURLToPath(import.meta.url)), '..', 'prisma-schema', 'subscription-webhooks.prisma');
const schema = join(process.cwd(), 'prisma', 'schema');
copyFileSync(fragment, join(schema, 'subscription-webhooks.prisma'));
const prisma = join(require.resolve('prisma/package.json'), '..', 'build', 'index.js');
execFileSync(process.execPath, [prisma, 'generate', '--schema', schema], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1', ...process.env },
});
