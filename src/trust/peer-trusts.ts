// Reading trust as one server sees it: which pairs are its own, which side it is on,
// whether a pair needs this server's administrator, and whether its stored state is
// the one the signed history gives (ledger.ts).
import { Prisma, type PeerTrust, type ServerStatus, type TrustStatus } from '../db/generated/prisma/client.js';
import { oncePer } from './once-per.js';
import { isId, orderedPair, type ServerScope } from './scope.js';
import { currentRootKey } from './servers.js';

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

/** A pair as reported: its stored state, or UNVERIFIED when the signed history does not give it. */
export type ReportedTrust = { status: TrustStatus; reason?: undefined } | { status: 'UNVERIFIED'; reason: string };

/**
 * Verdicts given on a row as read: a pair's status, unverifiedReason and
 * approvalRequired ask the same of it, and so does every subscriber of one notice
 * (they share the row, notices.ts readOnce). A row read later is a new object.
 */
const verdictOnce = oncePer<PairWithServers>();

/** The pair's state as this server may report it. */
export function reportedTrust(scope: ServerScope, pair: PairWithServers): Promise<ReportedTrust> {
  return verdictOnce(pair, scope.serverId, () => verify(scope, pair));
}

async function verify(scope: ServerScope, pair: PairWithServers): Promise<ReportedTrust> {
  const peer = peerOf(scope, pair);
  const verdict = await scope.ledger.verdict(pair, { fingerprint: peer.rootKeys[0]?.fingerprint ?? '', status: peer.status });
  return verdict.verified ? { status: pair.status } : { status: 'UNVERIFIED', reason: verdict.reason };
}

/**
 * For a DENIED pair, whether this server denied it, as the signed history says (the
 * verdict read it that far): not the stored events, which a database writer could change.
 */
export async function deniedByThisServer(scope: ServerScope, pair: PairWithServers): Promise<boolean | null> {
  if ((await reportedTrust(scope, pair)).status !== 'DENIED') return null;
  return scope.ledger.deniedBy(pair.id) === scope.serverId;
}

/**
 * Whether this server's administrator is asked to approve: the pair is PENDING (and
 * verified), this server has not accepted and the peer is active. REVOKED and DENIED
 * pairs never ask: approving a REVOKED pair again is a deliberate act, not a reminder.
 */
