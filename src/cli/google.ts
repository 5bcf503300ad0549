import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createGooglePlayTestKit, type GooglePlayTestKitKeys } from '../testing/google.js';
import { SUBSCRIPTION_NOTIFICATION_TYPES } from '../providers/google/schemas.js';

/** What `simulate google` keeps in `.subscription-webhooks/google-play.json`, so a dev server configured once keeps trusting it. */
interface GoogleSimulatorFile {
  port: number;
  packageName: string;
  audience: string;
  serviceAccountEmail: string;
  keys: GooglePlayTestKitKeys;
}

/** The local Google stand-in's settings: created on first use (with `port` and `packageName`), read afterwards. */
export async function loadOrCreateGoogleSimulator(
  dir: string,
  options: { port?: number; packageName?: string },
): Promise<GoogleSimulatorFile & { dir: string; keyFile: string; env: Record<string, string> }> {
  const path = join(dir, 'google-play.json');
  let file: GoogleSimulatorFile;
  if (existsSync(path)) file = JSON.parse(readFileSync(path, 'utf8')) as GoogleSimulatorFile;
  else {
    const kit = await createGooglePlayTestKit();
    file = {
      port: options.port ?? 8788,
      packageName: options.packageName ?? 'com.example.app',
      audience: 'subscription-webhooks-simulator',
      serviceAccountEmail: kit.serviceAccountEmail,
      keys: kit.keys(),
    };
    await kit.close();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  }
  const base = `http://127.0.0.1:${file.port}`;
  const keyFile = resolve(dir, 'google-play-key.json');
  // The service account key a dev server reads (GOOGLE_PLAY_KEY_FILE): its token endpoint is the stand-in.
  writeFileSync(
    keyFile,
    `${JSON.stringify({ type: 'service_account', private_key_id: file.keys.api.keyId, private_key: file.keys.api.privateKey, client_email: file.keys.api.email, token_uri: `${base}/token` }, null, 2)}\n`,
    { mode: 0o600 },
  );
  return {
    ...file,
    dir,
    keyFile,
    env: {
      GOOGLE_PLAY_PACKAGE_NAME: file.packageName,
      GOOGLE_PLAY_PUSH_AUDIENCE: file.audience,
      GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT: file.serviceAccountEmail,
      GOOGLE_PLAY_JWKS_URL: `${base}/jwks`,
      GOOGLE_PLAY_KEY_FILE: keyFile,
      GOOGLE_PLAY_API_BASE_URL: base,
    },
  };
}

/** One step of a simulated Google Play lifecycle: the notification and the state Google holds when it is read. */
interface Step {
  label: string;
  type: string;
  state: string;
  order: string;
  expiryDays: number;
  /** Send the previous step's message again (Pub/Sub redelivery). */
  again?: boolean;
  /** Sign the push for another audience (a forgery). */
  forged?: boolean;
  expect: number;
}

const LIFECYCLE: Step[] = [
  { label: 'SUBSCRIPTION_PURCHASED', type: 'SUBSCRIPTION_PURCHASED', state: 'SUBSCRIPTION_STATE_ACTIVE', order: '', expiryDays: 30, expect: 200 },
  {
    label: 'SUBSCRIPTION_PURCHASED (redelivered)',
    type: 'SUBSCRIPTION_PURCHASED',
    state: 'SUBSCRIPTION_STATE_ACTIVE',
    order: '',
    expiryDays: 30,
    again: true,
    expect: 200,
  },
  { label: 'SUBSCRIPTION_RENEWED', type: 'SUBSCRIPTION_RENEWED', state: 'SUBSCRIPTION_STATE_ACTIVE', order: '..0', expiryDays: 60, expect: 200 },
  { label: 'SUBSCRIPTION_CANCELED', type: 'SUBSCRIPTION_CANCELED', state: 'SUBSCRIPTION_STATE_CANCELED', order: '..0', expiryDays: 60, expect: 200 },
  { label: 'SUBSCRIPTION_EXPIRED', type: 'SUBSCRIPTION_EXPIRED', state: 'SUBSCRIPTION_STATE_EXPIRED', order: '..0', expiryDays: -1, expect: 200 },
  {
    label: 'forged (another audience)',
    type: 'SUBSCRIPTION_RENEWED',
    state: 'SUBSCRIPTION_STATE_ACTIVE',
    order: '..1',
    expiryDays: 90,
    forged: true,
    expect: 401,
  },
];

