/**
 * `subscription-webhooks simulate google …` against a dev server over real HTTP: `env` prints what the
 * server needs (read here as the zero-config environment), `lifecycle` runs the local Google stand-in and
 * pushes a purchase's lifecycle (and a redelivery, and a forgery) at the route; a second run, with the same
 * persisted keys, is still trusted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { createSubscriptionWebhooks, memoryStore } from '../../src/index.js';
import { recordingLogger } from '../helpers/apple-harness.js';

const root = new URL('../..', import.meta.url).pathname;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GOOGLE_PLAY_')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    cwd: root,
    env: clean as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('simulate google', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of closers) await c();
    vi.unstubAllEnvs();
  });

  it('env, then lifecycle against a server started with that env: every step answered as expected; a second run is still trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-cli-google-'));
    const port = await freePort();
    const env = await cli(['simulate', 'google', 'env', '--json', '--dir', dir, '--port', String(port), '--package', 'com.example.sim']);
    expect(env.code, env.stderr).toBe(0);
    const vars = JSON.parse(env.stdout) as Record<string, string>;
    expect(Object.keys(vars).sort()).toEqual([
      'GOOGLE_PLAY_API_BASE_URL',
      'GOOGLE_PLAY_JWKS_URL',
      'GOOGLE_PLAY_KEY_FILE',
      'GOOGLE_PLAY_PACKAGE_NAME',
      'GOOGLE_PLAY_PUSH_AUDIENCE',
      'GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT',
    ]);
    for (const [k, v] of Object.entries(vars)) vi.stubEnv(k, v);
    const store = memoryStore();
    const hooks = createSubscriptionWebhooks({ store, logger: recordingLogger() });
    const server = express().use(subscriptionWebhooks(hooks)).listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/google/rtdn`;

    const run = await cli(['simulate', 'google', 'lifecycle', '--url', url, '--dir', dir, '--token', 'sim-token-1', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      ok: boolean;
      steps: Array<{ label: string; status: number; body: { duplicate?: boolean; error?: { code: string } } }>;
    };
    expect(out.steps.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 401]);
    expect(out.steps[1]!.body.duplicate).toBe(true);
    expect(out.steps[5]!.body.error?.code).toBe('GOOGLE_AUDIENCE_MISMATCH');
    expect(await hooks.subscriptions.get('sim-token-1', 'google')).toMatchObject({ status: 'expired', product_id: 'pro_monthly' });

    // A later run: a new stand-in with the same keys (the server's cached access token is unknown to it: refreshed once).
    const again = await cli(['simulate', 'google', 'SUBSCRIPTION_PURCHASED', '--url', url, '--dir', dir, '--token', 'sim-token-2']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/SUBSCRIPTION_PURCHASED\s+\S+\s+200\s+200\s+processed/);
    expect((await hooks.subscriptions.get('sim-token-2', 'google'))?.status).toBe('active');
    const usage = await cli(['simulate', 'google', 'NOT_A_TYPE', '--url', url, '--dir', dir]);
    expect(usage.code).toBe(2);
  }, 120_000);
});
