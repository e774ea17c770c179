// Witness cosignatures: the Ed25519 cosignature of C2SP tlog-cosignature
// (https://c2sp.org/tlog-cosignature), as released in v1.0.1 and unchanged in the
// v1.1.0-rc.1 draft: signature type 0x04, key ID SHA-256(name || 0x0A || 0x04 || public
// key)[:4], a signature line `— <name> base64(key ID || u64 big-endian timestamp ||
// Ed25519 signature)`, the signature over
//     "cosignature/v1\ntime <timestamp>\n" || the checkpoint's note text.
// v1.1.0-rc.1 adds an ML-DSA-44 type (0x06, a "subtree/v1" message) that it recommends for
// new deployments; Node 20's crypto has no ML-DSA, so it is not implemented here.
//
// A cosignature is a note signature, so cosigners and their verifiers are a NoteSigner
// and a NoteVerifier: a witness adds its line with addSignatures, and openNote or
// openCheckpoint checks log signatures and cosignatures in one pass.
//
// Timestamps are POSIX seconds as `number`s. The spec allows up to 2^63 - 1 and lets
// verifiers reject times in the future; this one rejects those past 2^53 - 1 (the year
// 285 million), so that every accepted time is exact.
import { sign, verify, type KeyObject } from 'node:crypto';
import { checkKeyName, keyId, rawEd25519PublicKey, SignatureType, type NoteSignature, type NoteSigner, type NoteVerifier } from './note.js';

const SIGNATURE_SIZE = 8 + 64;

/**
 * Cosigns checkpoints as the witness `name`, stamping each cosignature with `now()` in
 * POSIX seconds. It signs whatever text it is given: the witness verifies the checkpoint
 * (its log's signature, its consistency with the last one it cosigned) before.
 */
export function cosignatureSigner(
  name: string,
  privateKey: KeyObject,
  now: () => number = () => Math.floor(Date.now() / 1000),
): NoteSigner {
  checkKeyName(name);
  if (privateKey.type !== 'private') throw new TypeError('cosigning needs a private key');
  return {
    name,
    keyId: keyId(name, SignatureType.cosignatureV1, rawEd25519PublicKey(privateKey)),
    sign(text) {
      const time = now();
      if (!Number.isSafeInteger(time) || time < 0) throw new RangeError(`the cosignature time ${time} is not POSIX seconds`);
      const signature = new Uint8Array(SIGNATURE_SIZE);
      new DataView(signature.buffer).setBigUint64(0, BigInt(time));
      signature.set(sign(null, signedMessage(time, text), privateKey), 8);
      return signature;
    },
  };
}

/** Verifies the cosignatures of the witness `name` whose key is `publicKey`. */
export function cosignatureVerifier(name: string, publicKey: KeyObject): NoteVerifier {
  checkKeyName(name);
  return {
    name,
    keyId: keyId(name, SignatureType.cosignatureV1, rawEd25519PublicKey(publicKey)),
    verify(text, signature) {
      if (signature.length !== SIGNATURE_SIZE) return false;
      const time = timestamp(signature);
      if (time > BigInt(Number.MAX_SAFE_INTEGER)) return false;
      return verify(null, signedMessage(Number(time), text), publicKey, signature.subarray(8));
    },
  };
}

/** The time, in POSIX seconds, that a cosignature (a verified one, to mean anything) says it was made. */
export function cosignatureTime(cosignature: NoteSignature): number {
  if (cosignature.signature.length !== SIGNATURE_SIZE) {
    throw new TypeError(`a cosignature is ${SIGNATURE_SIZE} bytes after its key ID, not ${cosignature.signature.length}`);
  }
  return Number(timestamp(cosignature.signature));
}

function timestamp(signature: Uint8Array): bigint {
  return new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
}

function signedMessage(time: number, text: string): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${text}`, 'utf8');
}
