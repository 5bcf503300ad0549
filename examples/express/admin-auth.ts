import { createHash, timingSafeEqual } from 'node:crypto';
import type express from 'express';
import type { AdminAuthorization } from '../../src/index.js';

/**
 * The example's sign-in for the admin dashboard: HTTP Basic with two fixed users whose passwords come from
 * the environment. `admin` gets read-write (ADMIN_PASSWORD), `viewer` read only (ADMIN_READ_PASSWORD, optional).
 * The browser asks for them once and sends them with every request; use HTTPS in front of it, as for any
 * password. A real app signs in with its own accounts and session, and answers `authorize` from them.
 */
export interface AdminPasswords {
  /** User `admin`: read-write. */
  readWrite: string;
  /** User `viewer`: read only. */
  read?: string;
}

const MIN_LENGTH = 12;

/** The passwords from ADMIN_PASSWORD and ADMIN_READ_PASSWORD; null when ADMIN_PASSWORD is not set (no dashboard). */
export function adminPasswordsFromEnv(env: Record<string, string | undefined> = process.env): AdminPasswords | null {
  if (!env.ADMIN_PASSWORD) return null;
  const passwords = { readWrite: env.ADMIN_PASSWORD, ...(env.ADMIN_READ_PASSWORD ? { read: env.ADMIN_READ_PASSWORD } : {}) };
  for (const [name, p] of [
    ['ADMIN_PASSWORD', passwords.readWrite],
    ['ADMIN_READ_PASSWORD', passwords.read],
  ] as const)
    if (p !== undefined && p.length < MIN_LENGTH) throw new Error(`${name} must be at least ${MIN_LENGTH} characters`);
  return passwords;
}

/** Compares without leaking where the two differ, or their lengths (both are hashed first). */
const same = (a: string, b: string): boolean => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** Who the request's HTTP Basic credentials name, or null when they are missing or wrong. */
function signedIn(req: express.Request, passwords: AdminPasswords): { role: 'read' | 'read-write'; actor: string } | null {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  // Both comparisons run whatever the user name, so timing does not tell which users exist.
  const writer = same(password, passwords.readWrite) && user === 'admin';
  const reader = passwords.read !== undefined && same(password, passwords.read) && user === 'viewer';
  return writer ? { role: 'read-write', actor: 'admin' } : reader ? { role: 'read', actor: 'viewer' } : null;
}

/**
 * `guard` answers 401 with a Basic challenge until the browser sends the right credentials; `authorize` (the
 * dashboard's option) answers the role and the user name (the audit log's actor; CSRF tokens are bound to it).
 */
export function basicAuthAdmin(passwords: AdminPasswords): {
  guard: express.RequestHandler;
  authorize: (req: express.Request) => AdminAuthorization;
} {
  return {
    guard(req, res, next) {
      if (signedIn(req, passwords)) return next();
      res
        .set('www-authenticate', 'Basic realm="subscription-webhooks admin", charset="UTF-8"')
        .status(401)
        .type('text/plain')
        .send('Sign in to see the dashboard.');
    },
    authorize: (req) => signedIn(req, passwords) ?? 'denied',
  };
}
