import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'adapters/express.ts',
    koa: 'adapters/koa.ts',
    next: 'adapters/next.ts',
    'next/apple': 'adapters/next/apple.ts',
    'next/xsolla': 'adapters/next/xsolla.ts',
    'next/google': 'adapters/next/google.ts',
    fetch: 'adapters/fetch.ts',
    testing: 'src/testing/index.ts',
    prisma: 'src/prisma.ts',
    pg: 'src/pg.ts',
    sqlite: 'src/sqlite.ts',
    callback: 'adapters/callback.ts',
    'adapter-kit': 'src/adapter-kit.ts',
    // The `subscription-webhooks` bin (package.json "bin"); esbuild keeps its #!/usr/bin/env node line.
    cli: 'src/cli/bin.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  // Shared chunks, so every entry uses one copy of the core (one error class, one bus) in ESM and CJS alike.
  splitting: true,
  sourcemap: true,
  clean: true,
  // import.meta.url in CJS (the migrations helper locates the SQL that ships with the package).
  shims: true,
  target: 'node20',
  external: ['express', 'koa', '@koa/router', 'next', '@prisma/client', 'better-sqlite3', '@apple/app-store-server-library'],
});
