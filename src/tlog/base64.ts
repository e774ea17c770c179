// Standard base64 with padding (RFC 4648 section 4,
// https://www.rfc-editor.org/rfc/rfc4648#section-4), as signed notes, verifier keys and
// checkpoints use it. Decoding is strict: Buffer.from(text, 'base64') skips characters it
// does not know and accepts missing padding, so two different texts could carry the same
// bytes; here only the one canonical encoding of some bytes decodes.

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The bytes `text` encodes, or undefined when it is not their canonical base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding catches what the pattern lets through: misplaced padding, and nonzero
  // bits in the last character's unused positions.
  return encodeBase64(bytes) === text ? new Uint8Array(bytes) : undefined;
}
