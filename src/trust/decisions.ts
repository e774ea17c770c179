// approveTrust, denyTrust and revokeTrust: one administrator's decision on this server
// about one peer. It runs in a transaction that locks the pair, applies the rules of
// state-machine.ts to it (after checking it against the signed history), signs the
// decision with this server's root key, and records the decision, its history and its
// notice together. Decisions of this server on other pairs that wait at the same time
// share that transaction and its commit (group-commit.ts), each with its own outcome.
import type { PeerTrust } from '../db/generated/prisma/client.js';
import type { TrustDecisionKind, TrustEventKind } from '../db/generated/prisma/enums.js';
import { isBadData, ServerBusyError } from '../db/client.js';
import { peerTrustChangedNotices } from '../db/events.js';
import { canonicalFingerprint } from '../identity/fingerprint.js';
import type { RootKeyPair } from '../identity/root-key.js';
import { canonical, DecisionStatement, signStatement } from '../identity/statements.js';
import {
  FingerprintMismatchError,
  InvalidFingerprintError,
  NotFoundError,
  ServerDecommissionedError,
  TrustDeniedError,
  UnverifiedTrustError,
} from './errors.js';
import { GroupCommit, type Settled } from './group-commit.js';
import { appendClauses, reserve, type NewEvent, type Reservation } from './history.js';
import { withOwnKey } from './keys.js';
import { MAX_CATCH_UPS } from './ledger.js';
import { serversWithFingerprints, type ServerFacts } from './servers.js';
import { decide, type Decision } from './state-machine.js';
import { orderedPair, peerIdFor, type Actor, type ServerScope } from './scope.js';
import { inTransaction } from './transaction.js';

export interface FingerprintedInput {
  peerId: string;
  /** The peer's root key fingerprint as the administrator verified it. */
  fingerprint: string;
}

/** Approves trust in a peer; the pair becomes TRUSTED once the peer has approved this server too. */
export function approveTrust(scope: ServerScope, actor: Actor, input: FingerprintedInput) {
  return recordDecision(scope, actor, 'ACCEPT', input.peerId, input.fingerprint);
}

/** Denies a peer: final for this pair of server instances. */
export function denyTrust(scope: ServerScope, actor: Actor, input: FingerprintedInput) {
  return recordDecision(scope, actor, 'DENY', input.peerId, input.fingerprint);
}

/** Ends trust with a peer, for example before it is replaced. */
export function revokeTrust(scope: ServerScope, actor: Actor, input: { peerId: string }) {
  return recordDecision(scope, actor, 'REVOKE', input.peerId, undefined);
}

async function recordDecision(
  scope: ServerScope,
  actor: Actor,
  kind: Exclude<TrustDecisionKind, 'DECOMMISSION'>,
  peerIdInput: string,
  fingerprintInput: string | undefined,
): Promise<PeerTrust> {
  const peerId = peerIdFor(scope, peerIdInput);
  let verified: string | undefined;
  if (fingerprintInput !== undefined) {
    verified = canonicalFingerprint(fingerprintInput);
    if (!verified) throw new InvalidFingerprintError(fingerprintInput);
  }
  const request = { actor, kind, ids: orderedPair(scope.serverId, peerId), peerId, peerIdInput, verified };
  // The decision is checked against the verified history, which must have read as far as
  // the pair's last change. It catches up between transactions, never inside one: a
  // transaction waiting for another connection could starve the pool.
  // Decisions by others may keep moving the pair ahead of this server's history; the
  // history catching up without reaching what the row names means the entry is missing.
  const batcher = batcherOf(scope);
  for (let attempt = 1; ; attempt++) {
    try {
      return await batcher.submit({ ...request, caughtUp: attempt > MAX_CATCH_UPS });
    } catch (error) {
      if (!(error instanceof LedgerBehind)) throw error;
      await scope.ledger.catchUp();
      if (scope.ledger.size < error.needed) return batcher.submit({ ...request, caughtUp: true });
    }
  }
}

/** The verified history has not read the pair's last change yet. */
class LedgerBehind extends Error {
  constructor(readonly needed: number) {
    super(`the verified history has not read entry ${needed} yet`);
  }
}

/** One decision waiting for its batch: what recordDecision checked of the request. */
interface Request {
  actor: Actor;
  kind: Exclude<TrustDecisionKind, 'DECOMMISSION'>;
  ids: { serverAId: string; serverBId: string };
  peerId: string;
  peerIdInput: string;
  verified: string | undefined;
  /** The verified history has caught up as far as it will: decide on what it has. */
  caughtUp: boolean;
}

/** The most decisions one transaction appends: a statement of a few hundred KB. */
const MAX_BATCH = 64;

/** Each server's decisions: those waiting at once commit together. */
const batchers = new WeakMap<ServerScope, GroupCommit<Request, PeerTrust>>();

