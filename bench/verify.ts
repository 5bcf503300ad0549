/**
 * Verify + decode of one full notification (outer JWS verified, nested transaction and renewal info
 * decoded), one core, warm: ours vs @apple/app-store-server-library vs the physical floor (one bare
 * ES256 `crypto.verify` with a cached key). Also cold: a chain seen for the first time.
 */
import { createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { Bench } from 'tinybench';
import { createAppleVerifier } from '../src/index.js';
import { appleLibraryVerifier } from './lib/apple-library-verifier.js';
import { APP_APPLE_ID, benchSigner, BUNDLE_ID, median, signedBodies } from './lib/fixtures.js';

export interface VerifyResult {
  ours_ops_per_s: number;
  apple_ops_per_s: number;
  floor_ops_per_s: number;
  ours_cold_ops_per_s: number;
}

export async function runVerifyBench(runs = 5, timeMs = 1000): Promise<VerifyResult> {
  const signer = await benchSigner();
  const [body] = await signedBodies(signer, 1);
  const signedPayload = (JSON.parse(body!) as { signedPayload: string }).signedPayload;
  const ours = createAppleVerifier({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [signer.rootCertificate] });
  const apple = appleLibraryVerifier(signer.rootCertificate, BUNDLE_ID, APP_APPLE_ID);
  // The floor: the one ECDSA P-256 verification any verifier must do, with the key already imported.
  const [h, p, s] = signedPayload.split('.') as [string, string, string];
  const leafKey = createPublicKey(new X509Certificate(Buffer.from(signer.x5c[0]!, 'base64')).publicKey.export({ format: 'pem', type: 'spki' }));
  const signingInput = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (!cryptoVerify('sha256', signingInput, { key: leafKey, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('floor: signature does not verify');
  // Cold: a fresh verifier each time (empty chain cache), as for the first notification after a restart.
  const coldOptions = { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [signer.rootCertificate] };

  const samples: Record<keyof VerifyResult, number[]> = { ours_ops_per_s: [], apple_ops_per_s: [], floor_ops_per_s: [], ours_cold_ops_per_s: [] };
  for (let run = 0; run < runs; run++) {
    const bench = new Bench({ time: timeMs, warmupTime: 200 });
    bench
      .add('ours', async () => {
        await ours.verifyNotification(signedPayload);
      })
      .add('apple', async () => {
        await apple.verifyNotification(signedPayload);
      })
      .add('floor', () => {
        cryptoVerify('sha256', signingInput, { key: leafKey, dsaEncoding: 'ieee-p1363' }, signature);
      })
      .add('ours_cold', async () => {
        await createAppleVerifier(coldOptions).verifyNotification(signedPayload);
      });
    await bench.run();
    const ops = (name: string) => (bench.tasks.find((t) => t.name === name)!.result as unknown as { throughput: { mean: number } }).throughput.mean;
    samples.ours_ops_per_s.push(ops('ours'));
    samples.apple_ops_per_s.push(ops('apple'));
    samples.floor_ops_per_s.push(ops('floor'));
    samples.ours_cold_ops_per_s.push(ops('ours_cold'));
  }
  return {
    ours_ops_per_s: median(samples.ours_ops_per_s),
    apple_ops_per_s: median(samples.apple_ops_per_s),
    floor_ops_per_s: median(samples.floor_ops_per_s),
    ours_cold_ops_per_s: median(samples.ours_cold_ops_per_s),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runVerifyBench(Number(process.env.RUNS ?? 5), Number(process.env.TIME_MS ?? 1000)));
}
