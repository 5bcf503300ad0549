import tseslint from 'typescript-eslint';

const frameworks = ['express', 'express4', 'koa', '@koa/router', 'next', 'next/*', 'hono', '@prisma/client', 'better-sqlite3', 'pg'];

// The layering: which folder may import which, at run time (`import type` is always allowed: types are erased).
// The same graph, drawn, is in docs/development.md; test/package/module-graph.test.ts proves it has no cycle.
//
//   adapters/ ──▶ package entries only (src/index.ts, src/adapter-kit.ts, src/callback.ts)
//   src/*.ts (entries), src/cli, src/testing ──▶ anything in src/
//   src/core/handler.ts, default-instance.ts (the composition root) ──▶ providers, store, delivery, notifications, events, core
//   src/core (the rest: config, commit, lifecycle, orders, errors, ids …) ──▶ delivery, notifications, events, core
//   src/providers/<one> ──▶ core (not the composition root), delivery, notifications, events, store types, src/providers/*.ts
//   src/admin ──▶ core (not the composition root), store
//   src/delivery ──▶ core (not the composition root), notifications, events
//   src/notifications ──▶ core (not the composition root), events
//   src/store ──▶ core (not the composition root), events
//   src/events ──▶ nothing (a leaf)
const rule = (...groups) => ({
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: frameworks
        .filter((f) => !f.includes('*'))
        .map((name) => ({ name, message: 'src/ must not import a framework or driver (types only: use `import type`).', allowTypeImports: true })),
      patterns: [
        { group: ['**/adapters/**', '../adapters/*', '../../adapters/*'], message: 'src/ must not import adapters/.' },
        { group: ['next/*'], message: 'src/ must not import a framework.', allowTypeImports: true },
        ...groups.map(([group, message]) => ({ group, message, allowTypeImports: true })),
      ],
    },
  ],
});
const compositionRoot = [['**/core/handler*', '**/core/default-instance*'], 'only the entries import the composition root (src/core/handler.ts).'];
const noTools = [['**/cli/**', '**/testing/**'], 'the library does not import the CLI or the testing kit.'];
const layer = (files, ...groups) => ({ files, ignores: ['src/**/*.test.ts'], rules: rule(...groups) });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/generated/**', 'coverage/**', 'bench/results/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {},
  },
  // The core is framework-free: adapters depend on it, never the other way round.
  layer(['src/**/*.ts']),
  layer(['src/core/**/*.ts'], noTools, [
    ['**/providers/**', '**/store/**', '**/admin/**'],
    'in src/core only the composition root (handler.ts) wires providers and stores.',
  ]),
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/core/handler.ts', 'src/core/default-instance.ts'],
    rules: rule(
      noTools,
      [['**/providers/**', '**/store/**', '**/admin/**'], 'in src/core only the composition root (handler.ts) wires providers and stores.'],
      [
        ['./handler*', './default-instance*', '**/core/handler*', '**/core/default-instance*'],
        'only the entries import the composition root (src/core/handler.ts).',
      ],
    ),
  },
  layer(['src/core/handler.ts', 'src/core/default-instance.ts'], noTools, [['**/admin/**'], 'the composition root does not build the admin views.']),
  // What the providers share (src/providers/*.ts): below every provider, so it imports none of them.
  layer(['src/providers/*.ts'], noTools, compositionRoot, [
    ['./apple/**', './google/**', './xsolla/**', '**/providers/apple/**', '**/providers/google/**', '**/providers/xsolla/**', '**/admin/**'],
    'what the providers share imports no provider (nor the admin views).',
  ]),
  ...['apple', 'google', 'xsolla'].map((provider) =>
    layer(
      [`src/providers/${provider}/**/*.ts`],
      noTools,
      compositionRoot,
      [
        [...['apple', 'google', 'xsolla'].filter((other) => other !== provider).flatMap((other) => [`../${other}/**`, `**/providers/${other}/**`])],
        'a provider does not import another provider (shared code lives in src/providers/*.ts or src/core).',
      ],
      [['**/admin/**'], 'providers do not import the admin views.'],
    ),
  ),
  layer(['src/admin/**/*.ts'], noTools, compositionRoot, [
    ['**/providers/**', '**/delivery/**', '**/notifications/**'],
    'the admin views read the store only.',
  ]),
  layer(['src/delivery/**/*.ts'], noTools, compositionRoot, [
    ['**/providers/**', '**/store/**', '**/admin/**'],
    'delivery does not import providers, stores or admin.',
  ]),
  layer(['src/notifications/**/*.ts'], noTools, compositionRoot, [
    ['**/providers/**', '**/store/**', '**/admin/**', '**/delivery/**'],
    'notifications import the core and events only.',
  ]),
  layer(['src/store/**/*.ts'], noTools, compositionRoot, [
    ['**/providers/**', '**/delivery/**', '**/notifications/**', '**/admin/**'],
    'a store does not import providers, delivery, notifications or admin.',
  ]),
  layer(['src/events/**/*.ts'], [['../**'], 'events is a leaf: it imports nothing else of the package at run time.']),
  {
    files: ['adapters/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/*/**'],
              message: 'adapters import the package entries only (src/index.ts, src/adapter-kit.ts, src/callback.ts).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
