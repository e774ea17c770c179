// Live notices for one server: which pairs need its administrator, and which of its
// pairs changed. They yield pair ids; the API fetches the current row for each.
import { on } from 'node:events';
import type { PeerTrustChanged } from '../db/events.js';
import { approvalRequired, approvedByPeer, pairWithServers, pendingApprovals } from './peer-trusts.js';
import type { ServerScope } from './scope.js';

/** Every change to one of this server's pairs, committed from now on by any process. */
export async function* peerTrustChanges(scope: ServerScope): AsyncGenerator<string> {
  // Subscribed before the caller reads anything, so nothing committed in between is lost.
  const changes = on(scope.db.changes, 'peerTrustChanged');
  try {
    for await (const [change] of changes as AsyncIterable<[PeerTrustChanged]>) {
      if (change.serverIds.includes(scope.serverId)) yield change.peerTrustId;
    }
  } finally {
    await changes.return?.();
  }
}

/**
 * "Trust approval required": first every pair that needs this server's approval now,
 * then each pair as it comes to need it (a new server registers, a revoked peer asks
 * again) and again when the peer approves this server first.
 */
export async function* approvalRequests(scope: ServerScope): AsyncGenerator<string> {
  const changes = peerTrustChanges(scope);
  // Started now, so that it buffers changes while we read the current state.
  const next = changes.next();
  /** For each pair announced and still waiting: whether the peer had approved then. */
  const announced = new Map<string, boolean>();
  try {
    for (const pair of await pendingApprovals(scope)) {
      announced.set(pair.id, approvedByPeer(scope, pair));
      yield pair.id;
    }
    for (let result = await next; !result.done; result = await changes.next()) {
      const pair = await scope.db.prisma.peerTrust.findUnique({ where: { id: result.value }, include: pairWithServers });
      if (!pair || !approvalRequired(scope, pair)) {
        announced.delete(result.value);
        continue;
      }
      const peerApproved = approvedByPeer(scope, pair);
      if (announced.get(pair.id) === peerApproved) continue;
      announced.set(pair.id, peerApproved);
      yield pair.id;
    }
  } finally {
    await changes.return(undefined);
  }
}
