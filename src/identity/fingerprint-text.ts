// Fingerprints as people read, type and paste them. No Node APIs: the web console uses
// these too, so that it accepts exactly what the API accepts.

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
