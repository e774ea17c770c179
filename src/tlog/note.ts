// Signed notes, C2SP signed-note v1.0.0 (https://c2sp.org/signed-note@v1.0.0): a text
// ending in a newline, a blank line, then one line per signature,
// `— <key name> <base64(key ID || signature)>`. Keys are named and identified by a 4-byte
// key ID; verifiers know keys as "vkeys", `<name>+<hex key ID>+<base64(type || public key)>`.
//
// Choices within the spec:
// - Ed25519 (signature type 0x01) is the only note signature algorithm; timestamped
//   cosignatures (type 0x04) come from ./cosignature.ts through the same interfaces.
// - A signature from a known key that does not verify rejects the whole note (the spec's
//   SHOULD), and so does a note with more than 100 signatures (it asks for at least 16).
// - Base64 must be canonical, and vkey key IDs lowercase hex, as the spec writes them.
// - Keys are node:crypto KeyObjects; raw 32-byte Ed25519 public keys convert through JWK.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.js';

/** Signature type bytes assigned by the signed-note spec that this library implements. */
export const SignatureType = {
  /** Ed25519 over the note text. */
  ed25519: 0x01,
  /** Timestamped Ed25519 checkpoint cosignature, c2sp.org/tlog-cosignature. */
  cosignatureV1: 0x04,
} as const;
export type SignatureType = (typeof SignatureType)[keyof typeof SignatureType];

/** The most signatures a note may carry here. */
export const MAX_SIGNATURES = 100;

/** A note is malformed, or its signatures do not verify: the message says which. */
export class NoteError extends Error {
  override name = 'NoteError';
}

/** One signature line. */
export interface NoteSignature {
  readonly name: string;
  /** The key ID, an unsigned 32-bit integer. */
  readonly keyId: number;
  /** What follows the key ID: the signature, as its algorithm defines it. */
  readonly signature: Uint8Array;
}

/** A note as written: its text and its signature lines, none of them verified. */
export interface Note {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A note whose signatures were checked. */
export interface OpenedNote {
  readonly text: string;
  /** The signatures from known keys, all valid, one per key, in the note's order. */
  readonly verified: readonly NoteSignature[];
  /** The signatures from keys the verifier does not know, ignored. */
  readonly unknown: readonly NoteSignature[];
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The signature of `text` (what follows the key ID on its line). */
  sign(text: string): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(text: string, signature: Uint8Array): boolean;
}

/** A verifier key, parsed. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: SignatureType;
  /** Both supported types are Ed25519 keys. */
  readonly publicKey: KeyObject;
}

/** SHA-256(name || 0x0A || type || public key)[:4], big-endian: the spec's recommended key ID. */
export function keyId(name: string, type: SignatureType, rawPublicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name).update(Uint8Array.of(0x0a, type)).update(rawPublicKey).digest();
  return digest.readUInt32BE(0);
}

/** Raw public keys already derived: every append signs, and every catch-up verifies, a checkpoint with the same keys. */
const rawPublicKeys = new WeakMap<KeyObject, Uint8Array>();

/** The 32-byte RFC 8032 encoding of an Ed25519 public key, or of a private key's public half. */
export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  let raw = rawPublicKeys.get(key);
  if (raw) return raw;
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`a ${publicKey.asymmetricKeyType ?? publicKey.type} key is not an Ed25519 key`);
  }
  raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  rawPublicKeys.set(key, raw);
  return raw;
}

/** The Ed25519 public KeyObject of a 32-byte RFC 8032 public key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError(`an Ed25519 public key is 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** `<name>+<hex key ID>+<base64(type || public key)>`. */
export function formatVerifierKey(name: string, type: SignatureType, publicKey: KeyObject): string {
  checkKeyName(name);
  const raw = rawEd25519PublicKey(publicKey);
  return `${name}+${hex32(keyId(name, type, raw))}+${encodeBase64(Uint8Array.of(type, ...raw))}`;
}

/** Parses a verifier key of a supported type, checking that its key ID is its key's. */
export function parseVerifierKey(vkey: string): VerifierKey {
  const [name = '', id = '', ...rest] = vkey.split('+');
  // Base64 has '+' in its alphabet: the key is everything after the second '+'.
  const encodedKey = rest.join('+');
  if (!isKeyName(name)) throw new NoteError(`the verifier key's name ${JSON.stringify(name)} is not a key name`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new NoteError(`the verifier key's key ID ${JSON.stringify(id)} is not 8 lowercase hex digits`);
  const key = decodeBase64(encodedKey);
  if (!key || key.length === 0) throw new NoteError(`the verifier key's key is not base64`);
  const type = key[0];
  if (type !== SignatureType.ed25519 && type !== SignatureType.cosignatureV1) {
    throw new NoteError(`the verifier key's signature type 0x${type!.toString(16).padStart(2, '0')} is not supported`);
  }
  const raw = key.subarray(1);
  if (raw.length !== 32) throw new NoteError(`the verifier key's Ed25519 key is ${raw.length} bytes, not 32`);
  if (keyId(name, type, raw) !== Number.parseInt(id, 16)) {
    throw new NoteError(`the verifier key's key ID ${id} is not the ID of its key`);
  }
  return { name, keyId: Number.parseInt(id, 16), type, publicKey: ed25519PublicKey(raw) };
}

/** Signs note texts with an Ed25519 private key (signature type 0x01). */
export function ed25519NoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  checkKeyName(name);
  if (privateKey.type !== 'private') throw new TypeError('signing needs a private key');
  return {
    name,
    keyId: keyId(name, SignatureType.ed25519, rawEd25519PublicKey(privateKey)),
    sign: (text) => new Uint8Array(sign(null, Buffer.from(text, 'utf8'), privateKey)),
  };
}

