// Appending to the Trust History. Every change of trust appends its events in the
// transaction that makes the change, numbered from the one-row TrustHistory counter.
// Updating that row locks it until the transaction commits, so the next appender
// reads the counter only after this one is visible: sequence numbers follow commit
// order across every process that shares the database, without gaps, and a reader
// paging with `after` never skips an event that commits later with a smaller number.
//
// Under that lock the appender also extends the history's Merkle tree (RFC 6962, its
// stored hashes in TrustLogHash) and signs a checkpoint of the new size with its root
// key (C2SP tlog-checkpoint), all in the same statement as the change.
import { Prisma, type Database, type TransactionClient } from '../db/client.js';
import { notifyHistoryAppended } from '../db/events.js';
import type { TrustEventKind } from '../db/generated/prisma/enums.js';
import { formatCheckpoint } from '../tlog/checkpoint.js';
import { leafHash, MemoryHashStore, storedHashCount, storedHashesForLeaf, storedTreeHash, type Hash, type HashReader } from '../tlog/merkle.js';
import { ed25519NoteSigner, signNote } from '../tlog/note.js';
import type { RootKeyPair } from '../identity/root-key.js';
import { formatEntry, type EntrySignature } from './entries.js';
import { inTransaction, type AfterCommit } from './transaction.js';

/** The actor of entries no administrator made through the API (tokens, a detected tampering): the user "(peertrust)". */
export const AUTOMATIC_ACTOR = '00000000-0000-4000-8000-000000000000';

/** One event to append. */
export interface NewEvent {
  kind: TrustEventKind;
  /** The pair that changed, with its servers in id order; null for what concerns no pair. */
  pair: { id: string; serverAId: string; serverBId: string } | null;
  /** The server through whose API (or key) the change was made. */
  serverId: string;
  actorId: string;
  fingerprints: string[];
  /** The signed statement it comes from, and its signatures. */
  statement: string;
  signatures: EntrySignature[];
}

/** Where appended events go: their sequence numbers, and the database's time of the append. */
export interface Reservation {
  /** The sequence number of the first event. */
  first: bigint;
  /** The database's clock, read under the counter's lock: times follow the history's order. */
  at: Date;
  /** The log's name in its checkpoints. */
  origin: string;
}

/**
 * Takes the next `count` sequence numbers. Call it last before writing, so the counter
 * stays locked for as short a time as possible: appenders queue on it until commit.
 */
export async function reserve(tx: TransactionClient, count: number): Promise<Reservation> {
  const [row] = await tx.$queryRaw<Reservation[]>`
    UPDATE "TrustHistory" SET "length" = "length" + ${count}
    WHERE "id" = 1
    RETURNING "length" - ${count} + 1 AS "first", clock_timestamp() AS "at", "origin"`;
  if (!row) throw new Error('the TrustHistory counter row is missing');
  return row;
}

/** The key name a server signs checkpoints with (C2SP signed-note). */
export function checkpointKeyName(serverId: string): string {
  return `peertrust/server/${serverId}`;
}

/** The key name a server cosigns checkpoints with, as a witness (C2SP tlog-cosignature). */
export function witnessKeyName(serverId: string): string {
  return `peertrust/witness/${serverId}`;
}

/**
 * The stored hashes this process has read or written, per database: the newest ones are
 * what the next append needs, so most appends read none. Stored hashes never change.
 */
class HashCache {
  static readonly #perDatabase = new WeakMap<Database, HashCache>();
  static of(db: Database): HashCache {
    let cache = HashCache.#perDatabase.get(db);
    if (!cache) HashCache.#perDatabase.set(db, (cache = new HashCache()));
    return cache;
  }

  /** Enough for every append's reads between two appends of another process. */
  static readonly #LIMIT = 4096;
  readonly #hashes = new Map<number, Hash>();

