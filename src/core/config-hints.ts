import type { z } from 'zod';

/** Config keys that the environment can set, and the variable that sets each. */
export const CONFIG_ENV: Readonly<Record<string, string>> = {
  'apple.bundleId': 'APPLE_BUNDLE_ID',
  'apple.appAppleId': 'APPLE_APP_APPLE_ID',
  'apple.environments': 'APPLE_ENVIRONMENTS',
  'apple.rootCertificates': 'APPLE_ROOT_CERTIFICATES',
  'apple.api.keyId': 'APPLE_KEY_ID',
  'apple.api.issuerId': 'APPLE_ISSUER_ID',
  'apple.api.privateKey': 'APPLE_PRIVATE_KEY_PATH',
  'apple.api.baseUrl': 'APPLE_API_BASE_URL',
  'xsolla.projectId': 'XSOLLA_PROJECT_ID',
  'xsolla.secretKey': 'XSOLLA_WEBHOOK_SECRET',
  'google.packageName': 'GOOGLE_PLAY_PACKAGE_NAME',
  'google.audience': 'GOOGLE_PLAY_PUSH_AUDIENCE',
  'google.serviceAccountEmail': 'GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT',
  'google.jwksUrl': 'GOOGLE_PLAY_JWKS_URL',
  'google.api.keyFile': 'GOOGLE_PLAY_KEY_FILE',
  'google.api.baseUrl': 'GOOGLE_PLAY_API_BASE_URL',
};

type Issue = z.core.$ZodIssue;
type AnySchema = z.ZodType & { shape?: Record<string, AnySchema>; unwrap?: () => AnySchema };

/** The object keys a strict object schema accepts at `path` (optional wrappers looked through). */
export function keysAt(schema: AnySchema, path: ReadonlyArray<PropertyKey>): string[] {
  let s: AnySchema | undefined = schema;
  for (const key of path) {
    while (s && !s.shape && typeof s.unwrap === 'function') s = s.unwrap();
    s = s?.shape?.[String(key)];
  }
  while (s && !s.shape && typeof s.unwrap === 'function') s = s.unwrap();
  return s?.shape ? Object.keys(s.shape) : [];
}

/** Levenshtein distance, case-insensitive (a wrong case counts as no edit). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[y.length]!;
}

/** The known key closest to `key` (a typo, a wrong case), if one is close enough to be meant. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 4)) ? best : undefined;
}

/**
 * One sentence for the first config problem: an unknown key first (a typo explains the "missing" key
 * next to it), with the closest known key; a missing or invalid key with the env variable that sets it.
 * @example
 * configIssueMessage(schema, issues); // '`apple.bundleID` is not a known option; did you mean `apple.bundleId`?'
 */
export function configIssueMessage(schema: AnySchema, issues: readonly Issue[]): string {
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  const at = (path: ReadonlyArray<PropertyKey>) => path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0]!;
    const key = at([...issue.path, unknown]);
    const near = closestKey(unknown, keysAt(schema, issue.path));
    return near ? `\`${key}\` is not a known option; did you mean \`${at([...issue.path, near])}\`?` : `\`${key}\` is not a known option`;
  }
  const key = at(issue.path) || '(root)';
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const why = missing ? 'is required' : issue.message;
  const envKey = Object.keys(CONFIG_ENV).find((k) => key === k || key.startsWith(`${k}.`));
  const env = envKey && !why.includes(CONFIG_ENV[envKey]!) ? ` (env ${CONFIG_ENV[envKey]})` : '';
  return `\`${key}\` ${why}${env}`;
}