function batcherOf(scope: ServerScope): GroupCommit<Request, PeerTrust> {
  let batcher = batchers.get(scope);
  if (!batcher) {
    const tooLong = () => new ServerBusyError(`decisions waited for their turn longer than ${scope.db.waitMs / 1000} s`);
    batcher = new GroupCommit(
      (requests: Request[], waitEnds: number) =>
        withOwnKey(scope, (key) => {
          // The turn, the key's turn and the connection share one wait: a request's time limit covers all three.
          const left = Math.floor(waitEnds - performance.now());
          if (left <= 0) throw tooLong();
          return decideTogether(scope, key, requests, left);
        }),
      {
        max: MAX_BATCH,
        // Two decisions on one pair: the second decides on the state the first leaves.
        conflicts: (a, b) => pairKey(a.ids) === pairKey(b.ids),
        waitMs: scope.db.waitMs,
        tooLong,
        causedByAnItem: isBadData,
      },
    );
    batchers.set(scope, batcher);
  }
  return batcher;
}

const pairKey = (ids: { serverAId: string; serverBId: string }) => `${ids.serverAId} ${ids.serverBId}`;

/** A decision the rules allow, and what it changes. */
interface Change {
  index: number;
  request: Request;
  pair: PeerTrust;
  peer: ServerFacts;
  decision: Extract<Decision, { outcome: 'changed' }>;
}

/**
 * Decisions on different pairs, in one transaction: each is checked and decided on its
 * own (one refused leaves the others to commit), and those that change their pair are
 * appended together, in order, under one reservation and one checkpoint.
 */
function decideTogether(scope: ServerScope, key: RootKeyPair, requests: Request[], maxWait: number): Promise<Settled<PeerTrust>[]> {
  return inTransaction(scope.db, async (tx, afterCommit) => {
    // The pairs' row locks order decisions on each, and order them against a decommission,
    // which takes them too, in the same (id) order; NO KEY UPDATE, as there (servers.ts).
    // The servers are read after they are held: each statement sees what committed
    // before it started, so a decommission cannot slip in unseen.
    const locked = await tx.$queryRaw<PeerTrust[]>`
      SELECT * FROM "PeerTrust"
      WHERE ("serverAId", "serverBId") IN (
        SELECT * FROM unnest(${requests.map((r) => r.ids.serverAId)}::uuid[], ${requests.map((r) => r.ids.serverBId)}::uuid[]))
      ORDER BY "id" FOR NO KEY UPDATE`;
    const pairs = new Map(locked.map((pair) => [pairKey(pair), pair]));
    const serverIds = [...new Set(requests.flatMap((r) => [r.ids.serverAId, r.ids.serverBId]))];
    const servers = new Map((await serversWithFingerprints(tx, serverIds)).map((server) => [server.id, server]));
    const outcomes: Settled<PeerTrust>[] = [];
    const changes: Change[] = [];
    for (const [index, request] of requests.entries()) {
      try {
        const pair = pairs.get(pairKey(request.ids));
        const checked = allowedChange(scope, request, pair, servers);
        if (checked.decision.outcome === 'unchanged') outcomes[index] = { ok: true, value: checked.pair };
        else changes.push({ index, request, ...checked, decision: checked.decision });
      } catch (error) {
        outcomes[index] = { ok: false, error };
      }
    }
    if (!changes.length) return outcomes;

    const reservation = await reserve(tx, changes.reduce((count, change) => count + change.decision.events.length, 0));
    let first = reservation.first;
    const signed = changes.map((change) => {
      const own = { ...reservation, first };
      first += BigInt(change.decision.events.length);
      const { request, pair, peer } = change;
      const decision = signedDecision({
        decider: { serverId: scope.serverId, key },
        kind: request.kind,
        pair,
        peer: { id: request.peerId, fingerprint: peer.fingerprint },
        verified: request.verified,
        actor: request.actor,
        reservation: own,
        events: change.decision.events,
      });
      return { ...change, ...decision, lastSequence: first - 1n };
    });
    const historyClauses = await appendClauses(scope.db, tx, afterCommit, reservation, signed.flatMap((s) => s.events), { serverId: scope.serverId, key });
    const decisions = signed.map((s) => ({
      peerTrustId: s.pair.id,
      peerId: s.request.peerId,
      kind: s.request.kind,
      fingerprint: s.peer.fingerprint,
      actorId: s.request.actor.id,
      statement: s.statement,
      signature: s.signature,
    }));
    const states = signed.map((s) => ({ id: s.pair.id, ...s.decision.next, lastSequence: String(s.lastSequence) }));
    // One statement: the decisions, their events, the tree and its checkpoint, the new states and the notices.
    const updated = await tx.$queryRaw<PeerTrust[]>`
      WITH "decisions" AS (
        INSERT INTO "TrustDecision" ("id", "peerTrustId", "serverId", "peerId", "kind", "fingerprint", "actorId", "at", "statement", "signature")
        SELECT gen_random_uuid(), d."peerTrustId"::uuid, ${scope.serverId}::uuid, d."peerId"::uuid, d."kind"::"TrustDecisionKind",
               d."fingerprint", d."actorId"::uuid, ${reservation.at}::timestamptz, d."statement", d."signature"
        FROM jsonb_to_recordset(${JSON.stringify(decisions)}::jsonb)
          AS d("peerTrustId" text, "peerId" text, "kind" text, "fingerprint" text, "actorId" text, "statement" text, "signature" text)
      ), ${historyClauses}, "updated" AS (
        UPDATE "PeerTrust" p
        SET "status" = u."status"::"TrustStatus", "acceptedByA" = u."acceptedByA", "acceptedByB" = u."acceptedByB",
            "updatedAt" = ${reservation.at}::timestamptz, "lastSequence" = u."lastSequence"
        FROM jsonb_to_recordset(${JSON.stringify(states)}::jsonb)
          AS u("id" text, "status" text, "acceptedByA" boolean, "acceptedByB" boolean, "lastSequence" bigint)
        WHERE p."id" = u."id"::uuid
        RETURNING p.*
      )
      SELECT "updated".*, ${peerTrustChangedNotices(signed.map((s) => ({ ...s.pair, sequence: s.lastSequence })))} AS "notified" FROM "updated"`;
    for (const change of signed) {
      const row = updated.find((u) => u.id === change.pair.id);
      if (!row) throw new Error(`the pair ${change.pair.id} was not updated`);
      outcomes[change.index] = { ok: true, value: row };
    }
    return outcomes;
  }, { maxWait });
}

