// approveTrust, denyTrust and revokeTrust: one administrator's decision on this server
// about one peer. Each runs in one transaction that locks the pair, applies the rules
// of state-machine.ts, and appends the decision, the history and the change notice.
import type { TrustDecisionKind, TrustEventKind } from '../db/generated/prisma/enums.js';
import { notifyPeerTrustChanged } from '../db/events.js';
import { canonicalFingerprint } from '../identity/fingerprint.js';
import {
  FingerprintMismatchError,
  InvalidFingerprintError,
  NotFoundError,
  ServerDecommissionedError,
  TrustDeniedError,
} from './errors.js';
import { decide } from './state-machine.js';
import { currentRootKey } from './servers.js';
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
) {
  const peerId = peerIdFor(scope, peerIdInput);
  let verified: string | undefined;
  if (fingerprintInput !== undefined) {
    verified = canonicalFingerprint(fingerprintInput);
    if (!verified) throw new InvalidFingerprintError(fingerprintInput);
  }
  const ids = orderedPair(scope.serverId, peerId);
  return inTransaction(scope.db, async (tx) => {
    // Shared locks on both servers keep a decommission from slipping in between our
    // checks and our write; the pair's row lock orders decisions on the same pair.
    await tx.$executeRaw`SELECT 1 FROM "Server" WHERE "id" IN (${ids.serverAId}::uuid, ${ids.serverBId}::uuid) ORDER BY "id" FOR SHARE`;
    const servers = await tx.server.findMany({
      where: { id: { in: [ids.serverAId, ids.serverBId] } },
      include: { rootKeys: currentRootKey },
    });
    const self = servers.find((s) => s.id === scope.serverId);
    const peer = servers.find((s) => s.id === peerId);
    if (!peer) throw new NotFoundError('server', peerIdInput);
    if (!self) throw new Error(`this server ${scope.serverId} is not registered`);
    const peerFingerprint = peer.rootKeys[0]?.fingerprint ?? '';
    const selfFingerprint = self.rootKeys[0]?.fingerprint ?? '';
    if (verified !== undefined && verified !== peerFingerprint) {
      throw new FingerprintMismatchError(peer.name, peerFingerprint, verified);
    }
    if (kind === 'ACCEPT' && self.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(self.name, true);
    if (kind === 'ACCEPT' && peer.status === 'DECOMMISSIONED') throw new ServerDecommissionedError(peer.name, false);

    await tx.$executeRaw`SELECT 1 FROM "PeerTrust" WHERE "serverAId" = ${ids.serverAId}::uuid AND "serverBId" = ${ids.serverBId}::uuid FOR UPDATE`;
    const pair = await tx.peerTrust.findUniqueOrThrow({ where: { serverAId_serverBId: ids } });
    const side = ids.serverAId === scope.serverId ? 'A' : 'B';
    const decision = decide(pair, side, kind);
    if (decision.outcome === 'denied') throw new TrustDeniedError(peer.name);
    if (decision.outcome === 'unchanged') return pair;

    const now = new Date();
    const updated = await tx.peerTrust.update({ where: { id: pair.id }, data: { ...decision.next, updatedAt: now } });
    await tx.trustDecision.create({
      data: { kind, at: now, peerTrustId: pair.id, serverId: scope.serverId, peerId, fingerprint: peerFingerprint, actorId: actor.id },
    });
    const fingerprintsOf = (event: TrustEventKind) =>
      event === 'TRUST_ENABLED' ? [selfFingerprint, peerFingerprint] : [peerFingerprint];
    // One insert each: the history's order is the order of its ids.
    for (const event of decision.events) {
      await tx.trustEvent.create({
        data: {
          kind: event,
          at: now,
          peerTrustId: pair.id,
          serverId: scope.serverId,
          actorId: actor.id,
          fingerprints: fingerprintsOf(event),
        },
      });
    }
    await notifyPeerTrustChanged(tx, pair);
    return updated;
  });
}
