// approveTrust, denyTrust and revokeTrust: one administrator's decision on this server
// about one peer. Each runs in one transaction that locks the pair, applies the rules
// of state-machine.ts, and records the decision, its history and its notice together.
import type { PeerTrust } from '../db/generated/prisma/client.js';
import type { TrustDecisionKind, TrustEventKind } from '../db/generated/prisma/enums.js';
import { peerTrustChangedNotices } from '../db/events.js';
import { canonicalFingerprint } from '../identity/fingerprint.js';
import {
  FingerprintMismatchError,
  InvalidFingerprintError,
  NotFoundError,
  ServerDecommissionedError,
  TrustDeniedError,
} from './errors.js';
import { insertEvents, reserve } from './history.js';
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
  kind: TrustDecisionKind,
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
  return inTransaction(scope.db, async (tx) => {
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

    const decision = decide(pair, ids.serverAId === scope.serverId ? 'A' : 'B', kind);
    if (decision.outcome === 'denied') throw new TrustDeniedError(peer.name);
    if (decision.outcome === 'unchanged') return pair;

    const fingerprintsOf = (event: TrustEventKind) =>
      event === 'TRUST_ENABLED' ? [self.fingerprint, peer.fingerprint] : [peer.fingerprint];
    const events = decision.events.map((event) => ({
      kind: event,
      peerTrustId: pair.id,
      serverId: scope.serverId,
      actorId: actor.id,
      fingerprints: fingerprintsOf(event),
    }));
    const reservation = await reserve(tx, events.length);
    const { next } = decision;
    // One statement: the decision, its events, the new state and the notice.
    const [updated] = await tx.$queryRaw<PeerTrust[]>`
      WITH "decision" AS (
        INSERT INTO "TrustDecision" ("id", "peerTrustId", "serverId", "peerId", "kind", "fingerprint", "actorId", "at")
        VALUES (gen_random_uuid(), ${pair.id}::uuid, ${scope.serverId}::uuid, ${peerId}::uuid, ${kind}::"TrustDecisionKind",
                ${peer.fingerprint}, ${actor.id}::uuid, ${reservation.at}::timestamptz)
      ), "events" AS (${insertEvents(reservation, events)}
      ), "updated" AS (
        UPDATE "PeerTrust"
        SET "status" = ${next.status}::"TrustStatus", "acceptedByA" = ${next.acceptedByA}, "acceptedByB" = ${next.acceptedByB},
            "updatedAt" = ${reservation.at}::timestamptz
        WHERE "id" = ${pair.id}::uuid
        RETURNING *
      )
      SELECT "updated".*, ${peerTrustChangedNotices([pair])} AS "notified" FROM "updated"`;
    return updated!;
  });
}