  remember(index: number, hash: Hash): void {
    if (this.#hashes.size >= HashCache.#LIMIT) this.#hashes.delete(this.#hashes.keys().next().value!);
    this.#hashes.set(index, hash);
  }

  /** Reads from the cache, then from the database in one query, then from `pending`. */
  reader(tx: TransactionClient, pending: Map<number, Hash>): HashReader {
    return async (indexes) => {
      const missing = indexes.filter((i) => !this.#hashes.has(i) && !pending.has(i));
      if (missing.length) {
        const rows = await tx.$queryRaw<{ index: bigint; hash: Uint8Array }[]>`
          SELECT "index", "hash" FROM "TrustLogHash" WHERE "index" = ANY(${missing.map(String)}::bigint[])`;
        for (const row of rows) this.remember(Number(row.index), new Uint8Array(row.hash));
      }
      return indexes.map((i) => {
        const hash = pending.get(i) ?? this.#hashes.get(i);
        if (!hash) throw new Error(`the Trust History's Merkle tree has no stored hash ${i}`);
        return hash;
      });
    };
  }
}

/**
 * Everything an append writes besides the change itself, as WITH clauses for the
 * statement that makes the change: the events (each as its Merkle tree entry), the
 * tree's new stored hashes, and a checkpoint of the new size signed with `key`.
 */
export async function appendClauses(
  db: Database,
  tx: TransactionClient,
  afterCommit: AfterCommit,
  reservation: Reservation,
  events: NewEvent[],
  signer: { serverId: string; key: RootKeyPair },
): Promise<Prisma.Sql> {
  const time = reservation.at.toISOString();
  const rows = events.map((event, index) => {
    const sequence = reservation.first + BigInt(index);
    const entry = formatEntry({
      type: 'peertrust/event/v1',
      sequence: Number(sequence),
      kind: event.kind,
      time,
      pair: event.pair && { id: event.pair.id, servers: [event.pair.serverAId, event.pair.serverBId] as [string, string] },
      server: event.serverId,
      actor: event.actorId,
      fingerprints: event.fingerprints,
      statement: event.statement,
      signatures: event.signatures,
    });
    return {
      kind: event.kind,
      peerTrustId: event.pair?.id ?? null,
      serverAId: event.pair?.serverAId ?? null,
      serverBId: event.pair?.serverBId ?? null,
      serverId: event.serverId,
      actorId: event.actorId,
      fingerprints: event.fingerprints,
      sequence: String(sequence),
      entry,
    };
  });

  const cache = HashCache.of(db);
  const pending = new Map<number, Hash>();
  const read = cache.reader(tx, pending);
  const size = Number(reservation.first) - 1;
  for (const [index, row] of rows.entries()) {
    for (const stored of await storedHashesForLeaf(size + index, leafHash(Buffer.from(row.entry)), read)) {
      pending.set(stored.index, stored.hash);
    }
  }
  const newSize = size + rows.length;
  const root = await storedTreeHash(newSize, read);
  const note = signNote(formatCheckpoint({ origin: reservation.origin, size: newSize, rootHash: root }), [
    ed25519NoteSigner(checkpointKeyName(signer.serverId), signer.key.privateKey),
  ]);
  // Only once committed: a rolled-back append's indexes are the next one's.
  afterCommit(() => {
    for (const [index, hash] of pending) cache.remember(index, hash);
  });
  // A pair's change is announced with the pair (peerTrustChanged); without one, servers
  // would not read the entries, nor cosign their checkpoint, until the next change.
  if (events.every((event) => !event.pair)) await notifyHistoryAppended(tx, BigInt(newSize));
  const hashes = [...pending];
  return Prisma.sql`
    "events" AS (
      INSERT INTO "TrustEvent" ("sequence", "kind", "at", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
      SELECT e."sequence", e."kind"::"TrustEventKind", ${reservation.at}::timestamptz, e."peerTrustId"::uuid, e."serverAId"::uuid, e."serverBId"::uuid,
             e."serverId"::uuid, e."actorId"::uuid, e."fingerprints", e."entry"
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS e("sequence" bigint, "kind" text, "peerTrustId" text, "serverAId" text, "serverBId" text, "serverId" text, "actorId" text, "fingerprints" text[], "entry" text)
    ), "hashes" AS (
      INSERT INTO "TrustLogHash" ("index", "hash")
      SELECT h."index", decode(h."hash", 'hex')
      FROM unnest(${hashes.map(([index]) => String(index))}::bigint[], ${hashes.map(([, hash]) => Buffer.from(hash).toString('hex'))}::text[])
        AS h("index", "hash")
    ), "checkpoint" AS (
      INSERT INTO "TrustCheckpoint" ("size", "note", "serverId") VALUES (${newSize}, ${note}, ${signer.serverId}::uuid)
    )`;
}

/**
 * Stores the Merkle tree of entries that have none: the legacy entries of a database
 * upgraded from before the history was signed, until its first signed append. Run at
 * start, under the counter's lock; a tree already complete costs one lookup.
 */
export async function completeTree(db: Database): Promise<void> {
  await inTransaction(db, async (tx) => {
    const [history] = await tx.$queryRaw<{ length: bigint }[]>`SELECT "length" FROM "TrustHistory" WHERE "id" = 1 FOR UPDATE`;
    const size = Number(history?.length ?? 0);
    if (size === 0) return;
    const [last] = await tx.$queryRaw<unknown[]>`SELECT 1 FROM "TrustLogHash" WHERE "index" = ${storedHashCount(size) - 1}`;
    if (last) return;
    const tree = new MemoryHashStore();
    for (const { entry } of await tx.$queryRaw<{ entry: string }[]>`SELECT "entry" FROM "TrustEvent" ORDER BY "sequence"`) {
      await tree.append(leafHash(Buffer.from(entry)));
    }
    const indexes = Array.from({ length: storedHashCount(tree.size) }, (_, i) => i);
    const hashes = await tree.read(indexes);
    await tx.$executeRaw`
      INSERT INTO "TrustLogHash" ("index", "hash")
      SELECT h."index", decode(h."hash", 'hex')
      FROM unnest(${indexes.map(String)}::bigint[], ${hashes.map((hash) => Buffer.from(hash).toString('hex'))}::text[]) AS h("index", "hash")
      ON CONFLICT ("index") DO NOTHING`;
  });
}
