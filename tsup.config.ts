import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'adapters/express.ts',
    testing: 'src/testing/index.ts',
    prisma: 'src/prisma.ts',
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
  external: ['express', '@prisma/client', '@apple/app-store-server-library'],
});