export async function approvalRequired(scope: ServerScope, pair: PairWithServers): Promise<boolean> {
  return (
    pair.status === 'PENDING' &&
    !approvedByThisServer(scope, pair) &&
    peerOf(scope, pair).status === 'ACTIVE' &&
    (await reportedTrust(scope, pair)).status === 'PENDING'
  );
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

/**
 * Query arguments for this server's pairs whose reported state (UNVERIFIED included) is
 * one of `statuses`: the stored state alone would list a tampered pair as TRUSTED.
 */
async function reportedPeerTrustsOf(scope: ServerScope, statuses?: readonly ReportedTrust['status'][] | null) {
  if (!statuses?.length) return peerTrustsOf(scope);
  const pairs = await scope.db.prisma.peerTrust.findMany({ where: ownPairs(scope), include: pairWithServers });
  const reported = await Promise.all(pairs.map((pair) => reportedTrust(scope, pair)));
  const ids = pairs.filter((_, index) => statuses.includes(reported[index]!.status)).map((pair) => pair.id);
  return { ...peerTrustsOf(scope), where: { id: { in: ids } } } satisfies Prisma.PeerTrustFindManyArgs;
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
  // By the event's own copy of its pair's servers: an index per side, not a join per event.
  const where: Prisma.TrustEventWhereInput =
    peerId === undefined || peerId === null
      ? { OR: [{ serverAId: scope.serverId }, { serverBId: scope.serverId }] }
      : { peerTrust: peerTrustWith(scope, peerId).where };
  return { where, orderBy: { sequence: 'asc' } } satisfies Prisma.TrustEventFindManyArgs;
}

/** A page as Prisma's cursor paging asks for it: after or before `cursor` (itself included unless skip is 1), `take` rows (negative: backwards). */
interface PageArgs {
  cursor?: object;
  skip?: number;
  take?: number;
}

/** A list of this server's rows: its table, its key (the cursor), and its order (the key last). */
interface OwnList {
  table: 'TrustEvent' | 'PeerTrust';
  key: 'sequence' | 'id';
  order: readonly string[];
}

/**
 * The keys of one page of this server's rows of `list`, from one ordered index scan per
 * side of the pair (serverAId, serverBId), merged: a first page costs the same among
 * 1,000 servers and 1M events as among 10. As one query with an OR, the planner reads
 * and sorts every row of the server (and joins each before it limits).
 */
async function ownPageKeys<Key>(scope: ServerScope, list: OwnList, { cursor, skip, take }: PageArgs): Promise<Key[]> {
  const forward = take! >= 0;
  const columns = Prisma.raw(list.order.map((column) => `"${column}"`).join(', '));
  const order = Prisma.raw(list.order.map((column) => `"${column}" ${forward ? 'ASC' : 'DESC'}`).join(', '));
  const from = cursor ? Object.values(cursor)[0] : undefined;
  const comparison = Prisma.raw(forward ? (skip ? '>' : '>=') : skip ? '<' : '<=');
  const table = Prisma.raw(`"${list.table}"`);
  const key = Prisma.raw(`"${list.key}"`);
  const at = list.key === 'id' ? Prisma.sql`${from}::uuid` : Prisma.sql`${from}`;
  // From the cursor's row on, by the whole order (the row's own values, read by its key).
  const bound = from === undefined ? Prisma.empty : Prisma.sql`AND (${columns}) ${comparison} (SELECT ${columns} FROM ${table} WHERE ${key} = ${at})`;
  const limit = Math.abs(take!);
  const side = (column: 'serverAId' | 'serverBId') =>
    Prisma.sql`(SELECT ${columns} FROM ${table} WHERE ${Prisma.raw(`"${column}"`)} = ${scope.serverId}::uuid ${bound} ORDER BY ${order} LIMIT ${limit})`;
  const rows = await scope.db.prisma.$queryRaw<Record<string, Key>[]>`
    SELECT ${key} FROM (${side('serverAId')} UNION ALL ${side('serverBId')}) AS "own" ORDER BY ${order} LIMIT ${limit}`;
  return rows.map((row) => row[list.key]!);
}

/** Whether ownPageKeys reads this page: the pages a connection asks for (from the start or the end, or next to a cursor). */
function keysFirst({ cursor, skip, take }: PageArgs): boolean {
  return take !== undefined && (skip ?? 0) <= (cursor ? 1 : 0);
}

const historyList: OwnList = { table: 'TrustEvent', key: 'sequence', order: ['sequence'] };
const pairList: OwnList = { table: 'PeerTrust', key: 'id', order: ['createdAt', 'id'] };

/** A page of the history as a connection asks for it, with its selection. */
type HistoryPageArgs = Omit<Prisma.TrustEventFindManyArgs, 'where' | 'orderBy'>;

/**
 * One page of this server's history (of one pair's, with `peerId`), with `query`'s
 * selection: the page's sequence numbers first (ownPageKeys), then those events.
 */
export async function trustHistoryPage<Query extends HistoryPageArgs>(scope: ServerScope, query: Query, peerId: string | null) {
  const { prisma } = scope.db;
  const { cursor, skip, take, ...selection } = query;
  if (peerId !== null || !keysFirst(query)) return prisma.trustEvent.findMany({ ...query, ...trustHistoryOf(scope, peerId) });
  const page = await ownPageKeys<bigint>(scope, historyList, { cursor, skip, take });
  return prisma.trustEvent.findMany({ ...selection, where: { sequence: { in: page } }, orderBy: { sequence: 'asc' } });
}

/** A page of pairs as a connection asks for it, with its selection. */
type PairPageArgs = Omit<Prisma.PeerTrustFindManyArgs, 'where' | 'orderBy'>;

/**
 * One page of this server's pairs (in these reported states, with `statuses`), oldest
 * first, with `query`'s selection: without statuses, the page's ids first
 * (ownPageKeys), then those pairs with their servers.
 */
export async function peerTrustsPage<Query extends PairPageArgs>(scope: ServerScope, query: Query, statuses?: readonly ReportedTrust['status'][] | null) {
  const { prisma } = scope.db;
  const { cursor, skip, take, ...selection } = query;
  if (statuses?.length || !keysFirst(query)) return prisma.peerTrust.findMany({ ...query, ...(await reportedPeerTrustsOf(scope, statuses)) });
  const page = await ownPageKeys<string>(scope, pairList, { cursor, skip, take });
  return prisma.peerTrust.findMany({ ...selection, ...peerTrustsOf(scope), where: { id: { in: page } } });
}

/** What of its servers a pair needs: their membership, and their current key to compare with the pinned one. */
const serverFacts = { select: { status: true, rootKeys: { select: { fingerprint: true }, ...currentRootKey } } } as const;
export const pairWithServers = { serverA: serverFacts, serverB: serverFacts } satisfies Prisma.PeerTrustInclude;

type ServerFacts = { status: ServerStatus; rootKeys: { fingerprint: string }[] };
export type PairWithServers = PeerTrust & { serverA: ServerFacts; serverB: ServerFacts };

/** The pairs that await this server's approval now. */
export async function pendingApprovals(scope: ServerScope) {
  const pairs = await scope.db.prisma.peerTrust.findMany({
    ...peerTrustsOf(scope, ['PENDING']),
    include: pairWithServers,
  });
  const required = await Promise.all(pairs.map((pair) => approvalRequired(scope, pair)));
  return pairs.filter((_, index) => required[index]);
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
