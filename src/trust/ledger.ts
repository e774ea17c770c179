// The Trust History as this server has verified it. The database is not trusted: this
// server reads every entry once, in order, checks it (its place, its Merkle tree, the
// signatures of the statement it comes from, the rules of state-machine.ts), and keeps
// what follows from the entries it accepted. Before it reports a pair, it compares the
// stored row with that; what differs is UNVERIFIED, with the reason, never TRUSTED.
//
// Keys: this server's own are the one it holds and those a co-signed rotation connects
// to it. A peer's are the one it registered with (its registration, signed by that key)
// and, once approved, the one this server's administrator approved (the pin, in this
// server's own signed ACCEPT), with those co-signed rotations connect to them. A key the
// database merely lists proves nothing about who holds it.
//
// What it has verified (the history's origin, size and root, and the tokens it saw
// revoked) is kept in the data directory, so that a history cut short or rewritten
// while the server was stopped is caught when it starts. So is what follows from it
// (the verified state), when the server stops and every STATE_EVERY entries: a start
// then checks the entries up to it by their place, columns and Merkle tree, not their
// signatures (~115 µs each), and verifies only what came after. Anything that differs
// sends it back to verifying every entry from the first, as without the state.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import type { PeerTrust } from '../db/generated/prisma/client.js';
import { TrustEventKind, TrustStatus } from '../db/generated/prisma/enums.js';
import { fingerprintOf } from '../identity/fingerprint.js';
import type { RootKeyPair } from '../identity/root-key.js';
import {
  KeyRotationStatement,
  publicKeyFromStatement,
  publicKeyOf,
  readStatement,
  verifyStatement,
  type DecisionStatement,
  type RegistrationStatement,
} from '../identity/statements.js';
import type { Logger } from '../logger.js';
import { encodeBase64 } from '../tlog/base64.js';
import { openCheckpoint } from '../tlog/checkpoint.js';
import { Frontier, leafHash } from '../tlog/merkle.js';
import { cosignatureSigner } from '../tlog/cosignature.js';
import { addSignatures, ed25519NoteVerifier } from '../tlog/note.js';
import { entryStatement, parseEntry, requiredSigners, signaturesHold, type EventEntry } from './entries.js';
import { AUTOMATIC_ACTOR, checkpointKeyName, witnessKeyName } from './history.js';
import { decide, type PairState, type Side } from './state-machine.js';

/**
 * One side's ACCEPT in the current round: the key that signed it ('legacy' before
 * decisions were signed) and the fingerprint that side's administrator verified.
 */
const AcceptSchema = z.object({ signedWith: z.string(), verified: z.string() });

/** A pair as the verified history gives it (and as the verified state keeps it). */
const VerifiedPairSchema = z.object({
  serverAId: z.string(),
  serverBId: z.string(),
  status: z.enum(TrustStatus),
  acceptedByA: z.boolean(),
  acceptedByB: z.boolean(),
  lastSequence: z.number().int().nonnegative(),
  accepts: z.object({ A: AcceptSchema.optional(), B: AcceptSchema.optional() }),
  /** A signed decision on it that the rules did not allow: its stored state cannot be believed. */
  problem: z.string().optional(),
  /** The server whose deny made it DENIED. */
  deniedBy: z.string().optional(),
});
type VerifiedPair = z.infer<typeof VerifiedPairSchema>;

export type Verdict = { verified: true } | { verified: false; reason: string };

/** What is kept in the data directory between starts. */
interface Anchor {
  origin: string;
  legacyLength: number;
  size: number;
  root: string;
  revokedTokens: string[];
}

/**
 * What follows from the first `size` entries, as this server (`serverId`, holding `key`)
 * verified them; kept beside the anchor. Read back only whole and in this shape, by the
 * same server with the same key: anything else is ignored, and the history verified
 * from its first entry.
 */
const VerifiedStateSchema = z.object({
  version: z.literal(4),
  serverId: z.string(),
  key: z.string(),
  origin: z.string(),
  legacyLength: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  root: z.string(),
  pairs: z.array(z.tuple([z.string(), VerifiedPairSchema])),
  decommissioned: z.array(z.string()),
  ownKeys: z.array(z.string()),
  chains: z.array(z.tuple([z.string(), z.string()])),
  retired: z.array(z.tuple([z.string(), z.number().int()])),
  pins: z.array(z.tuple([z.string(), z.string()])),
  registered: z.array(z.tuple([z.string(), z.string()])),
  revoked: z.array(z.string()),
  tokenSignatures: z.array(z.tuple([z.string(), z.number().int()])),
  keys: z.array(z.tuple([z.string(), z.object({ serverId: z.string(), pem: z.string() })])),
  current: z.object({ statement: z.string(), owed: z.array(z.enum(TrustEventKind)) }).nullable(),
});
type VerifiedState = z.infer<typeof VerifiedStateSchema>;

interface EntryRow {
  sequence: bigint;
  kind: TrustEventKind;
  at: Date;
  peerTrustId: string | null;
  serverAId: string | null;
  serverBId: string | null;
  serverId: string;
  actorId: string;
  fingerprints: string[];
  entry: string;
}

/** What one read of a pass gives: the counter and the checkpoint of the size reached, with each entry (none: one row of nulls). */
type PassRow = { origin: string; legacyLength: bigint; length: bigint; checkpointNote: string | null; checkpointServerId: string | null } & (
  | EntryRow
  | { [column in keyof EntryRow]: null }
);

/** How often a verdict reads again a row or the history that others keep moving on. */
export const MAX_CATCH_UPS = 20;

/** A witness cosigns this long after what it verified last. */
const COSIGN_DELAY_MS = 1_000;

/** Entries read at a time while catching up. */
const BATCH = 2_000;

/** The verified state is kept again once this many entries were verified since (and when the server stops). */
const STATE_EVERY = 10_000;


/** The events a pair's row records as its last change (lastSequence); the others only tell of it. */
export const CHANGES_A_PAIR = new Set<TrustEventKind>(['TRUST_APPROVED', 'TRUST_ENABLED', 'TRUST_DENIED', 'TRUST_REVOKED', 'SERVER_DECOMMISSIONED']);

/** Keys connected by co-signed rotations: each belongs to whoever holds the others. */
class KeyChains {
  readonly #parent = new Map<string, string>();

