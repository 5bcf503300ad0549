/**
 * `npm run quickstart:check` (CI): follows README's quick start in an empty app, with the package
 * as `npm pack` makes it, Prisma 7 and SQLite, and runs the quick start's own test (a signed
 * SUBSCRIBED through the test kit: the order is paid and the app's bus subscriber fires).
 *
 * Commands and files come from README.md itself: its `sh` blocks are run as written (the package name
 * replaced by the tarball), its `// <path>.ts` blocks are written as the app's files. One step
 * differs, as README allows: `prisma migrate dev` needs Prisma's engine download, so the documented
 * fallback (scripts/migrate.ts, applySqlMigrations: our tables only) creates the tables.
 * Needs the npm registry. Keeps the app with KEEP=1.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5));
const app = mkdtempSync(join(tmpdir(), 'sw-quickstart-'));
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
  PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  npm_config_loglevel: 'error',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
};

function run(command: string, cwd = app): string {
  process.stdout.write(`$ ${command}\n`);
  return execSync(command, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
}

try {
  run('npm run --silent build', root);
  const tarball = join(app, run(`npm pack --silent --pack-destination ${app}`, root).trim().split('\n').pop()!);
  run('npm init -y');
  run('npm pkg set type=module');

  const shBlocks = [...quickStart.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  );
  if (shBlocks.length < 3) throw new Error(`README quick start: expected 3 sh blocks (install, schema, migrate), found ${shBlocks.length}`);
  const [install, schema, migrate] = shBlocks as [string[], string[], string[]];
  for (const line of install) run(line.replace(/ subscription-webhooks(?=\s)/, ` ${tarball}`));
  for (const line of schema) run(line);

  // The TypeScript files, as README shows them.
  for (const m of quickStart.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
    const path = /^\/\/ ([\w./-]+\.ts)\b/.exec(m[1]!)?.[1];
    if (!path) continue;
    mkdirSync(dirname(join(app, path)), { recursive: true });
    writeFileSync(join(app, path), m[1]!);
  }
  // "replace the config file prisma init wrote": it is prisma7.config.ts on Prisma 7.10.
  if (existsSync(join(app, 'prisma7.config.ts'))) unlinkSync(join(app, 'prisma7.config.ts'));

  for (const line of migrate) {
    if (line.includes('prisma migrate'))
      run(/run: (npx tsx scripts\/migrate\.ts)/.exec(quickStart)![1]!); // the documented fallback
    else run(line);
  }
  // Step 7's own install line, then its run line.
  const testFile = /\/\/ test\/subscriptions\.test\.ts \(run: ([^;]+); ([^)]+)\)/.exec(quickStart);
  if (!testFile) throw new Error('README quick start: the test file block lost its run/install comment');
  run(testFile[2]!);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, noEmit: true, types: ['node'] },
    }),
  );
  run('npx tsc -p .');
  const out = run(testFile[1]!);
  process.stdout.write(out);
  if (!/# pass 1\b/.test(out) || !/# fail 0\b/.test(out)) throw new Error('the quick start test did not pass');
  console.log(`quick start OK (${app})`);
} finally {
  if (!process.env.KEEP) rmSync(app, { recursive: true, force: true });
}
