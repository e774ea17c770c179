// The same trust service on PostgreSQL, where transactions really run in parallel.
// Runs when TEST_DATABASE_URL is set (.ci/run sets it); each test on its own database.
import { describe, expect, test } from 'vitest';
import type { OperationResult } from '@urql/core';
import {
  ApproveTrustDocument,
  type ApproveTrustMutation,
  DenyTrustDocument,
  PeerTrustDocument,
  TrustApprovalRequiredDocument,
  TrustHistoryDocument,
} from '../client/index.js';
import { notifyPeerTrustChanged } from '../src/db/events.js';
import { bearer, postGraphQL, request, run, startCluster, subscribe, testDatabaseUrl, type TestServer } from './helpers.js';
import { waitForLockWaiters } from './stall.js';

if (!testDatabaseUrl) {
  console.warn('PostgreSQL suite SKIPPED: set TEST_DATABASE_URL=postgresql://... to run it.');
}

const approve = (on: TestServer, peer: TestServer) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.approveTrust.__typename);
const deny = (on: TestServer, peer: TestServer) =>
  run(on.admin, DenyTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.denyTrust.__typename);
const kinds = async (on: TestServer, peer: TestServer) =>
  (await run(on.reader, TrustHistoryDocument, { peerId: peer.id, first: 200 })).trustHistory.edges.map((e) => e.node.kind);

