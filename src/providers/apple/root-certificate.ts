/**
 * Apple Root CA - G3, the trust anchor of every App Store signed JWS (notifications, transactions,
 * renewal info). Bundled so verification never downloads anything; source:
 * https://www.apple.com/certificateauthority/AppleRootCA-G3.cer (valid 2014-04-30 to 2039-04-30).
 * SHA-256 fingerprint 63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79.
 */

/**
 * Apple Root CA - G3 as a base64 (not base64url) DER string.
 *
 * @example
 * import { APPLE_ROOT_CA_G3 } from './root-certificate.js';
 * const pem = `-----BEGIN CERTIFICATE-----\n${APPLE_ROOT_CA_G3}\n-----END CERTIFICATE-----`;
 */
export const APPLE_ROOT_CA_G3: string =
  'MIICQzCCAcmgAwIBAgIILcX8iNLFS5UwCgYIKoZIzj0EAwMwZzEbMBkGA1UEAwwSQXBwbGUgUm9v' +
  'dCBDQSAtIEczMSYwJAYDVQQLDB1BcHBsZSBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTETMBEGA1UE' +
  'CgwKQXBwbGUgSW5jLjELMAkGA1UEBhMCVVMwHhcNMTQwNDMwMTgxOTA2WhcNMzkwNDMwMTgxOTA2' +
  'WjBnMRswGQYDVQQDDBJBcHBsZSBSb290IENBIC0gRzMxJjAkBgNVBAsMHUFwcGxlIENlcnRpZmlj' +
  'YXRpb24gQXV0aG9yaXR5MRMwEQYDVQQKDApBcHBsZSBJbmMuMQswCQYDVQQGEwJVUzB2MBAGByqG' +
  'SM49AgEGBSuBBAAiA2IABJjpLz1AcqTtkyJygRMc3RCV8cWjTnHcFBbZDuWmBSp3ZHtfTjjTuxxE' +
  'tX/1H7YyYl3J6YRbTzBPEVoA/VhYDKX1DyxNB0cTddqXl5dvMVztK517IDvYuVTZXpmkOlEKMaNC' +
  'MEAwHQYDVR0OBBYEFLuw3qFYM4iapIqZ3r6966/ayySrMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P' +
  'AQH/BAQDAgEGMAoGCCqGSM49BAMDA2gAMGUCMQCD6cHEFl4aXTQY2e3v9GwOAEZLuN+yRhHFD/3m' +
  'eoyhpmvOwgPUnPWTxnS4at+qIxUCMG1mihDK1A3UT82NQz60imOlM27jbdoXt2QfyFMm+YhidDkL' +
  'F1vLUagM6BgD56KyKA==';

/**
 * Apple Root CA - G3 as DER bytes: the default `rootCertificates` of {@link createAppleVerifier}.
 * Decoded with `atob` rather than `Buffer` so the module runs outside Node too.
 *
 * @example
 * createAppleVerifier({ bundleId: 'com.example.app', environments: ['Sandbox'], rootCertificates: [APPLE_ROOT_CA_G3_DER] });
 */
export const APPLE_ROOT_CA_G3_DER: Uint8Array = Uint8Array.from(atob(APPLE_ROOT_CA_G3), (c) => c.charCodeAt(0));

/** The trusted roots as DER: `"apple"` (how the config names the bundled root) becomes {@link APPLE_ROOT_CA_G3_DER}. */
export function trustedRoots(roots: ReadonlyArray<Uint8Array | 'apple'> | undefined): Uint8Array[] | undefined {
  return roots?.map((root) => (root === 'apple' ? APPLE_ROOT_CA_G3_DER : root));
}
