import { createHash, createPublicKey } from 'node:crypto';

/** Fingerprints of the keys seen: every request's token is checked against its issuer's key. */
const fingerprints = new Map<string, string>();

/** SHA-256 of the DER SubjectPublicKeyInfo, in canonical form: 64 lowercase hex characters. */
export function fingerprintOf(publicKeyPem: string): string {
  let fingerprint = fingerprints.get(publicKeyPem);
  if (fingerprint === undefined) {
    const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
    fingerprint = createHash('sha256').update(der).digest('hex');
    if (fingerprints.size >= 1_000) fingerprints.clear();
    fingerprints.set(publicKeyPem, fingerprint);
  }
  return fingerprint;
}

export { canonicalFingerprint, formatFingerprint } from './fingerprint-text.js';
