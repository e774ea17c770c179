// approveTrust, denyTrust and revokeTrust: one administrator's decision on this server
// about one peer. Each runs in one transaction that locks the pair, applies the rules
// of state-machine.ts to it (after checking it against the signed history), signs the
// decision with this server's root key, and records the decision, its history and its
// notice together.
import type { PeerTrust } from '../db/generated/prisma/client.js';
import type { TrustDecisionKind, TrustEventKind } from '../db/generated/prisma/enums.js';
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
import { appendClauses, reserve, type NewEvent, type Reservation } from './history.js';
import { MAX_CATCH_UPS } from './ledger.js';
import { serversWithFingerprints } from './servers.js';
import { decide } from './state-machine.js';
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
  const ids = orderedPair(scope.serverId, peerId);
  // The decision is checked against the verified history, which must have read as far as
  // the pair's last change. It catches up between transactions, never inside one: a
  // transaction waiting for another connection could starve the pool.
  // Decisions by others may keep moving the pair ahead of this server's history; the
  // history catching up without reaching what the row names means the entry is missing.
  for (let attempt = 1; ; attempt++) {
    try {
      return await decideOnce(scope, actor, kind, ids, peerId, peerIdInput, verified, attempt > MAX_CATCH_UPS);
    } catch (error) {
      if (!(error instanceof LedgerBehind)) throw error;
      await scope.ledger.catchUp();
      if (scope.ledger.size < error.needed) return decideOnce(scope, actor, kind, ids, peerId, peerIdInput, verified, true);
    }
  }
}

/** The verified history has not read the pair's last change yet. */
class LedgerBehind extends Error {
  constructor(readonly needed: number) {
    super(`the verified history has not read entry ${needed} yet`);
  }
}

function decideOnce(
  scope: ServerScope,
  actor: Actor,
  kind: Exclude<TrustDecisionKind, 'DECOMMISSION'>,
  ids: { serverAId: string; serverBId: string },
  peerId: string,
  peerIdInput: string,
  verified: string | undefined,
  caughtUp: boolean,
): Promise<PeerTrust> {
  return inTransaction(scope.db, async (tx, afterCommit) => {
    // The pair's row lock orders decisions on it, and orders them against a decommission,
    // which takes it too. The servers are read after it is held: each statement sees
    // what committed before it started, so a decommission cannot slip in unseen.
    const [pair] = await tx.$queryRaw<PeerTrust[]>`
      SELECT * FROM "PeerTrust" WHERE "serverAId" = ${ids.serverAId}::uuid AND "serverBId" = ${ids.serverBId}::uuid FOR UPDATE`;
    if (!pair) throw new NotFoundError('server', peerIdInput);
    const servers = await serversWithFingerprints(tx, [ids.serverAId, ids.serverBId]);
    const self = servers.find((s) => s.id === scope.serverId);
    const peer = servers.find((s) => s.id === peerId);
    if (!self || !peer) throw new Error(`the pair ${pair.id} names a server that is not registered`);
    if (self.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(self.name, true);
    if (verified !== undefined && verified !== peer.fingerprint) {
      throw new FingerprintMismatchError(peer.name, peer.fingerprint, verified);
    }
    if (kind === 'ACCEPT' && peer.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(peer.name, false);
    // Decided on the state the signed history gives, never on one changed behind it.
    if (!caughtUp && Number(pair.lastSequence) > scope.ledger.size) throw new LedgerBehind(Number(pair.lastSequence));
    const verdict = scope.ledger.verdictNow(pair, peer);
    if (!verdict.verified) throw new UnverifiedTrustError(peer.name, verdict.reason);

    const decision = decide(pair, ids.serverAId === scope.serverId ? 'A' : 'B', kind);
    if (decision.outcome === 'denied') throw new TrustDeniedError(peer.name);
    if (decision.outcome === 'unchanged') return pair;

    const key = scope.identity.key;
    const reservation = await reserve(tx, decision.events.length);
    const { statement, signature, events } = signedDecision({
      decider: { serverId: scope.serverId, key },
      kind,
      pair,
      peer: { id: peerId, fingerprint: peer.fingerprint },
      verified,
      actor,
      reservation,
      events: decision.events,
    });
    const appended = await appendClauses(scope.db, tx, afterCommit, reservation, events, { serverId: scope.serverId, key });
    const { next } = decision;
    const lastSequence = reservation.first + BigInt(events.length - 1);
    // One statement: the decision, its events, the tree and its checkpoint, the new state and the notice.
    const [updated] = await tx.$queryRaw<PeerTrust[]>`
      WITH "decision" AS (
        INSERT INTO "TrustDecision" ("id", "peerTrustId", "serverId", "peerId", "kind", "fingerprint", "actorId", "at", "statement", "signature")
        VALUES (gen_random_uuid(), ${pair.id}::uuid, ${scope.serverId}::uuid, ${peerId}::uuid, ${kind}::"TrustDecisionKind",
                ${peer.fingerprint}, ${actor.id}::uuid, ${reservation.at}::timestamptz, ${statement}, ${signature})
      ), ${appended}, "updated" AS (
        UPDATE "PeerTrust"
        SET "status" = ${next.status}::"TrustStatus", "acceptedByA" = ${next.acceptedByA}, "acceptedByB" = ${next.acceptedByB},
            "updatedAt" = ${reservation.at}::timestamptz, "lastSequence" = ${lastSequence}
        WHERE "id" = ${pair.id}::uuid
        RETURNING *
      )
      SELECT "updated".*, ${peerTrustChangedNotices([pair])} AS "notified" FROM "updated"`;
    return updated!;
  });
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
