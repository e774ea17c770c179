// Reading trust as one server sees it: which pairs are its own, which side it is on,
// and whether a pair needs this server's administrator.
import type { Prisma, ServerStatus, TrustStatus } from '../db/generated/prisma/client.js';
import { isId, orderedPair, type ServerScope } from './scope.js';

export interface PairRow {
  serverAId: string;
  serverBId: string;
  status: TrustStatus;
  acceptedByA: boolean;
  acceptedByB: boolean;
}

function isThisServerA(scope: ServerScope, pair: PairRow): boolean {
  return pair.serverAId === scope.serverId;
}

export function approvedByThisServer(scope: ServerScope, pair: PairRow): boolean {
  return isThisServerA(scope, pair) ? pair.acceptedByA : pair.acceptedByB;
}

export function approvedByPeer(scope: ServerScope, pair: PairRow): boolean {
  return isThisServerA(scope, pair) ? pair.acceptedByB : pair.acceptedByA;
}

/**
 * Whether this server's administrator is asked to approve: the pair is PENDING, this
 * server has not accepted and the peer is active. REVOKED and DENIED pairs never ask:
 * approving a REVOKED pair again is a deliberate act, not a reminder.
 */
export function approvalRequired(scope: ServerScope, pair: PairWithServers): boolean {
  return pair.status === 'PENDING' && !approvedByThisServer(scope, pair) && peerOf(scope, pair).status === 'ACTIVE';
}

/** Where-clause for this server's pairs. */
function ownPairs(scope: ServerScope): Prisma.PeerTrustWhereInput {
  return { OR: [{ serverAId: scope.serverId }, { serverBId: scope.serverId }] };
}

/** Query arguments for this server's pairs, optionally in some states, oldest first. */
export function peerTrustsOf(scope: ServerScope, statuses?: readonly TrustStatus[] | null) {
  return {
    where: { ...ownPairs(scope), ...(statuses?.length ? { status: { in: [...statuses] } } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  } satisfies Prisma.PeerTrustFindManyArgs;
}

/** Query arguments for this server's pair with one peer (matching nothing for an unknown id). */
export function peerTrustWith(scope: ServerScope, peerId: string) {
  const id = peerId.toLowerCase();
  return { where: isId(id) ? orderedPair(scope.serverId, id) : { serverAId: scope.serverId, serverBId: scope.serverId } };
}

/**
 * Query arguments for the Trust History of this server, or of its pair with one peer,
 * in order. Any peerId given names one pair: one that names no server ("") names none.
 */
export function trustHistoryOf(scope: ServerScope, peerId?: string | null) {
  const peerTrust = peerId === undefined || peerId === null ? ownPairs(scope) : peerTrustWith(scope, peerId).where;
  return { where: { peerTrust }, orderBy: { sequence: 'asc' } } satisfies Prisma.TrustEventFindManyArgs;
}

/** What of its servers a pair needs to decide approvalRequired. */
export const pairWithServers = {
  serverA: { select: { status: true } },
  serverB: { select: { status: true } },
} satisfies Prisma.PeerTrustInclude;

type PairWithServers = PairRow & { serverA: { status: ServerStatus }; serverB: { status: ServerStatus } };

/** The pairs that await this server's approval now. */
export async function pendingApprovals(scope: ServerScope) {
  const pairs = await scope.db.prisma.peerTrust.findMany({
    ...peerTrustsOf(scope, ['PENDING']),
    include: pairWithServers,
  });
  return pairs.filter((pair) => approvalRequired(scope, pair));
}

export function peerOf<T>(scope: ServerScope, pair: PairRow & { serverA: T; serverB: T }): T {
  return isThisServerA(scope, pair) ? pair.serverB : pair.serverA;
}

/** Ids of this server's pairs that changed at or after `since`, oldest change first. */
export async function pairsChangedSince(scope: ServerScope, since: Date): Promise<string[]> {
  const pairs = await scope.db.prisma.peerTrust.findMany({
    where: { ...ownPairs(scope), updatedAt: { gte: since } },
    orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
    select: { id: true },
  });
  return pairs.map((pair) => pair.id);
}
