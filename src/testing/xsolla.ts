import { xsollaSignature } from '../providers/xsolla/signature.js';

/**
 * The `Authorization` header value Xsolla would send with `body`: `Signature <sha1(body + secret)>`.
 * Sign the exact bytes you send: a re-serialized body does not verify.
 *
 * @example
 * ```ts
 * import { signXsollaBody } from 'subscription-webhooks/testing';
 * const body = JSON.stringify({ notification_type: 'user_validation', settings: { project_id: 123456 }, user: { id: 'user_42' } });
 * await request(app).post('/api/xsolla/webhooks').set('authorization', signXsollaBody(body, secret)).send(body).expect(204);
 * ```
 */
export function signXsollaBody(body: string | Uint8Array, secret: string): string {
  return `Signature ${xsollaSignature(body, secret)}`;
}
