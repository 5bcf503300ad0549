/**
 * `npm run prisma:generate`: copies the schema fragment into the test schema folders and generates
 * the test Prisma clients into test/generated/{sqlite,postgresql,merge-app} (gitignored).
 *
 * Works offline: Prisma's CLI would download a native schema engine it does not need for
 * `generate`, so we point it at /bin/false and skip the checksum (see ARCHITECTURE.md).
 */
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fragment = join(root, 'prisma-schema', 'subscription-webhooks.prisma');
const folders = [
  'test/prisma/schema-sqlite',
  'test/prisma/schema-postgresql',
  'test/prisma/merge-app',
  'examples/express/prisma/schema',
  'examples/koa/prisma/schema',
  'examples/nextjs/prisma/schema',
];

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
  PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
};
const prismaBin = join(root, 'node_modules', 'prisma', 'build', 'index.js');

await Promise.all(
  folders.map(async (folder) => {
    const dir = join(root, folder);
    copyFileSync(fragment, join(dir, 'subscription-webhooks.prisma'));
    const { stdout } = await promisify(execFile)(process.execPath, [prismaBin, 'generate', '--schema', dir], { env, cwd: root });
    process.stdout.write(
      stdout
        .split('\n')
        .filter((l) => l.includes('Generated'))
        .join('\n') + '\n',
    );
  }),
);
