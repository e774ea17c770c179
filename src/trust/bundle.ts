// A history bundle: what an auditor needs to verify the Trust History with no database
// and no server. It holds the entries (or one entry and its inclusion proof), the
// latest signed checkpoint with its witnesses' cosignatures, and the servers' public
// keys. Verifying it checks each entry's signatures, that the entries hash to the
// checkpoint's root (RFC 6962), and who signed and cosigned the checkpoint; the
// auditor compares those keys' fingerprints with what the servers themselves show.
import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { fingerprintOf } from '../identity/fingerprint.js';
import { publicKeyFromStatement } from '../identity/statements.js';
import { decodeBase64, encodeBase64 } from '../tlog/base64.js';
import { openCheckpoint } from '../tlog/checkpoint.js';
import { cosignatureVerifier } from '../tlog/cosignature.js';
import { Frontier, leafHash, proveInclusion, verifyInclusion, type Hash } from '../tlog/merkle.js';
import { ed25519NoteVerifier } from '../tlog/note.js';
import { entryStatement, parseEntry, requiredSigners, signaturesHold } from './entries.js';
import { checkpointKeyName, witnessKeyName } from './history.js';

const BundleKey = z.object({ server: z.string(), name: z.string(), fingerprint: z.string(), publicKey: z.string() });

export const HistoryBundle = z.object({
  format: z.literal('peertrust-history-bundle/v1'),
  origin: z.string(),
  /** Entries up to here are legacy (recorded before the history was signed): unsigned. */
  legacyLength: z.number().int().nonnegative(),
  /** The signed checkpoint, with the witnesses' cosignature lines. */
  checkpoint: z.string(),
  keys: z.array(BundleKey),
  /** Every entry from 1 to the checkpoint's size, or */
  entries: z.array(z.string()).optional(),
  /** one entry, with the proof that it is in the checkpoint's tree. */
  entry: z.object({ sequence: z.number().int().positive(), text: z.string(), proof: z.array(z.string()) }).optional(),
});
export type HistoryBundle = z.infer<typeof HistoryBundle>;

export interface BundleVerification {
  ok: boolean;
  /** The checkpoint's size and root hash (base64). */
  size: number;
  rootHash: string;
  /** The servers whose keys signed the checkpoint, and those that cosigned it as witnesses. */
  signers: { name: string; fingerprint: string }[];
  witnesses: { name: string; fingerprint: string }[];
  /** With trusted keys: the signers and witnesses whose key is one, or one was rotated to (`trusted`: the key it comes from). */
  anchoredBy?: { name: string; fingerprint: string; trusted: string }[];
  /** The first entry that does not verify, and why; or why the bundle as a whole does not. */
  brokenAt?: number;
  reason?: string;
  /** It verifies, but no key trusted signed or cosigned its checkpoint: the only reason it is not ok. */
  unanchored?: true;
}

/** What the history does not hold: no checkpoint yet, or no such entry. */
export class NotInHistoryError extends Error {}

/** Writes a bundle of the whole history, or of one entry with its inclusion proof, as the database holds it now. */
export async function exportBundle(db: Database, options: { sequence?: number } = {}): Promise<HistoryBundle> {
  // One snapshot: the checkpoint, its entries and its tree agree.
  return db.prisma.$transaction(
    async (tx) => {
      const [history] = await tx.$queryRaw<{ origin: string; legacyLength: bigint }[]>`SELECT "origin", "legacyLength" FROM "TrustHistory" WHERE "id" = 1`;
      const [latest] = await tx.$queryRaw<{ size: bigint; note: string }[]>`SELECT "size", "note" FROM "TrustCheckpoint" ORDER BY "size" DESC LIMIT 1`;
      if (!history || !latest) throw new NotInHistoryError('the Trust History has no signed checkpoint yet');
      const cosignatures = await tx.$queryRaw<{ line: string }[]>`SELECT "line" FROM "TrustCosignature" WHERE "size" = ${latest.size} ORDER BY "witnessId"`;
      const keys = await tx.$queryRaw<{ server: string; name: string; fingerprint: string; publicKey: string }[]>`
        SELECT k."serverId" AS "server", s."name", k."fingerprint", k."publicKey" FROM "RootKey" k JOIN "Server" s ON s."id" = k."serverId"
        ORDER BY k."createdAt"`;
      const size = Number(latest.size);
      const base = {
        format: 'peertrust-history-bundle/v1' as const,
        origin: history.origin,
        legacyLength: Number(history.legacyLength),
        checkpoint: latest.note + cosignatures.map(({ line }) => `${line}\n`).join(''),
        keys,
      };
      if (options.sequence === undefined) {
        const rows = await tx.$queryRaw<{ entry: string }[]>`SELECT "entry" FROM "TrustEvent" WHERE "sequence" <= ${size} ORDER BY "sequence"`;
        return { ...base, entries: rows.map((row) => row.entry) };
      }
      const sequence = options.sequence;
      if (sequence > size) throw new NotInHistoryError(`entry ${sequence} is not in the latest checkpoint (its size is ${size})`);
      const [row] = await tx.$queryRaw<{ entry: string }[]>`SELECT "entry" FROM "TrustEvent" WHERE "sequence" = ${sequence}`;
      if (!row) throw new NotInHistoryError(`there is no entry ${sequence}`);
      const proof = await proveInclusion(sequence - 1, size, async (indexes) => {
        const hashes = await tx.$queryRaw<{ index: bigint; hash: Uint8Array }[]>`
          SELECT "index", "hash" FROM "TrustLogHash" WHERE "index" = ANY(${indexes.map(String)}::bigint[])`;
        return indexes.map((index) => new Uint8Array(hashes.find((h) => Number(h.index) === index)!.hash));
      });
      return { ...base, entry: { sequence, text: row.entry, proof: proof.map(encodeBase64) } };
    },
    { isolationLevel: 'RepeatableRead', timeout: 600_000 },
  );
}