describe.skipIf(!testDatabaseUrl)('PostgreSQL (TEST_DATABASE_URL)', () => {
  test('the workflow, with notices delivered through LISTEN/NOTIFY', async () => {
    const cluster = await startCluster(['alpha', 'bravo'], { postgres: true });
    const [alpha, bravo] = cluster.servers;
    const notices = subscribe(alpha!.reader, TrustApprovalRequiredDocument, {});
    expect((await notices.next()).data?.trustApprovalRequired.peerTrust.peer.name).toBe('bravo');
    const charlie = await cluster.addServer('charlie');
    expect((await notices.next()).data?.trustApprovalRequired.peerTrust.peer.id).toBe(charlie.id);

    expect(await approve(alpha!, bravo!)).toBe('ApproveTrustSuccess');
    expect(await approve(bravo!, alpha!)).toBe('ApproveTrustSuccess');
    expect((await run(alpha!.reader, PeerTrustDocument, { peerId: bravo!.id })).peerTrust?.status).toBe('TRUSTED');
    expect(await kinds(alpha!, bravo!)).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']);
  });

  test('a rolled-back change sends no notice; a committed one does', async () => {
    const { db } = await startCluster(['alpha'], { postgres: true });
    const seen: string[] = [];
    db.changes.on('notice', (notice) => {
      if (notice.kind === 'peerTrustChanged') seen.push(notice.peerTrustId);
    });
    await db.prisma
      .$transaction(async (tx) => {
        await notifyPeerTrustChanged(tx, [{ id: 'rolled-back', serverAId: 'a', serverBId: 'b' }]);
        throw new Error('roll back');
      })
      .catch(() => {});
    await db.prisma.$transaction((tx) => notifyPeerTrustChanged(tx, [{ id: 'committed', serverAId: 'a', serverBId: 'b' }]));
    await expect.poll(() => seen).toEqual(['committed']);
  });

  test('parallel decisions on many pairs end consistent, one event per change (rule 5)', async () => {
    const { servers } = await startCluster(['s1', 's2', 's3', 's4', 's5'], { postgres: true });
    const pairs = servers.flatMap((a, i) => servers.slice(i + 1).map((b) => [a, b] as const));
    const started = performance.now();
    const operations = pairs.flatMap(([a, b], index) =>
      Array.from({ length: 8 }, (_, i) =>
        // Even pairs: both sides approve at once. Odd pairs: approve races deny.
        index % 2 === 0 ? (i % 2 ? approve(a, b) : approve(b, a)) : i % 4 === 0 ? deny(b, a) : approve(a, b),
      ),
    );
    const results = await Promise.all(operations);
    const elapsed = performance.now() - started;
    const allowed = ['ApproveTrustSuccess', 'DenyTrustSuccess', 'TrustDeniedError'];
    expect(results.filter((result) => !allowed.includes(result))).toEqual([]);
    for (const [index, [a, b]] of pairs.entries()) {
      const history = await kinds(a, b);
      const state = (await run(a.reader, PeerTrustDocument, { peerId: b.id })).peerTrust?.status;
      if (index % 2 === 0) {
        expect(state).toBe('TRUSTED');
        expect(history).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']);
      } else {
        expect(state).toBe('DENIED');
        expect(history.filter((k) => k === 'TRUST_DENIED')).toHaveLength(1);
        expect(history.at(-1)).toBe('TRUST_DENIED');
        expect(history.filter((k) => k === 'TRUST_APPROVED').length).toBeLessThanOrEqual(1);
      }
    }
    console.info(`PostgreSQL: ${operations.length} parallel decisions on ${pairs.length} pairs in ${Math.round(elapsed)} ms`);
  });

  test('a burst of decisions waits its turn beyond the connect limit; past the wait, decisions and requests are SERVER_BUSY (503)', async () => {
    // 3 connections: the test holds the pair's lock on one; this server's decisions take one at a time.
    const { db, databaseUrl, servers, adminToken } = await startCluster(['alpha', 'bravo'], { postgres: true, pool: { size: 3, waitMs: 10_000 } });
    const [alpha, bravo] = servers;
    /** A connection the test holds for `ms` (with every pair locked, or not), once it holds it: `held` ends with it. */
    const holdConnection = async (ms: number, what: 'pairs locked' | 'idle') => {
      let taken!: () => void;
      const acquired = new Promise<void>((resolve) => (taken = resolve));
      const held = db.prisma.$transaction(
        async (tx) => {
          if (what === 'pairs locked') await tx.$executeRaw`SELECT 1 FROM "PeerTrust" FOR UPDATE`;
          else await tx.$executeRaw`SELECT 1`;
          taken();
          await new Promise((resolve) => setTimeout(resolve, ms));
        },
        { timeout: ms + 10_000 },
      );
      await acquired;
      return { held };
    };
    const outcome = (result: OperationResult<ApproveTrustMutation>) =>
      result.data?.approveTrust.__typename ?? String(result.error?.graphQLErrors[0]?.extensions['code'] ?? result.error?.message);
    const approveAll = (count: number) =>
      Promise.all(
        Array.from({ length: count }, () =>
          request(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } }).then(outcome),
        ),
      );

    // Held for 6 s: longer than a connection may take to open (5 s), well within the wait (10 s).
    let started = performance.now();
    const { held: lock } = await holdConnection(6_000, 'pairs locked');
    const queued = await approveAll(10);
    await lock;
    expect(queued).toEqual(Array(10).fill('ApproveTrustSuccess'));
    expect(performance.now() - started).toBeGreaterThan(5_000);

    // Held for 12 s, and the last free connection taken too: the decision whose turn it is
    // waits for the lock; those behind it, and a request that needs a connection, are
    // told so after 10 s.
    started = performance.now();
    const held = await Promise.all([holdConnection(12_000, 'pairs locked'), holdConnection(12_000, 'idle')]);
    const [outcomes, raw] = await Promise.all([
      approveAll(5),
      // Sent once the first decision took the last connection (it waits for the pair's lock), so it queues for sure: the HTTP status.
      // Asked on a connection of its own: the pool is all taken.
      waitForLockWaiters(databaseUrl, 1).then(() => postGraphQL(alpha!.app.url, { query: '{ servers { edges { node { id } } } }' }, bearer(adminToken))),
    ]);
    await Promise.all(held.map(({ held }) => held));
    const busy = outcomes.filter((o) => o === 'SERVER_BUSY').length;
    expect(busy + outcomes.filter((o) => o === 'ApproveTrustSuccess').length).toBe(5);
    expect(busy).toBe(4);
    expect(raw.status).toBe(503);
    expect((await raw.json()).errors[0]).toMatchObject({ extensions: { code: 'SERVER_BUSY' }, message: expect.stringMatching(/^server busy: /) });
    console.info(`PostgreSQL: pool of 3, pair locked and pool taken 12 s, wait 10 s: ${busy} of 5 decisions SERVER_BUSY after ${Math.round(performance.now() - started)} ms`);
  });
});