  #root(key: string): string {
    let root = key;
    for (let next = this.#parent.get(root); next !== undefined && next !== root; next = this.#parent.get(root)) root = next;
    return root;
  }

  connect(a: string, b: string): void {
    const [ra, rb] = [this.#root(a), this.#root(b)];
    if (ra !== rb) this.#parent.set(ra, rb);
  }

  same(a: string, b: string): boolean {
    return a === b || this.#root(a) === this.#root(b);
  }

  /** Its links, to keep (verified state). */
  links(): [string, string][] {
    return [...this.#parent];
  }

  restore(links: [string, string][]): void {
    for (const [key, parent] of links) this.#parent.set(key, parent);
  }
}

function safeFingerprint(pem: string): string | undefined {
  try {
    return fingerprintOf(pem);
  } catch {
    return undefined;
  }
}

/** A pair's state in an operator's words, as the server on side `own` sees it. */
function describe(state: PairState, own: Side): string {
  const [mine, theirs] = own === 'A' ? [state.acceptedByA, state.acceptedByB] : [state.acceptedByB, state.acceptedByA];
  const approvals = [mine && 'this server', theirs && 'the peer'].filter(Boolean).join(' and ') || 'nobody';
  return `${state.status}, approved by ${approvals}`;
}

export class Ledger extends EventEmitter<{ unverified: [pairId: string] }> {
  readonly #db: Database;
  readonly #serverId: string;
  readonly #identity: { key: RootKeyPair };
  readonly #log: Logger;
  readonly #anchorFile: string;

  #frontier = new Frontier();
  readonly #stateFile: string;
  /** The verified state kept when the server last stopped: entries up to its size are checked by hash alone. */
  #resumeFrom: VerifiedState | undefined;
  /** The size of the verified state kept last. */
  #stateKeptAt = 0;
  #anchor: Anchor | undefined;
  #origin: string | undefined;
  #legacyLength = 0;
  readonly #pairs = new Map<string, VerifiedPair>();
  /** This server's pairs, by peer. */
  readonly #ownPairs = new Map<string, string>();
  readonly #decommissioned = new Set<string>();
  readonly #ownKeys = new Set<string>();
  readonly #chains = new KeyChains();
  /** Keys rotated away, and the entry that retired each: they sign no decision after it. */
  readonly #retired = new Map<string, number>();
  /** This server's pin of each peer: the fingerprint its administrator approved last. */
  readonly #pins = new Map<string, string>();
  /** The key each server registered with, by its signed registration (servers registered before those were recorded have none until their next start). */
  readonly #registered = new Map<string, string>();
  readonly #revoked = new Set<string>();
  /** The entry that first recorded each token statement's signature by a key (`<statement's SHA-256> <fingerprint>`). */
  readonly #tokenSignatures = new Map<string, number>();
  /** Public keys by fingerprint: from RootKey rows that match their fingerprint, and from rotations. */
  readonly #keys = new Map<string, { serverId: string; pem: string }>();
  #broken: { sequence: number; reason: string } | undefined;
  /** The statement of the last entry, and the events its decision still owes (an ACCEPT's TRUST_ENABLED). */
  #current: { statement: string; owed: TrustEventKind[] } | undefined;
  #catchingUp: Promise<void> | undefined;
  /** The newest anchor to save, and the last of the writes queued: stop() waits for it. */
  #anchorWanted: Anchor | undefined;
  #anchorSaved = Promise.resolve();
  /** A peer's key not endorsed by its pin, and the history's size when that made it catch up. */
  readonly #keysCheckedAt = new Map<string, number>();
  /** Stopping: no more catching up, so that what it keeps is the last state. */
  #stopping = false;
  /** The furthest entry asked for while a pass ran (Infinity: all there is then): another pass follows if it did not reach it. */
  #againTo = 0;
  /** What was reported of each pair: a reason is logged and recorded once. */
  readonly #reported = new Map<string, string>();
  readonly #audit: boolean;
  /** The next cosignature, soon after what was verified last: a burst of appends gets one. */
  #cosigning: NodeJS.Timeout | undefined;
  #cosigned = 0;

  /**
   * `audit`: verify from the first entry for a report, and leave no trace (no anchor
   * saved, no cosignature); the running server's ledger keeps its own.
   */
  constructor(deps: { db: Database; serverId: string; identity: { key: RootKeyPair }; log: Logger; audit?: boolean }) {
    super();
    this.setMaxListeners(0);
    this.#db = deps.db;
    this.#serverId = deps.serverId;
    this.#identity = deps.identity;
    this.#log = deps.log;
    this.#audit = deps.audit ?? false;
    this.#anchorFile = path.join(deps.identity.key.dataDir, 'ledger.json');
    this.#stateFile = path.join(deps.identity.key.dataDir, 'ledger-state.json');
    this.#ownKeys.add(deps.identity.key.fingerprint);
  }

  /** Stops cosigning, and keeps what it verified for the next start. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#cosigning);
    await this.#catchingUp?.catch(() => {});
    await this.#anchorSaved;
    await this.#keepState().catch((error: unknown) => this.#log.warn({ err: error }, 'could not keep the verified state: the next start verifies the whole history'));
  }

  /** How many entries this server has verified. */
  get size(): number {
    return this.#frontier.size;
  }

  /** Where the history stopped being believable, if it did. */
  get broken(): { sequence: number; reason: string } | undefined {
    return this.#broken;
  }

  /** The Merkle root of what this server has verified. */
  root(): Uint8Array {
    return this.#frontier.root();
  }

  async start(): Promise<void> {
    this.#anchor = await readFile(this.#anchorFile, 'utf8').then(
      (text) => JSON.parse(text) as Anchor,
      () => undefined,
    );
    for (const token of this.#anchor?.revokedTokens ?? []) this.#revoked.add(token);
    if (!this.#audit) {
      this.#resumeFrom = await this.#keptState();
      this.#stateKeptAt = this.#resumeFrom?.size ?? 0;
    }
    await this.#loadEarlierOwnKeys();
    await this.catchUp();
  }

  /**
   * The keys this server held before the one it holds, so that its own decisions signed
   * with them verify before the history reaches its rotations. Each rotation is signed by
   * the key it rotated to, back to the one held now: only this server could sign it.
   */
  async #loadEarlierOwnKeys(): Promise<void> {
    const rotations = await this.#db.prisma.rootKey.findMany({
      where: { serverId: this.#serverId, rotationStatement: { not: null } },
      select: { rotationStatement: true, rotationSignatures: true },
    });
    for (let grew = true; grew; ) {
      grew = false;
      for (const row of rotations) {
        const statement = readStatement(KeyRotationStatement, row.rotationStatement!);
        if (!statement || statement.server !== this.#serverId || !this.#ownKeys.has(statement.to) || this.#ownKeys.has(statement.from)) continue;
        const pem = publicKeyFromStatement(statement.publicKey, statement.to);
        const signature = (row.rotationSignatures as { to?: unknown } | null)?.to;
        if (pem && typeof signature === 'string' && verifyStatement(row.rotationStatement!, signature, pem)) {
          this.#ownKeys.add(statement.from);
          grew = true;
        }
      }
    }
  }

  /** A key this server now holds (after a rotation): its own from now on. */
  holdsKey(fingerprint: string): void {
    this.#ownKeys.add(fingerprint);
  }

  /** Reads and verifies what was appended since; callers at the same time share one pass. */
  catchUp(): Promise<void> {
    return this.#catchUp(Infinity);
  }

  /** catchUp, unless what this server verified already reaches entry `sequence` (when known). */
  catchUpTo(sequence: number | undefined): Promise<void> {
    return sequence !== undefined && sequence <= this.size ? Promise.resolve() : this.#catchUp(sequence ?? Infinity);
  }

  /**
   * A pass, or a share of the one running. Asked for during a pass, another follows: the
   * running one may have read before what was asked for committed. Not when the pass
   * reached it anyway, as it mostly does: the notice of its own commit comes while the
   * decision's own catching up runs.
   */
  #catchUp(to: number): Promise<void> {
    if (this.#stopping) return this.#catchingUp ?? Promise.resolve();
    if (this.#catchingUp) {
      this.#againTo = Math.max(this.#againTo, to);
      return this.#catchingUp;
    }
    this.#catchingUp = (async () => {
      try {
        do {
          this.#againTo = 0;
          await this.#read();
        } while (this.#againTo > this.size && !this.#stopping);
      } finally {
        this.#catchingUp = undefined;
      }
    })();
    return this.#catchingUp;
  }