/**
 * Verifies a bundle offline. With `trusted` fingerprints, the checkpoint must also be
 * signed or cosigned by one of those keys, or by a key one of them was rotated to (a
 * rotation is signed by both keys, so a key an auditor noted before a rotation still
 * anchors the history; only a bundle of the whole history holds the rotations);
 * without, the result lists who signed, for the auditor to compare with the servers.
 */
export function verifyBundle(input: unknown, trusted: string[] = []): BundleVerification {
  const parsed = HistoryBundle.safeParse(input);
  if (!parsed.success) return failure(0, '', `not a peertrust history bundle: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  const bundle = parsed.data;
  const keys = new Map<string, { server: string; name: string; pem: string }>();
  for (const key of bundle.keys) {
    if (safeFingerprint(key.publicKey) !== key.fingerprint) return failure(0, '', `the key listed as ${key.fingerprint} (${key.name}) has another fingerprint`);
    keys.set(key.fingerprint, { server: key.server, name: key.name, pem: key.publicKey });
  }
  const verifiersOf = (nameOf: (server: string) => string, make: typeof ed25519NoteVerifier) =>
    [...keys.values()].map((key) => ({ key, verifier: make(nameOf(key.server), createPublicKey(key.pem)) }));
  const logKeys = verifiersOf(checkpointKeyName, ed25519NoteVerifier);
  const witnessKeys = verifiersOf(witnessKeyName, cosignatureVerifier);
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(bundle.checkpoint, bundle.origin, logKeys.map((k) => k.verifier), witnessKeys.map((k) => k.verifier));
  } catch (error) {
    return failure(0, '', `its checkpoint does not verify: ${(error as Error).message}`);
  }
  const { checkpoint } = opened;
  const who = (list: readonly { name: string; keyId: number }[], from: typeof logKeys) =>
    list.flatMap((signature) => from.filter((k) => k.verifier.name === signature.name && k.verifier.keyId === signature.keyId).map((k) => ({ name: k.key.name, fingerprint: fingerprintOfPem(k.key.pem) })));
  const signers = who(opened.logSignatures, logKeys);
  const witnesses = who(opened.cosignatures, witnessKeys);
  const result = { size: checkpoint.size, rootHash: encodeBase64(checkpoint.rootHash), signers, witnesses };
  /** The keys trusted, and those they were rotated to by the entries verified so far, each with the trusted key it comes from. */
  const anchors = new Map(trusted.map((fingerprint) => [fingerprint, fingerprint]));
  /** Done: ok, with the signers and witnesses that anchor it, or why it is not anchored. */
  const anchored = (): BundleVerification => {
    if (!trusted.length) return { ...result, ok: true };
    // A server that signed the checkpoint may have cosigned it too: each key once.
    const keysOnce = [...new Map([...signers, ...witnesses].map((key) => [key.fingerprint, key])).values()];
    const anchoredBy = keysOnce.flatMap((key) => {
      const through = anchors.get(key.fingerprint);
      return through ? [{ ...key, trusted: through }] : [];
    });
    return anchoredBy.length
      ? { ...result, ok: true, anchoredBy }
      : {
          ...result,
          ok: false,
          unanchored: true,
          reason: `no key you trust signed or cosigned its checkpoint${bundle.entry ? ' (a bundle of one entry holds no rotations: to anchor it with a key that was rotated since, verify a bundle of the whole history)' : ''}`,
        };
  };
  // As the servers' ledger reads them (ledger.ts): a statement's events follow one another,
  // the first at the place it was made for, and a key rotated away rotates no more. One
  // entry alone shows no neighbours: its statement was made for it or an entry before.
  let previousStatement: string | undefined;
  const rotatedAway = new Set<string>();
  const check = (sequence: number, text: string): string | undefined => {
    const entry = parseEntry(text);
    if (!entry) return 'it is not a Trust History entry';
    if (entry.sequence !== sequence) return `it says it is entry ${entry.sequence}`;
    if (entry.legacy) return sequence <= bundle.legacyLength ? undefined : 'an unsigned entry after the history was signed';
    const read = entryStatement(entry);
    if (!read) return 'it has no signed statement of its kind';
    const continuing = entry.statement === previousStatement;
    previousStatement = entry.statement;
    const madeFor = 'sequence' in read.statement ? read.statement.sequence : entry.sequence;
    if (bundle.entry ? madeFor > entry.sequence : !continuing && madeFor !== entry.sequence) return `its statement was made for entry ${madeFor}`;
    if (read.type === 'rotation') {
      if (read.statement.server !== entry.server) return 'the entry does not say what its rotation says';
      if (!continuing && rotatedAway.has(read.statement.from)) return `a rotation from ${read.statement.from}, a key its server rotated away`;
      const pem = publicKeyFromStatement(read.statement.publicKey, read.statement.to);
      if (pem) keys.set(read.statement.to, { server: read.statement.server, name: read.statement.server, pem });
    }
    if (read.type === 'registration') {
      if (read.statement.server !== entry.server || entry.pair) return 'the entry does not say what its registration says';
      // One entry per registration, as the ledger reads them: a repeat is not one.
      if (continuing) return `its statement was made for entry ${madeFor}`;
      const pem = publicKeyFromStatement(read.statement.publicKey, read.statement.fingerprint);
      if (!pem) return 'the key it carries does not match its fingerprint';
      if (!keys.has(read.statement.fingerprint)) keys.set(read.statement.fingerprint, { server: read.statement.server, name: read.statement.server, pem });
    }
    if (!signaturesHold(entry, requiredSigners(read, entry), (fingerprint) => keys.get(fingerprint)?.pem)) return 'its statement is not signed by the keys it names';
    if (read.type === 'rotation') {
      rotatedAway.add(read.statement.from);
      const through = anchors.get(read.statement.from);
      if (through) anchors.set(read.statement.to, through);
    }
    return undefined;
  };
  if (bundle.entry) {
    // The entry first: one that does not verify is broken, whoever signed the checkpoint.
    const { sequence, text, proof } = bundle.entry;
    const problem = check(sequence, text);
    if (problem) return { ...result, ok: false, brokenAt: sequence, reason: problem };
    try {
      verifyInclusion(sequence - 1, checkpoint.size, leafHash(Buffer.from(text)), proof.map((hash) => decodeBase64(hash) as Hash), checkpoint.rootHash);
    } catch (error) {
      return { ...result, ok: false, brokenAt: sequence, reason: `it is not in the checkpoint's tree: ${(error as Error).message}` };
    }
    return anchored();
  }
  const entries = bundle.entries ?? [];
  const frontier = new Frontier();
  for (const [index, text] of entries.entries()) {
    const problem = check(index + 1, text);
    if (problem) return { ...result, ok: false, brokenAt: index + 1, reason: problem };
    frontier.append(leafHash(Buffer.from(text)));
  }
  if (entries.length !== checkpoint.size) {
    return { ...result, ok: false, brokenAt: Math.min(entries.length, checkpoint.size) + 1, reason: `the checkpoint covers ${checkpoint.size} entries; the bundle has ${entries.length}` };
  }
  if (encodeBase64(frontier.root()) !== result.rootHash) return { ...result, ok: false, reason: "the entries do not hash to the checkpoint's root" };
  return anchored();
}

function failure(size: number, rootHash: string, reason: string): BundleVerification {
  return { ok: false, size, rootHash, signers: [], witnesses: [], reason };
}

function safeFingerprint(pem: string): string | undefined {
  try {
    return fingerprintOf(pem);
  } catch {
    return undefined;
  }
}

const fingerprintOfPem = (pem: string) => safeFingerprint(pem) ?? '';