/** The rules, on the locked pair and its servers as read now: the decision, or why it is refused. */
function allowedChange(scope: ServerScope, request: Request, pair: PeerTrust | undefined, servers: Map<string, ServerFacts>) {
  const { kind, ids, peerId, verified } = request;
  const self = servers.get(scope.serverId);
  const peer = servers.get(peerId);
  if (!pair) {
    // A server decommissioned before this one registered was never its peer (servers.ts).
    if (peer?.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(peer.name, false, true);
    throw new NotFoundError('server', request.peerIdInput);
  }
  if (!self || !peer) throw new Error(`the pair ${pair.id} names a server that is not registered`);
  if (self.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(self.name, true);
  if (verified !== undefined && verified !== peer.fingerprint) {
    throw new FingerprintMismatchError(peer.name, peer.fingerprint, verified);
  }
  if (kind === 'ACCEPT' && peer.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(peer.name, false);
  // Decided on the state the signed history gives, never on one changed behind it.
  if (!request.caughtUp && Number(pair.lastSequence) > scope.ledger.size) throw new LedgerBehind(Number(pair.lastSequence));
  const verdict = scope.ledger.verdictNow(pair, peer);
  if (!verdict.verified) throw new UnverifiedTrustError(peer.name, verdict.reason);

  const decision = decide(pair, ids.serverAId === scope.serverId ? 'A' : 'B', kind);
  if (decision.outcome === 'denied') {
    const deniedBy = scope.ledger.deniedBy(pair.id);
    throw new TrustDeniedError(peer.name, deniedBy === scope.serverId ? 'this server' : deniedBy === peerId ? 'the peer' : undefined);
  }
  return { pair, peer, decision };
}

/**
 * A decision as the deciding server signs it: its statement (what the administrator
 * decided, about which key, when, at which place in the history), the signature, and
 * the events it appends.
 */
export function signedDecision(input: {
  decider: { serverId: string; key: RootKeyPair };
  kind: TrustDecisionKind;
  pair: { id: string; serverAId: string; serverBId: string };
  peer: { id: string; fingerprint: string };
  /** The fingerprint the administrator verified; a revoke verifies none. */
  verified: string | undefined;
  actor: Actor;
  reservation: Reservation;
  events: TrustEventKind[];
}): { statement: string; signature: string; events: NewEvent[] } {
  const { decider, peer, reservation } = input;
  const statement = canonical(DecisionStatement, {
    type: 'peertrust/decision/v1',
    kind: input.kind,
    pair: input.pair.id,
    decider: { server: decider.serverId, fingerprint: decider.key.fingerprint },
    subject: { server: peer.id, fingerprint: input.verified ?? peer.fingerprint },
    administrator: { user: input.actor.id, name: input.actor.name },
    time: reservation.at.toISOString(),
    sequence: Number(reservation.first),
  });
  const signature = signStatement(statement, decider.key.privateKey);
  const events = input.events.map((event) => ({
    kind: event,
    pair: input.pair,
    serverId: decider.serverId,
    actorId: input.actor.id,
    fingerprints: event === 'TRUST_ENABLED' ? [decider.key.fingerprint, peer.fingerprint] : [peer.fingerprint],
    statement,
    signatures: [{ fingerprint: decider.key.fingerprint, signature }],
  }));
  return { statement, signature, events };
}