  /** Whether a token's hash was revoked in the history (or in a history this server saw before). */
  isRevoked(tokenHash: string): boolean {
    return this.#revoked.has(tokenHash);
  }

  /**
   * Whether a token signed by `serverId`'s key `fingerprint` may be believed: one of this
   * server's own keys, or the key of a peer it trusts, with verified trust. A key rotated
   * away (a thief may hold it) vouches only for the token statements the history
   * recorded it signing before its rotation: not for one signed with it since, nor for
   * an old token's statement signed again with another role.
   */
  acceptsIssuer(serverId: string, fingerprint: string, statement: string): boolean {
    const retiredAt = this.#retired.get(fingerprint);
    if (retiredAt !== undefined && !((this.#tokenSignatures.get(tokenSignatureKey(statement, fingerprint)) ?? Infinity) < retiredAt)) return false;
    return this.#speaksFor(serverId, fingerprint);
  }

  /** Whether this server believes what `serverId` signs with `fingerprint`: its own keys, or a peer's it trusts, with verified trust. */
  #speaksFor(serverId: string, fingerprint: string): boolean {
    if (serverId === this.#serverId) return this.#ownKeys.has(fingerprint);
    const pin = this.#pins.get(serverId);
    const pair = this.#pairs.get(this.#ownPairs.get(serverId) ?? '');
    return !!pin && !!pair && this.#chains.same(pin, fingerprint) && pair.status === 'TRUSTED' && !pair.problem && !this.#unanchored(pair) && !this.#broken;
  }

  /**
   * Whether this server may report its stored pair as it is. `peer` is what the database
   * says of the other server now: its current key and its membership.
   */
  async verdict(row: PeerTrust, peer: { fingerprint: string; status: string }): Promise<Verdict> {
    // The row and the history move on while others decide: read whichever is behind
    // again, until they meet (a row naming an entry the history lacks never will).
    for (let attempt = 0; attempt < MAX_CATCH_UPS; attempt++) {
      const needed = Number(row.lastSequence);
      await this.catchUpTo(needed);
      if (needed > this.size) break;
      const verified = this.#pairs.get(row.id);
      if (!verified || verified.lastSequence <= Number(row.lastSequence)) break;
      row = (await this.#db.prisma.peerTrust.findUnique({ where: { id: row.id } })) ?? row;
    }
    // A key the database holds (read after its rotation committed, with the rotation's
    // entry) that this server has not verified yet: the rotation is read first.
    // Once per key and history size: a key that stays unendorsed (a reinstall) costs no read per verdict.
    const peerId = row.serverAId === this.#serverId ? row.serverBId : row.serverAId;
    const key = `${peerId} ${peer.fingerprint}`;
    if (this.#unboundKey(peerId, peer.fingerprint) && this.#keysCheckedAt.get(key) !== this.size) {
      await this.catchUp();
      this.#keysCheckedAt.set(key, this.size);
    }
    // A decommission the history has read since the peer was: it committed with the
    // peer's row, so the row says so now, unless it was changed behind our back.
    if (this.#decommissioned.has(peerId) && peer.status !== 'DECOMMISSIONED') {
      const now = await this.#db.prisma.server.findUnique({ where: { id: peerId }, select: { status: true } });
      if (now) peer = { ...peer, status: now.status };
    }
    return this.verdictNow(row, peer);
  }

  /** verdict, on what this server has verified so far (the caller has seen it catch up to the row). */
  verdictNow(row: PeerTrust, peer: { fingerprint: string; status: string }): Verdict {
    const verified = this.#pairs.get(row.id);
    if (this.#broken && (row.status === 'TRUSTED' || verified?.status === 'TRUSTED')) {
      return { verified: false, reason: `the Trust History is broken at entry ${this.#broken.sequence}: ${this.#broken.reason}` };
    }
    if (verified?.problem) return { verified: false, reason: verified.problem };
    const expected = verified ?? { status: 'PENDING', acceptedByA: false, acceptedByB: false, lastSequence: 0 };
    const own: Side = row.serverAId === this.#serverId ? 'A' : 'B';
    if (describe(row, own) !== describe(expected, own)) {
      return { verified: false, reason: `the database says ${describe(row, own)}; the signed history says ${describe(expected, own)}` };
    }
    if (Number(row.lastSequence) !== expected.lastSequence) {
      return {
        verified: false,
        reason: `the database says its last change is entry ${row.lastSequence}; the signed history says entry ${expected.lastSequence}`,
      };
    }
    const peerId = row.serverAId === this.#serverId ? row.serverBId : row.serverAId;
    if (this.#decommissioned.has(peerId) && peer.status !== 'DECOMMISSIONED') {
      return { verified: false, reason: 'the signed history says this peer was decommissioned; the database says it was not' };
    }
    switch (this.#unboundKey(peerId, peer.fingerprint)) {
      case 'approved':
        return {
          verified: false,
          reason: `its key is now ${peer.fingerprint}, which the key you approved (${this.#pins.get(peerId)}) did not endorse: a reinstalled server, or an impostor`,
        };
      case 'registered':
        return {
          verified: false,
          reason: `its key is now ${peer.fingerprint}, which the key it registered with (${this.#registered.get(peerId)}) did not endorse: a key row added to the database, not one the server holds`,
        };
    }
    const unanchored = verified?.status === 'TRUSTED' ? this.#unanchored(verified) : undefined;
    return unanchored ? { verified: false, reason: unanchored } : { verified: true };
  }

  /**
   * Whether `fingerprint` is not a key of `serverId`'s as the history binds them: not
   * connected by rotations to the key this server approved ('approved'), or, before it
   * approved one, to the key the server registered with ('registered'). The key an
   * administrator checked on the server itself decides alone: a server registered before
   * registrations were recorded may have had its registration forged first.
   */
  #unboundKey(serverId: string, fingerprint: string): 'approved' | 'registered' | undefined {
    const pin = this.#pins.get(serverId);
    if (pin) return this.#chains.same(pin, fingerprint) ? undefined : 'approved';
    const registered = this.#registered.get(serverId);
    if (registered && !this.#chains.same(registered, fingerprint)) return 'registered';
    return undefined;
  }

  /** The key a server registered with, as its signed registration in the history says; none for a server registered before those were recorded. */
  registeredKey(serverId: string): string | undefined {
    return this.#registered.get(serverId);
  }

  /** Whether this server holds the key, or one connected to it by rotations. */
  isOwnKey(fingerprint: string): boolean {
    return this.#ownKeys.has(fingerprint) || this.#chains.same(fingerprint, this.#identity.key.fingerprint);
  }

  /** Why a TRUSTED pair of this server's is not anchored in the key its administrator approved, if it is not. */
  #unanchored(pair: VerifiedPair): string | undefined {
    const own: Side = pair.serverAId === this.#serverId ? 'A' : 'B';
    const mine = pair.accepts[own];
    const theirs = pair.accepts[own === 'A' ? 'B' : 'A'];
    if (!mine || !theirs) return 'the signed history does not hold both approvals of this round';
    if (theirs.signedWith !== 'legacy' && !this.#chains.same(mine.verified, theirs.signedWith)) {
      return `the peer's approval is signed by ${theirs.signedWith}, not by the key you approved (${mine.verified})`;
    }
    if (!this.#ownKeys.has(theirs.verified) && !this.#chains.same(theirs.verified, this.#identity.key.fingerprint)) {
      return `the peer approved ${theirs.verified}, which is not a key of this server`;
    }
    return undefined;
  }

  /** The server whose deny the signed history records on a pair, if it was denied. */
  deniedBy(pairId: string): string | undefined {
    return this.#pairs.get(pairId)?.deniedBy;
  }

  /** Whether the reason a pair is unverified is new: not yet reported (recorded and logged). */
  isUnreported(pairId: string, reason: string): boolean {
    return this.#reported.get(pairId) !== reason;
  }

  /** Logs the reason a pair is unverified, once recorded; later checks that find the same stay quiet. */
  reported(pairId: string, reason: string): void {
    this.#reported.set(pairId, reason);
    this.#log.error({ pair: pairId, reason }, 'a pair does not match the signed Trust History: it is reported UNVERIFIED');
  }

  async #read(): Promise<void> {
    if (this.#broken) return;
    let pass: PassRow[];
    for (let first = true; ; first = false) {
      // One statement, so one snapshot: the counter (read with the entries, it is never
      // below what they show committed), the entries after those verified, and the
      // checkpoint of the size they reach. A pass that finds nothing new is one query.
      pass = await this.#db.prisma.$queryRaw<PassRow[]>`
        WITH "entries" AS (
          SELECT "sequence", "kind", "at", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry"
          FROM "TrustEvent" WHERE "sequence" > ${this.size} ORDER BY "sequence" LIMIT ${BATCH})
        SELECT h."origin", h."legacyLength", h."length", c."note" AS "checkpointNote", c."serverId" AS "checkpointServerId", e.*
        FROM "TrustHistory" h
        LEFT JOIN "TrustCheckpoint" c ON c."size" = COALESCE((SELECT max("sequence") FROM "entries"), ${this.size})
        LEFT JOIN "entries" e ON true
        WHERE h."id" = 1
        ORDER BY e."sequence"`;
      const history = pass[0];
      if (!history) return this.#break(this.size + 1, 'the Trust History has no counter row');
      if (first && !this.#historyIsTheOneVerified(history)) return;
      const rows = pass.filter((row): row is PassRow & EntryRow => row.sequence !== null);
      if (!this.#resumeFrom) await this.#loadKeys(rows);
      for (const row of rows) {
        // The place it should be in: a missing entry breaks the history there.
        const place = this.size + 1;
        if (this.#resumeFrom) {
          // Up to the kept state, the same entries as verified then: checked by hash.
          if (typeof this.#place(row) === 'string') return this.#verifyAfresh();
          if (this.size === this.#resumeFrom.size) {
            if (!this.#resume()) return this.#verifyAfresh();
            // The rest of this batch is verified: the keys it names.
            await this.#loadKeys(rows);
          }
          continue;
        }
        const problem = this.#apply(row);
        if (problem) return this.#break(place, problem);
        if (this.size === this.#anchor?.size && encodeBase64(this.root()) !== this.#anchor.root) {
          return this.#break(this.size, `the entries up to ${this.size} are not the ones this server verified before`);
        }
      }
      if (rows.length < BATCH) break;
    }
    // Shorter than the kept state: verified afresh, which says where it breaks.
    if (this.#resumeFrom) return this.#verifyAfresh();
    const { length, checkpointNote, checkpointServerId } = pass[0]!;
    const shortest = Math.max(this.#anchor?.size ?? 0, this.size);
    if (Number(length) < shortest) {
      return this.#break(Number(length) + 1, `the history has ${length} entries; this server verified ${shortest}: entries were deleted`);
    }
    if (this.#anchor && this.size < this.#anchor.size) {
      return this.#break(this.size + 1, `the history has ${this.size} entries; this server verified ${this.#anchor.size}: entries were deleted`);
    }
    if (this.#current?.owed.length) {
      return this.#break(this.size, `its decision is recorded without its ${this.#current.owed.join(', ')}`);
    }
    this.#checkCheckpoint(checkpointNote === null ? null : { note: checkpointNote, serverId: checkpointServerId! });
    if (this.#audit) return;
    this.#keepAnchor();
    if (this.size - this.#stateKeptAt >= STATE_EVERY) {
      await this.#keepState().catch((error: unknown) => this.#log.warn({ err: error }, 'could not keep the verified state: trying again after the next entries'));
    }
    this.#scheduleCosign();
  }

  /** Whether the history read is the one this server verified (its name and legacy part); breaks it when not. */
  #historyIsTheOneVerified(history: { origin: string; legacyLength: bigint }): boolean {
    if (this.#origin === undefined) {
      this.#origin = history.origin;
      this.#legacyLength = Number(history.legacyLength);
    }
    if (this.#origin !== history.origin || this.#legacyLength !== Number(history.legacyLength)) {
      this.#break(this.size + 1, 'the Trust History is not the one this server verified (its name or its legacy part changed)');
      return false;
    }
    if (this.#anchor && (this.#anchor.origin !== this.#origin || this.#anchor.legacyLength !== this.#legacyLength)) {
      this.#break(1, 'the Trust History is not the one this server verified before it stopped');
      return false;
    }
    const resume = this.#resumeFrom;
    if (resume && (resume.origin !== this.#origin || resume.legacyLength !== this.#legacyLength)) {
      this.#resumeFrom = undefined;
      this.#stateKeptAt = 0;
    }
    return true;
  }

  /** The state this server kept, if there is one it can take on (whole, in shape, its own and its key's). */
  async #keptState(): Promise<VerifiedState | undefined> {
    const text = await readFile(this.#stateFile, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    let parsed: ReturnType<typeof VerifiedStateSchema.safeParse> | undefined;
    try {
      parsed = VerifiedStateSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    const state = parsed?.success ? parsed.data : undefined;
    if (!state || state.serverId !== this.#serverId || state.key !== this.#identity.key.fingerprint) {
      this.#log.warn('the verified state kept in the data directory is not one this server can take on: verifying the history from its first entry');
      return undefined;
    }
    return state;
  }

  /** Something differs from the kept state: forget it, and verify every entry from the first. */
  #verifyAfresh(): Promise<void> {
    this.#log.warn({ kept: this.#resumeFrom?.size }, 'the history differs from the verified state this server kept: verifying it from its first entry');
    this.#resumeFrom = undefined;
    this.#stateKeptAt = 0;
    this.#frontier = new Frontier();
    return this.#read();
  }

  /** Takes on the kept state, once the entries up to it hashed to its root; false when they did not. */
  #resume(): boolean {
    const state = this.#resumeFrom!;
    if (encodeBase64(this.root()) !== state.root) return false;
    for (const [id, pair] of state.pairs) {
      this.#pairs.set(id, pair);
      if (pair.serverAId === this.#serverId || pair.serverBId === this.#serverId) {
        this.#ownPairs.set(pair.serverAId === this.#serverId ? pair.serverBId : pair.serverAId, id);
      }
    }
    for (const server of state.decommissioned) this.#decommissioned.add(server);
    for (const key of state.ownKeys) this.#ownKeys.add(key);
    this.#chains.restore(state.chains);
    for (const [key, at] of state.retired) this.#retired.set(key, at);
    for (const [peer, pin] of state.pins) this.#pins.set(peer, pin);
    for (const [server, key] of state.registered) this.#registered.set(server, key);
    for (const token of state.revoked) this.#revoked.add(token);
    for (const [signature, at] of state.tokenSignatures) this.#tokenSignatures.set(signature, at);
    for (const [fingerprint, key] of state.keys) this.#keys.set(fingerprint, key);
    this.#current = state.current ?? undefined;
    this.#resumeFrom = undefined;
    this.#log.info({ size: state.size }, 'took on the verified state it kept; verifying the entries after it');
    return true;
  }

  /** Keeps what follows from the entries verified so far, for the next start (not when broken: that start verifies all). */
  async #keepState(): Promise<void> {
    if (this.#audit || this.#broken || !this.#origin || this.#resumeFrom || this.size === this.#stateKeptAt) return;
    const state: VerifiedState = {
      version: 4,
      serverId: this.#serverId,
      key: this.#identity.key.fingerprint,
      ...this.#verifiedHistory(),
      pairs: [...this.#pairs],
      decommissioned: [...this.#decommissioned],
      ownKeys: [...this.#ownKeys],
      chains: this.#chains.links(),
      retired: [...this.#retired],
      pins: [...this.#pins],
      registered: [...this.#registered],
      revoked: [...this.#revoked],
      tokenSignatures: [...this.#tokenSignatures],
      keys: [...this.#keys],
      current: this.#current ?? null,
    };
    await writePrivately(this.#stateFile, JSON.stringify(state));
    this.#stateKeptAt = state.size;
  }

  /** The newest checkpoint this server verified, as stored: for reports. */
  async checkpoint(): Promise<{ note: string; witnesses: string[] } | undefined> {
    const checkpoint = await this.#db.prisma.trustCheckpoint.findUnique({ where: { size: this.size } });
    if (!checkpoint) return undefined;
    const cosignatures = await this.#db.prisma.trustCosignature.findMany({ where: { size: this.size }, orderBy: { witnessId: 'asc' } });
    return { note: checkpoint.note + cosignatures.map((c) => `${c.line}\n`).join(''), witnesses: cosignatures.map((c) => c.witnessId) };
  }

  /**
   * As a witness: cosigns the checkpoint of the size this server verified (C2SP
   * tlog-cosignature), saying it saw that history, consistent with all it saw before.
   */
  #scheduleCosign(): void {
    if (this.#stopping || this.#cosigning || this.#broken || this.size <= this.#cosigned) return;
    this.#cosigning = setTimeout(() => {
      this.#cosigning = undefined;
      void this.#cosign().catch((error: unknown) => this.#log.warn({ err: error }, 'could not cosign the Trust History; trying again at its next change'));
    }, COSIGN_DELAY_MS);
    this.#cosigning.unref();
  }

  async #cosign(): Promise<void> {
    const size = this.size;
    const checkpoint = this.#broken ? undefined : await this.#db.prisma.trustCheckpoint.findUnique({ where: { size } });
    if (!checkpoint || size <= this.#cosigned) return;
    const cosigned = addSignatures(checkpoint.note, [cosignatureSigner(witnessKeyName(this.#serverId), this.#identity.key.privateKey)]);
    const line = cosigned.trimEnd().split('\n').at(-1)!;
    await this.#db.prisma.$executeRaw`
      INSERT INTO "TrustCosignature" ("size", "witnessId", "line") VALUES (${size}, ${this.#serverId}::uuid, ${line})
      ON CONFLICT DO NOTHING`;
    this.#cosigned = size;
  }

  /** Public keys the entries name: RootKey rows whose key matches their fingerprint. */
  async #loadKeys(rows: EntryRow[]): Promise<void> {
    const wanted = new Set<string>();
    for (const row of rows) for (const signature of parseEntry(row.entry)?.signatures ?? []) wanted.add(signature.fingerprint);
    const missing = [...wanted].filter((fingerprint) => !this.#keys.has(fingerprint));
    if (!missing.length) return;
    const keys = await this.#db.prisma.rootKey.findMany({
      where: { fingerprint: { in: missing } },
      select: { serverId: true, fingerprint: true, publicKey: true },
    });
    for (const key of keys) {
      if (safeFingerprint(key.publicKey) === key.fingerprint) this.#keys.set(key.fingerprint, { serverId: key.serverId, pem: key.publicKey });
    }
  }

  /** Checks an entry's place and columns, and adds it to the tree: the entry, or why the history breaks there. */
  #place(row: EntryRow): EventEntry | string {
    const sequence = this.size + 1;
    if (Number(row.sequence) !== sequence) return `entry ${sequence} is missing`;
    const entry = parseEntry(row.entry);
    if (!entry) return 'it is not a Trust History entry';
    if (entry.sequence !== sequence) return `it says it is entry ${entry.sequence}`;
    const columns = [row.kind, row.at.toISOString(), row.peerTrustId, row.serverAId, row.serverBId, row.serverId, row.actorId, row.fingerprints];
    const signed = [entry.kind, entry.time, entry.pair?.id ?? null, entry.pair?.servers[0] ?? null, entry.pair?.servers[1] ?? null, entry.server, entry.actor, entry.fingerprints];
    if (JSON.stringify(columns) !== JSON.stringify(signed)) return 'its columns differ from its entry';
    this.#frontier.append(leafHash(Buffer.from(row.entry)));
    return entry;
  }

  /** Verifies one entry and applies it; returns why the history breaks there, if it does. */
  #apply(row: EntryRow): string | undefined {
    const entry = this.#place(row);
    if (typeof entry === 'string') return entry;
    const sequence = this.size;
    const pair = entry.pair && this.#pair(entry.pair.id, entry.pair.servers);
    if (pair === undefined) return 'it names a pair with other servers than before';
    const problem = entry.legacy ? this.#applyLegacy(entry, pair) : this.#applySigned(entry, pair);
    if (problem) return problem;
    if (pair && CHANGES_A_PAIR.has(entry.kind)) pair.lastSequence = sequence;
    return undefined;
  }

  /** The pair an entry names, created on first sight; undefined when its servers differ from what was seen. */
  #pair(id: string, servers: [string, string]): VerifiedPair | undefined {
    const known = this.#pairs.get(id);
    if (known) return known.serverAId === servers[0] && known.serverBId === servers[1] ? known : undefined;
    if (servers[0] >= servers[1]) return undefined;
    const pair: VerifiedPair = {
      serverAId: servers[0],
      serverBId: servers[1],
      status: 'PENDING',
      acceptedByA: false,
      acceptedByB: false,
      lastSequence: 0,
      accepts: {},
    };
    this.#pairs.set(id, pair);
    if (servers.includes(this.#serverId)) this.#ownPairs.set(servers[0] === this.#serverId ? servers[1] : servers[0], id);
    return pair;
  }

  /** Before decisions were signed: taken as found when this server first saw them, replayed by the rules. */
  #applyLegacy(entry: EventEntry, pair: VerifiedPair | null): string | undefined {
    if (entry.sequence > this.#legacyLength) return 'an unsigned entry after the history was signed';
    if (!pair) return 'a legacy entry without a pair';
    const side: Side = entry.server === pair.serverAId ? 'A' : 'B';
    const peerOf = (server: string) => (server === pair.serverAId ? pair.serverBId : pair.serverAId);
    switch (entry.kind) {
      case 'TRUST_APPROVED': {
        const decision = decide(pair, side, 'ACCEPT');
        if (decision.outcome === 'changed') Object.assign(pair, decision.next);
        // Legacy events kept the fingerprint the decider approved: this server's pins.
        const verified = entry.fingerprints[0] ?? '';
        pair.accepts[side] = { signedWith: 'legacy', verified };
        if (entry.server === this.#serverId) this.#pins.set(peerOf(entry.server), verified);
        return undefined;
      }
      case 'TRUST_ENABLED':
        pair.status = 'TRUSTED';
        return undefined;
      case 'TRUST_DENIED':
        pair.status = 'DENIED';
        pair.deniedBy = entry.server;
        return undefined;
      case 'TRUST_REVOKED':
        Object.assign(pair, { status: 'REVOKED', acceptedByA: false, acceptedByB: false, accepts: {} });
        return undefined;
      case 'SERVER_DECOMMISSIONED':
        this.#decommissioned.add(peerOf(entry.server));
        return undefined;
      default:
        return `a legacy ${entry.kind} entry`;
    }
  }

  #applySigned(entry: EventEntry, pair: VerifiedPair | null): string | undefined {
    const read = entryStatement(entry);
    if (!read) return 'it has no signed statement of its kind';
    const continuing = this.#current?.statement === entry.statement;
    if (!continuing && this.#current?.owed.length) return `the decision before it is recorded without its ${this.#current.owed.join(', ')}`;
    if (!continuing) this.#current = { statement: entry.statement!, owed: [] };
    // A rotation carries the new key, a registration its key: known from it, as soon as its fingerprint matches.
    let carried: { fingerprint: string; pem: string } | undefined;
    if (read.type === 'rotation' || read.type === 'registration') {
      const fingerprint = read.type === 'rotation' ? read.statement.to : read.statement.fingerprint;
      const pem = publicKeyFromStatement(read.statement.publicKey, fingerprint);
      if (!pem) return 'the key it carries does not match its fingerprint';
      carried = { fingerprint, pem };
      if (read.type === 'rotation') this.#keys.set(fingerprint, { serverId: read.statement.server, pem });
    }
    const pemOf = (fingerprint: string) => (fingerprint === carried?.fingerprint ? carried.pem : this.#keys.get(fingerprint)?.pem);
    if (!signaturesHold(entry, requiredSigners(read, entry), pemOf)) {
      return 'its statement is not signed by the keys it names';
    }
    switch (read.type) {
      case 'decision':
        return this.#applyDecision(entry, read.statement, pair, continuing);
      case 'rotation':
        return this.#applyRotation(entry, read.statement, continuing);
      case 'revocation':
        for (const token of read.statement.tokens) this.#revoked.add(token);
        return undefined;
      case 'token':
        for (const { fingerprint } of entry.signatures ?? []) {
          const signature = tokenSignatureKey(entry.statement!, fingerprint);
          if (!this.#tokenSignatures.has(signature)) this.#tokenSignatures.set(signature, entry.sequence);
        }
        return undefined;
      case 'tampering':
        return undefined;
      case 'registration':
        return this.#applyRegistration(entry, read.statement, carried!.pem, pair);
    }
  }

  /** The key a server registered with: before a peer is approved, its decisions count only signed by it or a key it rotated to. */
  #applyRegistration(entry: EventEntry, statement: RegistrationStatement, pem: string, pair: VerifiedPair | null): string | undefined {
    if (statement.server !== entry.server || statement.time !== entry.time || entry.actor !== AUTOMATIC_ACTOR || pair) {
      return 'the entry does not say what its registration says';
    }
    if (statement.sequence !== entry.sequence) return `its registration was made for entry ${statement.sequence}`;
    // An instance registers once: a later registration (a database writer's, with a key
    // of their own) binds nothing.
    if (this.#registered.has(statement.server)) return undefined;
    this.#registered.set(statement.server, statement.fingerprint);
    this.#keys.set(statement.fingerprint, { serverId: statement.server, pem });
    return undefined;
  }

  #applyDecision(entry: EventEntry, statement: DecisionStatement, pair: VerifiedPair | null, continuing: boolean): string | undefined {
    if (!continuing && statement.sequence !== entry.sequence) return `its decision was made for entry ${statement.sequence}`;
    if (statement.decider.server !== entry.server || statement.administrator.user !== entry.actor || statement.time !== entry.time) {
      return 'the entry does not say what its decision says';
    }
    const decider = statement.decider.server;
    if (decider === this.#serverId && !this.#ownKeys.has(statement.decider.fingerprint)) return "a decision in this server's name that it did not sign";
    if (!pair) return 'a decision event without a pair';
    const retiredAt = this.#retired.get(statement.decider.fingerprint);
    if (retiredAt !== undefined && retiredAt < statement.sequence) {
      // Whoever holds a key rotated away (a thief, say) no longer speaks for its server.
      pair.problem = `a ${statement.kind} signed with ${statement.decider.fingerprint}, a key its server rotated away at entry ${retiredAt}`;
      return undefined;
    }
    // A peer signs with the key it registered with, and once this server approved it, with
    // the key approved; or with one it rotated to: a key row added to the database for it
    // (by SQL, say) does not speak for it.
    const unbound = decider === this.#serverId ? undefined : this.#unboundKey(decider, statement.decider.fingerprint);
    if (this.#keys.get(statement.decider.fingerprint)?.serverId !== decider || unbound) {
      pair.problem = `a ${statement.kind} signed with ${statement.decider.fingerprint}, not a key of its server that ${unbound === 'registered' ? 'it registered with' : 'this server approved'}`;
      return undefined;
    }
    if (statement.kind === 'DECOMMISSION') return this.#applyDecommission(entry, statement, pair);
    if (continuing) return this.#current!.owed.shift() === entry.kind ? undefined : `a ${entry.kind} event its decision did not make`;
    if (entry.pair!.id !== statement.pair || ![pair.serverAId, pair.serverBId].every((s) => s === decider || s === statement.subject.server)) {
      return 'the entry is about another pair than its decision';
    }
    const forbidden = this.#decommissioned.has(decider)
      ? 'a decision by a server after it was decommissioned'
      : statement.kind === 'ACCEPT' && this.#decommissioned.has(statement.subject.server)
        ? 'approved after it was decommissioned: the database lost the record of its decommission'
        : undefined;
    const side: Side = decider === pair.serverAId ? 'A' : 'B';
    const decision = decide(pair, side, statement.kind);
    if (forbidden || decision.outcome !== 'changed') {
      // Signed, so the history is intact; but the server decided on a state the database had changed.
      pair.problem = forbidden ?? `a signed ${statement.kind} that the rules did not allow in ${pair.status} (entry ${entry.sequence})`;
      return undefined;
    }
    if (decision.events[0] !== entry.kind) return `its ${statement.kind} should have recorded ${decision.events[0]}`;
    Object.assign(pair, decision.next);
    if (statement.kind === 'ACCEPT') {
      pair.accepts[side] = { signedWith: statement.decider.fingerprint, verified: statement.subject.fingerprint };
      if (decider === this.#serverId) this.#pins.set(statement.subject.server, statement.subject.fingerprint);
    }
    if (decision.next.status === 'REVOKED') pair.accepts = {};
    if (decision.next.status === 'DENIED') pair.deniedBy = decider;
    this.#current!.owed = decision.events.slice(1);
    return undefined;
  }

  /** Each event of a decommission: a revoke of one of the subject's pairs, and the decommission on the decider's pair. */
  #applyDecommission(entry: EventEntry, statement: DecisionStatement, pair: VerifiedPair): string | undefined {
    const subject = statement.subject.server;
    if (pair.serverAId !== subject && pair.serverBId !== subject) return "a decommission changed a pair that is not the subject's";
    if (this.#decommissioned.has(statement.decider.server)) {
      pair.problem = 'a decommission by a server after it was decommissioned';
      return undefined;
    }
    // Only a server this one trusts takes a trusted peer away from it: one nobody approved
    // could otherwise decommission any server, unseen. (A pending pair's revoke takes no
    // trust away: any server may clear out one that should not have registered.)
    const decider = statement.decider.server;
    const ownPair = pair.serverAId === this.#serverId || pair.serverBId === this.#serverId;
    if (entry.kind === 'TRUST_REVOKED' && ownPair && pair.status === 'TRUSTED' && subject !== this.#serverId && !this.#speaksFor(decider, statement.decider.fingerprint)) {
      pair.problem = `revoked by a decommission that ${decider}, a server this server does not trust, signed`;
      return undefined;
    }
    if (entry.kind === 'SERVER_DECOMMISSIONED') {
      if (entry.pair!.id !== statement.pair) return 'a decommission recorded on another pair than its decision';
      this.#decommissioned.add(subject);
      return undefined;
    }
    const decision = decide(pair, 'A', 'REVOKE');
    if (decision.outcome !== 'changed') pair.problem = `a decommission revoked it in ${pair.status} (entry ${entry.sequence})`;
    else Object.assign(pair, decision.next, { accepts: {} });
    return undefined;
  }

  #applyRotation(entry: EventEntry, statement: KeyRotationStatement, continuing: boolean): string | undefined {
    if (statement.server !== entry.server) return 'the entry does not say what its rotation says';
    if (continuing) return undefined;
    if (statement.sequence !== entry.sequence) return `its rotation was made for entry ${statement.sequence}`;
    const retiredAt = this.#retired.get(statement.from);
    if (retiredAt !== undefined) return `a rotation from ${statement.from}, a key its server rotated away at entry ${retiredAt}`;
    this.#retired.set(statement.from, entry.sequence);
    this.#chains.connect(statement.from, statement.to);
    if (statement.server === this.#serverId && (this.#ownKeys.has(statement.from) || this.#ownKeys.has(statement.to))) {
      this.#ownKeys.add(statement.from);
      this.#ownKeys.add(statement.to);
    }
    return undefined;
  }

  /** A checkpoint of the size verified (read with the entries) must sign this server's root (every append signs one). */
  #checkCheckpoint(checkpoint: { note: string; serverId: string } | null): void {
    if (this.#broken || this.size <= this.#legacyLength || !this.#origin) return;
    if (!checkpoint) return this.#break(this.size, 'no signed checkpoint covers it: its checkpoint was deleted, or it was added without one');
    const signer = checkpoint.serverId === this.#serverId
      ? [...this.#ownKeys].map((fingerprint) => (fingerprint === this.#identity.key.fingerprint ? this.#identity.key.publicKeyPem : this.#keys.get(fingerprint)?.pem))
      : [...this.#keys.values()].filter((key) => key.serverId === checkpoint.serverId).map((key) => key.pem);
    const verifiers = signer.filter((pem): pem is string => !!pem).map((pem) => ed25519NoteVerifier(checkpointKeyName(checkpoint.serverId), publicKeyOf(pem)));
    try {
      // Any key of the signer: a rotation may have changed it since.
      const opened = openCheckpoint(checkpoint.note, this.#origin, verifiers);
      if (encodeBase64(opened.checkpoint.rootHash) !== encodeBase64(this.root())) this.#break(this.size, 'its signed checkpoint is of another history');
    } catch (error) {
      this.#break(this.size, `its checkpoint does not verify: ${(error as Error).message}`);
    }
  }

  #break(sequence: number, reason: string): void {
    if (this.#broken) return;
    this.#broken = { sequence, reason };
    this.#log.error({ sequence, reason }, 'the Trust History does not verify: no trust in it is reported from here on');
    for (const id of this.#ownPairs.values()) this.emit('unverified', id);
  }

  /**
   * Saves the anchor after what the last pass verified, behind the writes before it.
   * Nobody waits for it but stop(): a pass is done once its entries are verified, and a
   * decision waiting for that pays no fsync of this file.
   */
  #keepAnchor(): void {
    if (this.#broken || !this.#origin) return;
    this.#anchorWanted = { ...this.#verifiedHistory(), revokedTokens: [...this.#revoked] };
    this.#anchorSaved = this.#anchorSaved.then(() => this.#writeAnchor());
  }

  /** Writes the newest anchor wanted, unless written already (a burst of passes writes it once). */
  async #writeAnchor(): Promise<void> {
    const anchor = this.#anchorWanted;
    if (!anchor || JSON.stringify(anchor) === JSON.stringify(this.#anchor)) return;
    try {
      await writePrivately(this.#anchorFile, JSON.stringify(anchor));
      this.#anchor = anchor;
    } catch (error) {
      this.#log.warn({ err: error }, 'could not save what this server verified of the Trust History; trying again after the next entries');
    }
  }

  /** Which history, and how much of it, this server has verified. */
  #verifiedHistory() {
    return { origin: this.#origin!, legacyLength: this.#legacyLength, size: this.size, root: encodeBase64(this.root()) };
  }
}

/** A token statement's signature by a key, as the ledger remembers it. */
function tokenSignatureKey(statement: string, fingerprint: string): string {
  return `${createHash('sha256').update(statement).digest('hex')} ${fingerprint}`;
}

/** Replaces `file` whole or not at all (a crash leaves the old one), readable by this user only. */
async function writePrivately(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(text);
    // On disk before it takes the file's name: a power cut leaves the old file, not an empty one.
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}
