// Live notices for one server: which pairs need its administrator, and which of its
// pairs changed. They yield pair ids; the API fetches the current row for each.
import { on } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FeedNotice } from '../db/events.js';
import { approvalRequired, approvedByPeer, pairsChangedSince, pairWithServers, pendingApprovals, trustHistoryOf } from './peer-trusts.js';
import type { ServerScope } from './scope.js';
import { stoppable } from './stoppable.js';

/**
 * After LISTEN was lost, pairs changed this long before it was last known to work are
 * sent again too: a change is stamped (on the database's clock) just before its
 * transaction commits, and a transaction may take up to 20 s.
 */
const RESYNC_MARGIN_MS = 30_000;

type ServerNotice = { kind: 'changed'; peerTrustId: string } | { kind: 'resync'; since: Date };

/** This server's share of the change feed, from now on, until `signal` aborts. */
async function* noticesFor(scope: ServerScope, signal: AbortSignal): AsyncGenerator<ServerNotice> {
  // Subscribed before the caller reads anything, so nothing committed in between is lost.
  const notices = on(scope.db.changes, 'notice', { signal });
  try {
    for await (const [notice] of notices as AsyncIterable<[FeedNotice]>) {
      if (notice.kind === 'resync') yield notice;
      else if (notice.kind === 'peerTrustChanged' && notice.serverIds.includes(scope.serverId)) {
        yield { kind: 'changed', peerTrustId: notice.peerTrustId };
      }
    }
  } finally {
    await notices.return?.();
  }
}

/**
 * A read for a subscriber (its first, or right after the database came back) may meet
 * a connection that died with the database: it is tried again for a few seconds
 * rather than ending the subscriber's stream.
 */
async function readRetrying<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(500);
    }
  }
}

/**
 * Every change to one of this server's pairs, committed from now on by any process.
 * After a lost LISTEN connection, every pair changed around and since the loss.
 */
export function peerTrustChanges(scope: ServerScope): AsyncIterableIterator<string> {
  return stoppable(async function* (signal) {
    for await (const notice of noticesFor(scope, signal)) {
      if (notice.kind === 'changed') {
        yield notice.peerTrustId;
      } else {
        const since = new Date(notice.since.getTime() - RESYNC_MARGIN_MS);
        yield* await readRetrying(() => pairsChangedSince(scope, since));
      }
    }
  });
}

/**
 * "Trust approval required": first every pair that needs this server's approval now,
 * then each pair as it comes to need it (a new server registers, a revoked peer asks
 * again) and again when the peer approves this server first. After a lost LISTEN
 * connection, every pair that needs approval is sent again: one may have come to.
 */
export function approvalRequests(scope: ServerScope): AsyncIterableIterator<string> {
  return stoppable((signal) => approvalRequestsUntil(scope, signal));
}

async function* approvalRequestsUntil(scope: ServerScope, signal: AbortSignal): AsyncGenerator<string> {
  const notices = noticesFor(scope, signal);
  // Started now, so that it buffers changes while we read the current state.
  const next = notices.next();
  // A subscriber that leaves while the current state is read rejects it before it is awaited.
  next.catch(() => {});
  /** For each pair announced and still waiting: whether the peer had approved then. */
  const announced = new Map<string, boolean>();
  async function* announcePending() {
    announced.clear();
    for (const pair of await readRetrying(() => pendingApprovals(scope))) {
      announced.set(pair.id, approvedByPeer(scope, pair));
      yield pair.id;
    }
  }
  try {
    yield* announcePending();
    for (let result = await next; !result.done; result = await notices.next()) {
      const notice = result.value;
      if (notice.kind === 'resync') {
        yield* announcePending();
        continue;
      }
      const pair = await scope.db.prisma.peerTrust.findUnique({ where: { id: notice.peerTrustId }, include: pairWithServers });
      if (!pair || !(await approvalRequired(scope, pair))) {
        announced.delete(notice.peerTrustId);
        continue;
      }
      const peerApproved = approvedByPeer(scope, pair);
      if (announced.get(pair.id) === peerApproved) continue;
      announced.set(pair.id, peerApproved);
      yield pair.id;
    }
  } finally {
    await notices.return(undefined);
  }
}

/** Events a resumed stream reads at a time. */
const EVENT_PAGE = 200;

/**
 * The Trust History of this server's pairs (of one, with `peerId`) after sequence
 * `after`: first what was committed, then each event as it commits, each once, in
 * order. Sequence numbers follow commit order, so reading on from the last one sent
 * never skips one; a client that reconnects (to this server or another) passes the
 * last sequence it got and misses nothing and gets nothing twice.
 */
export function trustEvents(scope: ServerScope, after: number, peerId?: string | null): AsyncIterableIterator<bigint> {
  return stoppable(async function* (signal) {
    // Listening before the first read, so that nothing committed in between is lost.
    const notices = noticesFor(scope, signal);
    const next = notices.next();
    next.catch(() => {});
    let cursor = BigInt(after);
    const where = trustHistoryOf(scope, peerId).where;
    try {
      for (let waiting: Promise<unknown> = next; ; waiting = notices.next()) {
        for (;;) {
          const page = await readRetrying(() =>
            scope.db.prisma.trustEvent.findMany({ where: { ...where, sequence: { gt: cursor } }, orderBy: { sequence: 'asc' }, take: EVENT_PAGE, select: { sequence: true } }),
          );
          for (const { sequence } of page) {
            cursor = sequence;
            yield sequence;
          }
          if (page.length < EVENT_PAGE) break;
        }
        if ((await waiting as IteratorResult<unknown>).done) return;
      }
    } finally {
      await notices.return(undefined);
    }
  });
}
