import { createHash, createPublicKey } from 'node:crypto';
import { remembered } from './remembered.js';

/** SHA-256 of the DER SubjectPublicKeyInfo, in canonical form: 64 lowercase hex characters. */
export const fingerprintOf: (publicKeyPem: string) => string = remembered((publicKeyPem) => {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
});

export { canonicalFingerprint, formatFingerprint } from './fingerprint-text.js';
