// Live notices end the moment their subscriber leaves: a cancelled subscription keeps
// no listener and no generator waiting for the next change (issue 8, item 1).
import { EventEmitter } from 'node:events';
import { expect, test } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { Liveness } from '../src/trust/liveness.js';
import { approvalRequests, peerTrustChanges } from '../src/trust/notices.js';
import { feed, MAX_QUEUED } from '../src/trust/stoppable.js';
import { startCluster } from './helpers.js';

/** Settles with `promise`, or fails once it is clear that it waits for something that will not come. */
function settled<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle`)), 5_000)),
  ]);
}

test.each([
  ['peerTrustChanged', peerTrustChanges],
  ['trustApprovalRequired', approvalRequests],
])('%s: return() while waiting for a change ends it at once and removes its listener', async (_name, notices) => {
  const { db, servers: [alpha] } = await startCluster(['alpha']);
  const { scope } = alpha!.app;
  const idle = db.changes.listenerCount('notice');
  const iterator = notices(scope);
  const waiting = iterator.next();
  await expect.poll(() => db.changes.listenerCount('notice')).toBe(idle + 1);
  await settled(iterator.return!(undefined), 'return()');
  expect(await settled(waiting, 'the pending next()')).toEqual({ done: true, value: undefined });
  expect(db.changes.listenerCount('notice')).toBe(idle);
});

test('trustApprovalRequired: return() after the replay, while waiting for new requests, ends it at once', async () => {
  // bravo's registration is a pending approval on alpha.
  const { db, servers: [alpha] } = await startCluster(['alpha', 'bravo']);
  const idle = db.changes.listenerCount('notice');
  const iterator = approvalRequests(alpha!.app.scope);
  expect((await iterator.next()).value).toBeDefined();
  const waiting = iterator.next();
  await settled(iterator.return!(undefined), 'return()');
  expect((await settled(waiting, 'the pending next()')).done).toBe(true);
  expect(db.changes.listenerCount('notice')).toBe(idle);
});

test('subscribers that ask in one turn share one read of the pending approvals; one that asks later has a read of its own', async () => {
  const { db, servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
  // alpha's scope with its pairs' reads counted.
  let reads = 0;
  const prisma = db.prisma.$extends({
    query: {
      peerTrust: {
        findMany: ({ args, query }) => {
          reads++;
          return query(args);
        },
      },
    },
  });
  const scope = { ...alpha!.app.scope, db: { ...alpha!.app.scope.db, prisma: prisma as unknown as typeof db.prisma } };
  const together = [approvalRequests(scope), approvalRequests(scope)];
  const firsts = await Promise.all(together.map((iterator) => iterator.next()));
  const pair = await db.prisma.peerTrust.findFirstOrThrow({ where: { OR: [{ serverAId: bravo!.id }, { serverBId: bravo!.id }] } });
  expect(firsts.map((result) => result.value?.peerTrustId)).toEqual([pair.id, pair.id]);
  expect(reads).toBe(1);
  // Asked after that read began: it may have missed what committed since, so it reads again.
  const later = approvalRequests(scope);
  expect((await later.next()).value?.peerTrustId).toBe(pair.id);
  expect(reads).toBe(2);
  await Promise.all([...together, later].map((iterator) => iterator.return!(undefined)));
});

test('serverStatusChanged: return() while waiting for a change ends it at once', async () => {
  const { servers: [alpha] } = await startCluster(['alpha']);
  const liveness = new Liveness(alpha!.app.scope, 60_000, silentLogger);
  const iterator = liveness.changes();
  const waiting = iterator.next();
  await settled(iterator.return!(undefined), 'return()');
  expect((await settled(waiting, 'the pending next()')).done).toBe(true);
});

test('a feed keeps every event that comes while its reader is busy, in order; a handler that throws ends its own stream only, after what was queued', async () => {
  const emitter = new EventEmitter();
  const bad = feed<[number], number>(emitter, 'n', (push, _fail, n) => {
    if (n === 3) throw new Error('this notice could not be read');
    push(n);
  });
  const good = feed<[number], number>(emitter, 'n', (push, _fail, n) => push(n));
  for (const n of [1, 2, 3, 4]) emitter.emit('n', n);
  expect([await good.next(), await good.next(), await good.next(), await good.next()].map((r) => r.value)).toEqual([1, 2, 3, 4]);
  expect([await bad.next(), await bad.next()].map((r) => r.value)).toEqual([1, 2]);
  await expect(bad.next()).rejects.toThrow('this notice could not be read');
  // The failed feed left; the other still listens.
  expect(emitter.listenerCount('n')).toBe(1);
  await good.return!(undefined);
  expect(emitter.listenerCount('n')).toBe(0);
});

test(`a feed whose reader falls ${MAX_QUEUED} events behind ends with an error, and holds none of them`, async () => {
  const emitter = new EventEmitter();
  const stalled = feed<[number], number>(emitter, 'n', (push, _fail, n) => push(n));
  for (let n = 0; n < MAX_QUEUED; n++) emitter.emit('n', n);
  expect(emitter.listenerCount('n')).toBe(1);
  emitter.emit('n', MAX_QUEUED);
  expect(emitter.listenerCount('n')).toBe(0);
  await expect(stalled.next()).rejects.toThrow(`fell ${MAX_QUEUED} notices behind`);
  expect(await stalled.next()).toEqual({ done: true, value: undefined });
});
