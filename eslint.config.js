import tseslint from 'typescript-eslint';

const frameworks = ['express', 'express4', 'koa', '@koa/router', 'next', 'next/*', 'hono', '@prisma/client', 'better-sqlite3', 'pg'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/generated/**', 'coverage/**', 'bench/results/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {},
  },
  {
    // The core is framework-free: adapters depend on it, never the other way round.
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: frameworks
            .filter((f) => !f.includes('*'))
            .map((name) => ({ name, message: 'src/ must not import a framework or driver (types only: use `import type`).', allowTypeImports: true })),
          patterns: [
            { group: ['**/adapters/**', '../adapters/*', '../../adapters/*'], message: 'src/ must not import adapters/.' },
            { group: ['next/*'], message: 'src/ must not import a framework.', allowTypeImports: true },
          ],
        },
      ],
    },
  },
);
