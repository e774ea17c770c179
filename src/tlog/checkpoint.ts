// Checkpoints, C2SP tlog-checkpoint v1.0.0 (https://c2sp.org/tlog-checkpoint@v1.0.0): the
// signed statement of a log's tree head, as the text of a signed note:
//     <origin>\n<tree size, decimal>\n<base64 RFC 6962 root hash>\n[<extension line>\n...]
// signed by the log and cosigned by witnesses (./cosignature.ts).
//
// Parsing is strict: a text that is not exactly what formatCheckpoint would write for some
// checkpoint is refused. Beyond the spec's rules, a tree of 0 leaves must have the empty
// tree's hash, and sizes stop at MAX_TREE_SIZE (2^52, see ./merkle.ts). The origin names
// the log (for peertrust, `peertrust/<cluster id>`); the spec's SHOULD that the log's key
// name match it is left to the caller, since several servers sign one cluster's log.
// The log signs with an Ed25519 note signature (type 0x01), as v1.0.0 recommends; the
// spec's draft after it recommends ML-DSA-44 cosignatures instead, which Node 20 cannot
// make, and still allows any note signature.
import { decodeBase64, encodeBase64 } from './base64.js';
import { cosignatureTime } from './cosignature.js';
import { EMPTY_TREE_HASH, HASH_SIZE, MAX_TREE_SIZE, type Hash } from './merkle.js';
import { openNote, type NoteSignature, type NoteVerifier } from './note.js';

export interface Checkpoint {
  /** The log's identity. */
  readonly origin: string;
  /** The number of leaves in the tree. */
  readonly size: number;
  readonly rootHash: Hash;
  /** Opaque extension lines, without their newlines; the spec does not recommend them. */
  readonly extensions?: readonly string[];
}

/** A checkpoint whose log signature, and the cosignatures of any witnesses the caller knows, verified. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The log keys' signatures: at least one. */
  readonly logSignatures: readonly NoteSignature[];
  /** The known witnesses' cosignatures, with the time each says it was made (POSIX seconds). */
  readonly cosignatures: readonly (NoteSignature & { readonly time: number })[];
}

/** The text is not a checkpoint, or not the expected log's: the message says why. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The note text of a checkpoint. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if ([origin, ...extensions].some((line) => line.includes('\n'))) {
    throw new CheckpointError('a checkpoint line cannot contain a newline');
  }
  const text = `${[origin, String(size), encodeBase64(rootHash), ...extensions].join('\n')}\n`;
  // Parsing what was written checks every field with the same rules.
  parseCheckpoint(text);
  return text;
}

/** Parses the note text of a checkpoint. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('a checkpoint ends with a newline');
  const [origin = '', sizeLine = '', rootLine = '', ...extensions] = text.slice(0, -1).split('\n');
  if (origin === '') throw new CheckpointError('the checkpoint has no origin line');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) {
    throw new CheckpointError(`the checkpoint's tree size ${JSON.stringify(sizeLine)} is not a decimal number without leading zeros`);
  }
  const size = Number(sizeLine);
  if (size > MAX_TREE_SIZE) throw new CheckpointError(`the checkpoint's tree size ${sizeLine} is larger than 2^52`);
  const rootHash = decodeBase64(rootLine);
  if (!rootHash || rootHash.length !== HASH_SIZE) {
    throw new CheckpointError(`the checkpoint's root hash ${JSON.stringify(rootLine)} is not the base64 of ${HASH_SIZE} bytes`);
  }
  if (size === 0 && Buffer.compare(rootHash, EMPTY_TREE_HASH) !== 0) {
    throw new CheckpointError("the checkpoint's tree is empty but its root hash is not the empty tree's");
  }
  if (extensions.includes('')) throw new CheckpointError('the checkpoint has an empty extension line');
  return { origin, size, rootHash, extensions };
}

/**
 * Opens a signed checkpoint of the log `origin`: it must be signed by one of the
 * `logVerifiers` (the keys of the servers that may append); cosignatures by `witnesses`
 * are verified too and returned, and the caller decides how many it needs. Signatures
 * from other keys are ignored; one from a known key that does not verify rejects it.
 */
export function openCheckpoint(
  message: string,
  origin: string,
  logVerifiers: readonly NoteVerifier[],
  witnesses: readonly NoteVerifier[] = [],
): OpenedCheckpoint {
  const note = openNote(message, [...logVerifiers, ...witnesses]);
  const signedBy = (verifiers: readonly NoteVerifier[]) =>
    note.verified.filter((signature) => verifiers.some(({ name, keyId }) => name === signature.name && keyId === signature.keyId));
  const logSignatures = signedBy(logVerifiers);
  if (logSignatures.length === 0) throw new CheckpointError(`the checkpoint is not signed by a key of the log ${origin}`);
  const checkpoint = parseCheckpoint(note.text);
  if (checkpoint.origin !== origin) {
    throw new CheckpointError(`the checkpoint is of the log ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)}`);
  }
  const cosignatures = signedBy(witnesses).map((signature) => ({ ...signature, time: cosignatureTime(signature) }));
  return { checkpoint, logSignatures, cosignatures };
}