/** Verifies Ed25519 note signatures (signature type 0x01) by the key of `publicKey`. */
export function ed25519NoteVerifier(name: string, publicKey: KeyObject): NoteVerifier {
  checkKeyName(name);
  return {
    name,
    keyId: keyId(name, SignatureType.ed25519, rawEd25519PublicKey(publicKey)),
    verify: (text, signature) => signature.length === 64 && verify(null, Buffer.from(text, 'utf8'), publicKey, signature),
  };
}

/** The signed note of `text` with one signature per signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  return formatNote({ text, signatures: signatures(text, signers) });
}

/**
 * A signed note with the signatures of `signers` added to those it has, replacing any by
 * the same key: how a witness adds its cosignature. The note's signatures are not checked.
 */
export function addSignatures(message: string, signers: readonly NoteSigner[]): string {
  const note = parseNote(message);
  const added = signatures(note.text, signers);
  const kept = note.signatures.filter((old) => !added.some((signature) => sameKey(signature, old)));
  return formatNote({ text: note.text, signatures: [...kept, ...added] });
}

/** The text of a signed note. */
export function formatNote(note: Note): string {
  checkText(note.text);
  const lines = note.signatures.map(({ name, keyId: id, signature }) => {
    checkKeyName(name);
    const bytes = Buffer.alloc(4 + signature.length);
    bytes.writeUInt32BE(id, 0);
    bytes.set(signature, 4);
    return `— ${name} ${encodeBase64(bytes)}\n`;
  });
  if (lines.length === 0) throw new NoteError('a signed note needs at least one signature');
  return `${note.text}\n${lines.join('')}`;
}

/** Splits a signed note into its text and signature lines, checking its syntax only. */
export function parseNote(message: string): Note {
  checkCharacters(message, 'the note');
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('the note has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (!block.endsWith('\n')) throw new NoteError('the note does not end with a newline after its signatures');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError(`the note has more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line, index) => {
    const match = /^— ([^ ]*) ([^ ]*)$/.exec(line);
    if (!match) throw new NoteError(`signature line ${index + 1} is not "— <key name> <base64 signature>"`);
    const [, name = '', encoded = ''] = match;
    if (!isKeyName(name)) throw new NoteError(`signature line ${index + 1} has no valid key name`);
    const bytes = decodeBase64(encoded);
    if (!bytes || bytes.length < 5) {
      throw new NoteError(`signature line ${index + 1} (${name}) is not the base64 of a key ID and a signature`);
    }
    return { name, keyId: Buffer.from(bytes).readUInt32BE(0), signature: bytes.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Opens a signed note with the verifiers of the keys the caller knows. Signatures from
 * other keys are ignored, as the spec requires (a key is its name and key ID together);
 * every signature from a known key must verify, and at least one must be there.
 */
export function openNote(message: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  verifiers.forEach((verifier, index) => {
    if (verifiers.findIndex((other) => sameKey(verifier, other)) !== index) {
      throw new TypeError(`two verifiers have the key ${verifier.name}+${hex32(verifier.keyId)}`);
    }
  });
  const note = parseNote(message);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  for (const signature of note.signatures) {
    const verifier = verifiers.find((candidate) => sameKey(candidate, signature));
    if (!verifier) {
      unknown.push(signature);
    } else if (!verifier.verify(note.text, signature.signature)) {
      throw new NoteError(`the signature of ${signature.name}+${hex32(signature.keyId)} does not verify`);
    } else if (!verified.some((other) => sameKey(other, signature))) {
      verified.push(signature);
    }
  }
  if (verified.length === 0) {
    const names = note.signatures.map(({ name, keyId: id }) => `${name}+${hex32(id)}`).join(', ');
    throw new NoteError(`the note has no signature from a known key (it is signed by ${names})`);
  }
  return { text: note.text, verified, unknown };
}

function signatures(text: string, signers: readonly NoteSigner[]): NoteSignature[] {
  checkText(text);
  return signers.map((signer) => ({ name: signer.name, keyId: signer.keyId, signature: signer.sign(text) }));
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteError('a note text must end with a newline');
  checkCharacters(text, 'the note text');
}

/** Notes are UTF-8 (so no lone surrogate) without ASCII control characters but newline. */
function checkCharacters(value: string, what: string): void {
  if (/\p{Cs}/u.test(value)) throw new NoteError(`${what} is not valid Unicode (it has a lone surrogate)`);
  if (/[\u0000-\u0009\u000b-\u001f]/.test(value)) throw new NoteError(`${what} has a control character other than newline`);
}

/** Non-empty, without Unicode spaces or '+', and with the characters a note may have. */
function isKeyName(name: string): boolean {
  return name.length > 0 && !/[\p{White_Space}+\u0000-\u001f]|\p{Cs}/u.test(name);
}

/** Throws unless `name` can name a key in a signature line. */
export function checkKeyName(name: string): void {
  if (!isKeyName(name)) throw new TypeError(`${JSON.stringify(name)} is not a key name: it must be non-empty, without spaces or '+'`);
}

function sameKey(a: { name: string; keyId: number }, b: { name: string; keyId: number }): boolean {
  return a.name === b.name && a.keyId === b.keyId;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
