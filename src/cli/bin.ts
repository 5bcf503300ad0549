#!/usr/bin/env node
/**
 * `npx subscription-webhooks …`: simulate notifications against a dev server, ask Apple for a test
 * notification, reconcile missed notifications, locate the Prisma fragment. See `--help`.
 * @module subscription-webhooks/cli
 */
import { runCli } from './main.js';

// No top-level await: the same entry also builds as CommonJS.
void runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
