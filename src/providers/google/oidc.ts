import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { SubscriptionWebhooksError } from '../../core/errors.js';

/** Issuers of Google-signed ID tokens (Pub/Sub push tokens use the first). */
export const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

/** Options of {@link createPushTokenVerifier}. */
export interface PushTokenVerifierOptions {
  /** Google's JWKS (`https://www.googleapis.com/oauth2/v3/certs`), or a local stand-in in tests. */
  jwksUrl: string;
  /** The push subscription's configured audience. */
  audience: string;
  /** The push subscription's service account (the token's `email`). */
  serviceAccountEmail: string;
  /** Seconds of clock skew tolerated on `exp` and `iat`. @default 60 */
  clockToleranceSeconds?: number;
  /** Timeout of one JWKS fetch in ms. @default 5000 */
  timeoutMs?: number;
  /** Cache lifetime when the JWKS answer has no `Cache-Control: max-age`. @default 3600000 */
  defaultMaxAgeMs?: number;
  /** Longest cache lifetime, whatever `max-age` says. @default 86400000 */
  maxMaxAgeMs?: number;
  /** An unknown `kid` refetches the key set (a rotation), at most once per this many ms (a forged `kid` cannot make us hammer Google). @default 30000 */
  refetchCooldownMs?: number;
  /** Keys kept from one key set (Google publishes two or three). @default 16 */
  maxKeys?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The verified claims of a push token. */
export interface PushTokenClaims extends JWTPayload {
  email: string;
  email_verified: true;
}

const MAX_JWKS_BYTES = 64 * 1024;
const MAX_TOKEN_LENGTH = 8192;

/** `max-age` of a `Cache-Control` header in ms; null when absent (or `no-store` / `no-cache`: 0). */
export function cacheControlMaxAgeMs(header: string | null): number | null {
  if (!header) return null;
  if (/\bno-(store|cache)\b/i.test(header)) return 0;
  const m = /\bmax-age\s*=\s*"?(\d{1,10})"?/i.exec(header);
  return m ? Number(m[1]) * 1000 : null;
}

interface CachedKeys {
  resolve: ReturnType<typeof createLocalJWKSet>;
  kids: ReadonlySet<string>;
  expiresAt: number;
}

/**
 * Verifies the `Authorization: Bearer` OIDC token Cloud Pub/Sub attaches to a push: RS256 only,
 * signed by a key of Google's JWKS (fetched with a timeout, cached for its `Cache-Control: max-age`,
 * fetched again when a token names a `kid` it does not hold, at most once per cooldown), issuer
 * `accounts.google.com`, the configured audience, `exp` / `iat` within the clock tolerance, and
 * `email` = the push service account with `email_verified`.
 */
export function createPushTokenVerifier(options: PushTokenVerifierOptions): { verify(authorization: string | undefined): Promise<PushTokenClaims> } {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const tolerance = options.clockToleranceSeconds ?? 60;
  const timeoutMs = options.timeoutMs ?? 5000;
  const defaultMaxAge = options.defaultMaxAgeMs ?? 3_600_000;
  const maxMaxAge = options.maxMaxAgeMs ?? 86_400_000;
  const cooldown = options.refetchCooldownMs ?? 30_000;
  const maxKeys = options.maxKeys ?? 16;
  let cached: CachedKeys | null = null;
  let inflight: Promise<CachedKeys> | null = null;
  let lastKidRefetch = -Infinity;

  async function fetchKeys(): Promise<CachedKeys> {
    const unavailable = (why: string, cause?: unknown) =>
      new SubscriptionWebhooksError('GOOGLE_JWKS_UNAVAILABLE', `Google's signing keys could not be fetched from ${options.jwksUrl}: ${why}`, { cause });
    let res: Response;
    let text: string;
    try {
      res = await doFetch(options.jwksUrl, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (cause) {
      throw unavailable((cause as Error)?.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : 'network error', cause);
    }
    if (!res.ok) throw unavailable(`HTTP ${res.status}`);
    if (text.length > MAX_JWKS_BYTES) throw unavailable('the key set is too large');
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(text) as JSONWebKeySet;
      if (!Array.isArray(jwks?.keys)) throw new Error('no keys array');
    } catch (cause) {
      throw unavailable('not a JSON key set', cause);
    }
    // Bounded: a key set is a handful of RSA keys; anything beyond is ignored.
    const keys = jwks.keys.filter((k) => k && typeof k === 'object' && k.kty === 'RSA').slice(0, maxKeys);
    const maxAge = cacheControlMaxAgeMs(res.headers.get('cache-control')) ?? defaultMaxAge;
    const at = now();
    return {
      resolve: createLocalJWKSet({ keys }),
      kids: new Set(keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string')),
      expiresAt: at + Math.min(maxAge, maxMaxAge),
    };
  }

  /** One fetch for concurrent callers. */
  function refresh(): Promise<CachedKeys> {
    inflight ??= fetchKeys()
      .then((keys) => {
        cached = keys;
        return keys;
      })
      .finally(() => {
        inflight = null;
      });
    return inflight;
  }

  async function keysFor(kid: string | undefined): Promise<CachedKeys> {
    const current = cached;
    if (!current || now() >= current.expiresAt) {
      try {
        return await refresh();
      } catch (err) {
        // Google's endpoint down: keys that expired a moment ago are still Google's (a stale key set beats none).
        if (current && now() < current.expiresAt + maxMaxAge) return current;
        throw err;
      }
    }
    if (kid !== undefined && !current.kids.has(kid) && now() - lastKidRefetch >= cooldown) {
      lastKidRefetch = now();
      return refresh();
    }
    return current;
  }

  const invalid = (message: string, cause?: unknown) => new SubscriptionWebhooksError('GOOGLE_TOKEN_INVALID', message, { cause });

  return {
    async verify(authorization) {
      if (!authorization)
        throw new SubscriptionWebhooksError('GOOGLE_AUTH_MISSING', 'No Authorization header: enable authentication on the Pub/Sub push subscription');
      const m = /^Bearer[ \t]+([A-Za-z0-9_.-]+)[ \t]*$/i.exec(authorization);
      if (!m) throw new SubscriptionWebhooksError('GOOGLE_AUTH_MISSING', 'Authorization is not "Bearer <token>"');
      const token = m[1]!;
      if (token.length > MAX_TOKEN_LENGTH) throw invalid('The push token is too long');
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch (cause) {
        throw invalid('The push token is not a JWT', cause);
      }
      if (header.alg !== 'RS256') throw invalid(`The push token is signed with ${String(header.alg)}, not RS256`);
      if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 256) throw invalid('The push token names no key (kid)');
      const keys = await keysFor(header.kid);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys.resolve, {
          algorithms: ['RS256'],
          issuer: GOOGLE_ISSUERS,
          clockTolerance: tolerance,
          currentDate: new Date(now()),
          requiredClaims: ['exp', 'iat', 'aud', 'iss'],
        }));
      } catch (cause) {
        if (cause instanceof joseErrors.JWTExpired) throw new SubscriptionWebhooksError('GOOGLE_TOKEN_EXPIRED', 'The push token has expired', { cause });
        if (cause instanceof joseErrors.JWKSNoMatchingKey) throw invalid(`The push token's key ${header.kid} is not one of Google's`, cause);
        if (cause instanceof joseErrors.JWTClaimValidationFailed) throw invalid(`The push token's \`${cause.claim}\` claim is invalid: ${cause.reason}`, cause);
        throw invalid('The push token does not verify', cause);
      }
      if (typeof payload.iat !== 'number' || payload.iat > now() / 1000 + tolerance) throw invalid('The push token was issued in the future');
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!aud.includes(options.audience))
        throw new SubscriptionWebhooksError('GOOGLE_AUDIENCE_MISMATCH', 'The push token is for another audience than `google.audience`');
      if (payload.email !== options.serviceAccountEmail || payload.email_verified !== true) {
        throw new SubscriptionWebhooksError(
          'GOOGLE_SERVICE_ACCOUNT_MISMATCH',
          'The push token is not from `google.serviceAccountEmail` (with a verified email)',
        );
      }
      return payload as PushTokenClaims;
    },
  };
}
