import { createHash, createPublicKey } from 'node:crypto';

/** SHA-256 of the DER SubjectPublicKeyInfo, in canonical form: 64 lowercase hex characters. */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The canonical form of a fingerprint as people copy it: any case, `:` or space
 * separators, an optional `SHA256:` prefix. Undefined when it is not a fingerprint.
 */
export function canonicalFingerprint(input: string): string | undefined {
  const hex = input.trim().replace(/^sha-?256:/i, '').replace(/[\s:]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The canonical form grouped for reading aloud: ab12:cd34:... */
export function formatFingerprint(fingerprint: string): string {
  return fingerprint.match(/.{4}/g)?.join(':') ?? fingerprint;
}
