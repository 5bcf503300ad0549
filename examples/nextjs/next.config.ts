import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NextConfig } from 'next';

// Inside the repository the example runs on the root's node_modules, so the build root is two levels up.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const config: NextConfig = {
  // Loaded by Node as it ships (not bundled): it finds its migration SQL next to itself, and every route shares one copy.
  serverExternalPackages: ['subscription-webhooks'],
  outputFileTracingRoot: root,
  turbopack: { root },
};
export default config;
