// Live notices for one server: which pairs need its administrator, and which of its
// pairs changed. They yield notices naming a pair; the API reads the pair once per
// notice for all its subscribers (readOnce), not once per subscriber.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FeedNotice } from '../db/events.js';
import { approvalRequired, pairsChangedSince, pairWithServers, pendingApprovals, trustHistoryOf } from './peer-trusts.js';
import type { ServerScope } from './scope.js';
import { oncePer, type OncePer } from './once-per.js';
import { eventsOf, feed, stoppable } from './stoppable.js';

/**
 * After LISTEN was lost, pairs changed this long before it was last known to work are
 * sent again too: a change is stamped (on the database's clock) just before its
 * transaction commits, and a transaction may take up to 20 s.
 */
const RESYNC_MARGIN_MS = 30_000;

/**
 * A notice about one pair. The one a committed change brings is one object for every
 * subscriber in the process: what they read of it is read once (readOnce).
 */
export interface PairNotice {
  peerTrustId: string;
}

/**
 * Reads what a notice is about once for every subscriber that asks the same (the key
 * says what is read): one change to 1,000 subscribers is one query, not 1,000, and
 * every subscriber sees the pair in the same state.
 */
export const readOnce: OncePer<PairNotice> = oncePer();

/**
 * The approval request a change brings: an object of its own, one for every subscriber.
 * Its pair is read when it is sent, which is after the approval feed read it; the
 * change's own notice may have been read before, by peerTrustChanged's subscribers, in
 * a state that is past by then (a revoke, where the request is for the round after it).
 */
const approvalRequestFor = new WeakMap<PairNotice, PairNotice>();
function approvalRequest(notice: PairNotice): PairNotice {
  let request = approvalRequestFor.get(notice);
  if (!request) approvalRequestFor.set(notice, (request = { peerTrustId: notice.peerTrustId }));
  return request;
}

/** A pair that needs this server's approval now: the notice its subscribers share, and its last change. */
interface PendingRequest {
  notice: PairNotice;
  lastSequence: bigint;
}

/**
 * The pairs that need this server's approval now, read once for every subscriber that
 * asks in the same turn of the event loop (a console reconnecting its tabs, a flood of
 * subscribes): the read starts after the last of them asked, once each listens, so none
 * misses a change. They share its notice objects, so what they read of each pair is read
 * once too (readOnce), and so is their answer (src/http/shared-events.ts).
 */
const pendingReads = new WeakMap<ServerScope, Promise<PendingRequest[]>>();
function pendingRequests(scope: ServerScope): Promise<PendingRequest[]> {
  let read = pendingReads.get(scope);
  if (!read) {
    read = new Promise((resolve) => setImmediate(resolve)).then(async () => {
      // Whoever asks from now on needs a read of its own, started after it asked.
      pendingReads.delete(scope);
      return (await pendingApprovals(scope)).map((pair) => ({ notice: { peerTrustId: pair.id }, lastSequence: pair.lastSequence }));
    });
    pendingReads.set(scope, read);
  }
  return read;
}

type ServerNotice = { kind: 'changed'; notice: PairNotice } | { kind: 'resync'; since: Date };

/** This server's share of the change feed, from now on, until `signal` aborts. */
async function* noticesFor(scope: ServerScope, signal: AbortSignal): AsyncGenerator<ServerNotice> {
  // Subscribed before the caller reads anything, so nothing committed in between is lost.
  for await (const [notice] of eventsOf<[FeedNotice]>(scope.db.changes, 'notice', signal)) {
    if (notice.kind === 'resync') yield notice;
    else if (notice.kind === 'peerTrustChanged' && notice.serverIds.includes(scope.serverId)) yield { kind: 'changed', notice };
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
export function peerTrustChanges(scope: ServerScope): AsyncIterableIterator<PairNotice> {
  return feed<[FeedNotice], PairNotice>(scope.db.changes, 'notice', (push, fail, notice) => {
    if (notice.kind === 'peerTrustChanged') {
      if (notice.serverIds.includes(scope.serverId)) push(notice);
    } else if (notice.kind === 'resync') {
      pairsChangedAround(scope, notice).then((notices) => notices.forEach(push), fail);
    }
  });
}

/**
 * The pairs of `scope`'s server changed around and since a lost LISTEN connection: read
 * once for all its subscribers, as one notice object per pair that they share, like a
 * committed change's.
 */
const resyncReads = oncePer<FeedNotice>();
function pairsChangedAround(scope: ServerScope, resync: FeedNotice & { kind: 'resync' }): Promise<PairNotice[]> {
  const since = new Date(resync.since.getTime() - RESYNC_MARGIN_MS);
  return resyncReads(resync, scope.serverId, async () => (await readRetrying(() => pairsChangedSince(scope, since))).map((peerTrustId) => ({ peerTrustId })));
}

/**
 * "Trust approval required": first every pair that needs this server's approval now,
 * then each pair as it comes to need it (a new server registers, a revoked peer asks
 * again), and again at each change while it needs it (the peer approves this server
 * first, a new round, a new key). After a lost LISTEN connection, every pair that needs
 * approval is sent again: one may have come to.
 */
export function approvalRequests(scope: ServerScope): AsyncIterableIterator<PairNotice> {
  return stoppable((signal) => approvalRequestsUntil(scope, signal));
}

async function* approvalRequestsUntil(scope: ServerScope, signal: AbortSignal): AsyncGenerator<PairNotice> {
  const notices = noticesFor(scope, signal);
  // Started now, so that it buffers changes while we read the current state.
  const next = notices.next();
  // A subscriber that leaves while the current state is read rejects it before it is awaited.
  next.catch(() => {});
  /**
   * For each pair announced and still waiting: its last change then. A pair is read when
   * its notice is handled, which may be after later changes: comparing what the peer had
   * approved would miss a revoke and a new round in between, and the ask they make.
   */
  const announced = new Map<string, bigint>();
  async function* announcePending() {
    announced.clear();
    for (const { notice, lastSequence } of await readRetrying(() => pendingRequests(scope))) {
      announced.set(notice.peerTrustId, lastSequence);
      yield notice;
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
      const { peerTrustId } = notice.notice;
      const pair = await readRetrying(() =>
        readOnce(notice.notice, 'approval', () => scope.db.prisma.peerTrust.findUnique({ where: { id: peerTrustId }, include: pairWithServers })),
      );
      if (!pair || !(await approvalRequired(scope, pair))) {
        announced.delete(peerTrustId);
        continue;
      }
      if (announced.get(pair.id) === pair.lastSequence) continue;
      announced.set(pair.id, pair.lastSequence);
      yield approvalRequest(notice.notice);
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