/** The state Google would hold when notification `type` is read. */
const STATE_OF: Readonly<Record<string, string>> = {
  SUBSCRIPTION_CANCELED: 'SUBSCRIPTION_STATE_CANCELED',
  SUBSCRIPTION_ON_HOLD: 'SUBSCRIPTION_STATE_ON_HOLD',
  SUBSCRIPTION_IN_GRACE_PERIOD: 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD',
  SUBSCRIPTION_PAUSED: 'SUBSCRIPTION_STATE_PAUSED',
  SUBSCRIPTION_EXPIRED: 'SUBSCRIPTION_STATE_EXPIRED',
  SUBSCRIPTION_REVOKED: 'SUBSCRIPTION_STATE_EXPIRED',
};

/** The steps for `simulate google <TYPE>`: one notification (TEST_NOTIFICATION: Google's test ping). */
export function googleSteps(what: string): Step[] | null {
  const type = what.toUpperCase();
  if (type === 'LIFECYCLE') return LIFECYCLE;
  if (type === 'TEST_NOTIFICATION' || type === 'TEST')
    return [{ label: 'TEST_NOTIFICATION', type: 'TEST_NOTIFICATION', state: '', order: '', expiryDays: 0, expect: 200 }];
  if (!Object.values(SUBSCRIPTION_NOTIFICATION_TYPES).includes(type)) return null;
  const renewal = type === 'SUBSCRIPTION_RENEWED' || type === 'SUBSCRIPTION_RECOVERED';
  return [
    {
      label: type,
      type,
      state: STATE_OF[type] ?? 'SUBSCRIPTION_STATE_ACTIVE',
      order: renewal ? '..0' : '',
      expiryDays: type === 'SUBSCRIPTION_EXPIRED' || type === 'SUBSCRIPTION_REVOKED' ? -1 : 30,
      expect: 200,
    },
  ];
}

/**
 * Runs `steps` against `url`: starts the local Google stand-in (JWKS, token endpoint, Play Developer API)
 * on the simulator's port with its keys, sets the purchase Google holds before each push, signs and POSTs.
 */
export async function runGoogleSteps(
  sim: Awaited<ReturnType<typeof loadOrCreateGoogleSimulator>>,
  steps: Step[],
  options: {
    url: string;
    token: string;
    productId: string;
    post: (url: string, body: string, headers: Record<string, string>) => Promise<{ status: number; body: string }>;
  },
): Promise<Array<{ label: string; messageId: string; status: number; expected: number; body: string }>> {
  const kit = await createGooglePlayTestKit({
    port: sim.port,
    keys: sim.keys,
    packageName: sim.packageName,
    audience: sim.audience,
    serviceAccountEmail: sim.serviceAccountEmail,
  });
  try {
    const orderBase = `GPA.${options.token.slice(-12)}`;
    const start = Date.now();
    const rows: Array<{ label: string; messageId: string; status: number; expected: number; body: string }> = [];
    let last: Awaited<ReturnType<typeof kit.push>> | null = null;
    for (const step of steps) {
      let push: Awaited<ReturnType<typeof kit.push>>;
      if (step.again && last) push = last;
      else if (step.type === 'TEST_NOTIFICATION') push = await kit.push({ testNotification: { version: '1.0' } });
      else {
        kit.setSubscription(
          options.token,
          kit.subscriptionPurchase({
            productId: options.productId,
            state: step.state,
            orderId: `${orderBase}${step.order}`,
            startTime: start,
            expiryTime: start + step.expiryDays * 86_400_000,
            acknowledged: step.order !== '',
          }),
        );
        push = await kit.push(
          kit.subscriptionNotification(step.type, options.token),
          step.forged ? { token: { audience: 'https://attacker.example.com/push' } } : {},
        );
      }
      last = push;
      const res = await options.post(options.url, push.body, push.headers);
      rows.push({ label: step.label, messageId: push.messageId, status: res.status, expected: step.expect, body: res.body });
    }
    return rows;
  } finally {
    await kit.close();
  }
}
