import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { SubscriptionWebhooksError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** The environment variable read when `secretsKey` is not given. */
export const SECRET_KEY_ENV = 'SUBSCRIPTION_WEBHOOKS_SECRET_KEY';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** One AES-256 key and its id (the first 16 hex digits of its SHA-256, stored next to what it encrypted). */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/**
 * Parses `secretsKey` (or the env variable): base64 of 32 bytes, or several separated by commas (the
 * first encrypts; every one decrypts, for rotating the key). Undefined or empty: no key.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` for a key that is not base64 of 32 bytes
 */
export function parseSecretKeys(value: string | readonly string[] | undefined, where: string): SecretKey[] {
  if (value === undefined) return [];
  const parts = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim()).filter(Boolean);
  return parts.map((b64, i) => {
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      const which = parts.length > 1 ? `key #${i + 1} of ${parts.length}` : 'the key';
      throw new SubscriptionWebhooksError(
        'CONFIG_INVALID',
        `Invalid subscription-webhooks config: ${where}: ${which} must be base64 of 32 random bytes (e.g. \`openssl rand -base64 32\`)`,
      );
    }
    return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key };
  });
}

/** Encrypts and decrypts endpoint signing secrets at rest (AES-256-GCM, the endpoint id and field as associated data). */
export interface SecretBox {
  /** The id of the key new secrets are encrypted with; null when no key is configured (stored in plaintext). */
  readonly keyId: string | null;
  /** The stored form of `plain`: `enc:v1:<key id>:<base64 iv|ciphertext|tag>`, or `plain` itself without a key. */
  seal(plain: string, endpointId: string, field: string): string;
  /**
   * The plaintext of a stored secret (a plaintext row is returned as it is).
   * @throws SubscriptionWebhooksError `CONFIG_INVALID` when its key is not configured or it does not decrypt
   */
  open(stored: string, endpointId: string, field: string): string;
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The key id a stored secret was encrypted with, or null for a plaintext one. */
export function sealedKeyId(stored: string): string | null {
  if (!isSealed(stored)) return null;
  return stored.slice(PREFIX.length).split(':', 1)[0] ?? null;
}

export function createSecretBox(keys: readonly SecretKey[]): SecretBox {
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const current = keys[0] ?? null;
  const aad = (endpointId: string, field: string) => Buffer.from(`${endpointId}/${field}`, 'utf8');
  return {
    keyId: current?.id ?? null,
    seal(plain, endpointId, field) {
      if (!current) return plain;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(aad(endpointId, field));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${PREFIX}${current.id}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')}`;
    },
    open(stored, endpointId, field) {
      if (!isSealed(stored)) return stored;
      const [keyId, b64] = stored.slice(PREFIX.length).split(':', 2) as [string, string | undefined];
      const key = byId.get(keyId);
      if (!key) {
        throw new SubscriptionWebhooksError(
          'CONFIG_INVALID',
          `the ${field} of webhook endpoint ${endpointId} is encrypted with key ${keyId}, which is not configured (secretsKey / ${SECRET_KEY_ENV})`,
        );
      }
      try {
        const raw = Buffer.from(b64 ?? '', 'base64');
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(aad(endpointId, field));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new SubscriptionWebhooksError(
          'CONFIG_INVALID',
          `the ${field} of webhook endpoint ${endpointId} does not decrypt with key ${keyId} (altered, or moved from another endpoint)`,
          { cause },
        );
      }
    },
  };
}

/** `whsec_…abcd`: enough to tell secrets apart, nothing to sign with. */
export function maskSecret(plain: string): string {
  return `whsec_…${plain.slice(-4)}`;
}

let warnedNoKey = false;

/** Logs once per process, outside development and test, that endpoint secrets are stored in plaintext. */
export function warnOnceWithoutKey(keys: readonly SecretKey[], logger: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (keys.length > 0 || warnedNoKey || env.NODE_ENV === 'development' || env.NODE_ENV === 'test') return;
  warnedNoKey = true;
  logger.warn(
    {},
    `no secretsKey configured: webhook endpoint signing secrets are stored in plaintext; set ${SECRET_KEY_ENV} to base64 of 32 random bytes (openssl rand -base64 32)`,
  );
}
