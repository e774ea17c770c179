// The Trust History is in commit order: a client paging it with `after` while others
// commit decisions sees every event exactly once, and never skips one that committed
// late with a smaller number.
import { expect, test } from 'vitest';
import { ApproveTrustDocument, TrustHistoryDocument, type PeertrustClient } from '../client/index.js';
import { adminToken, clientOf, decideThrough, serveAll, sql } from './ha-helpers.js';
import { freshDatabaseUrl, request, run, startCluster, type TestServer } from './helpers.js';
import { stallWrites, waitForLockWaiters } from './stall.js';

/** Pages a server's history, each call from where the last one stopped. */
function historyReader(client: PeertrustClient) {
  let after: string | undefined;
  return async (): Promise<{ sequences: number[]; hasNextPage: boolean }> => {
    const page = (await run(client, TrustHistoryDocument, { first: 7, ...(after ? { after } : {}) })).trustHistory;
    after = page.pageInfo.endCursor ?? after;
    return { sequences: page.edges.map((edge) => edge.node.sequence), hasNextPage: page.pageInfo.hasNextPage };
  };
}

test('an event that commits after a later-numbered one is not skipped by a reader who read between the two commits', async () => {
  const { db, servers } = await startCluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo, charlie] = servers as [TestServer, TestServer, TestServer];
  // Alpha's decisions stall just before they commit.
  const stalled = await stallWrites(db, 'TrustDecision', 'INSERT', `NEW."serverId" = '${alpha.id}'`);
  const approve = (on: TestServer) => request(on.admin, ApproveTrustDocument, { input: { peerId: charlie.id, fingerprint: charlie.fingerprint } });

  const first = approve(alpha);
  await waitForLockWaiters(db, 1);
  // Bravo decides on another pair while alpha's decision is numbered but not committed:
  // it waits for alpha's commit (commit order), or it commits first (it would be a gap).
  const second = approve(bravo);
  await Promise.race([second, waitForLockWaiters(db, 2)]);
  const readPage = historyReader(charlie.reader);
  const seen = (await readPage()).sequences;
  await stalled.release();
  expect((await first).data?.approveTrust.__typename).toBe('ApproveTrustSuccess');
  expect((await second).data?.approveTrust.__typename).toBe('ApproveTrustSuccess');
  for (let page = await readPage(); ; page = await readPage()) {
    seen.push(...page.sequences);
    if (!page.hasNextPage) break;
  }
  // Both, in the order they committed (the cluster's tokens were recorded before them).
  const approvals = await db.prisma.trustEvent.findMany({ where: { kind: 'TRUST_APPROVED' }, orderBy: { sequence: 'asc' } });
  expect(approvals.map((e) => e.serverId)).toEqual([alpha.id, bravo.id]);
  expect(seen).toEqual(approvals.map((e) => Number(e.sequence)));
});

const ROUNDS = 100;

test('paging the history while three processes commit hundreds of decisions on different pairs finds every event exactly once', async () => {
  const url = await freshDatabaseUrl({ migrated: true });
  const [alpha, bravo, charlie, delta] = await serveAll(['alpha', 'bravo', 'charlie', 'delta'], url);
  const token = await adminToken(url, [alpha!, bravo!, charlie!, delta!]);
  // Alpha, bravo and delta each approve and revoke charlie, one decision at a time, all at once.
  let writing = true;
  const writers = [alpha!, bravo!, delta!].map(async (server) => {
    const client = clientOf(server.url, token);
    for (let i = 0; i < ROUNDS; i++) {
      expect(await decideThrough(client, 'approve', charlie!)).toBe('ApproveTrustSuccess');
      expect(await decideThrough(client, 'revoke', charlie!)).toBe('RevokeTrustSuccess');
    }
  });
  const finished = Promise.all(writers).finally(() => (writing = false));

  // Charlie's history holds all three pairs: page it in small pages, as fast as it goes.
  const readPage = historyReader(clientOf(charlie!.url, token));
  const seen: number[] = [];
  let pages = 0;
  while (writing) {
    seen.push(...(await readPage()).sequences);
    pages++;
  }
  await finished;
  for (let page = await readPage(); ; page = await readPage()) {
    seen.push(...page.sequences);
    if (!page.hasNextPage) break;
  }

  const committed = await sql<{ sequence: string; pair: boolean }>(url, 'SELECT "sequence", "peerTrustId" IS NOT NULL AS "pair" FROM "TrustEvent" ORDER BY "sequence"');
  // Numbered 1, 2, 3... without a gap (tokens recorded too), and the reader saw each of
  // the pairs' events exactly once, in order.
  expect(committed.map((row) => Number(row.sequence))).toEqual(committed.map((_, i) => i + 1));
  const decisions = committed.filter((row) => row.pair).map((row) => Number(row.sequence));
  expect(decisions).toHaveLength(3 * ROUNDS * 2);
  expect(seen).toEqual(decisions);
  console.info(`history paging: ${seen.length} events committed by 3 processes, read exactly once in ${pages} pages while they committed`);
});
