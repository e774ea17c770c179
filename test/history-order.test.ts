// The Trust History is in commit order: a client paging it with `after` while others
// commit decisions sees every event exactly once, and never skips one that committed
// late with a smaller number.
import { expect, onTestFinished, test } from 'vitest';
import { ApproveTrustDocument, TrustHistoryDocument, type PeertrustClient } from '../client/index.js';
import type { Database } from '../src/db/client.js';
import { adminToken, clientOf, decideThrough, serveAll, sql } from './ha-helpers.js';
import { freshDatabaseUrl, request, run, startCluster, type TestServer } from './helpers.js';

/** Pages a server's history, each call from where the last one stopped. */
function historyReader(client: PeertrustClient) {
  let after: string | undefined;
  return async (): Promise<{ sequences: number[]; hasNextPage: boolean }> => {
    const page = (await run(client, TrustHistoryDocument, { first: 7, ...(after ? { after } : {}) })).trustHistory;
    after = page.pageInfo.endCursor ?? after;
    return { sequences: page.edges.map((edge) => edge.node.sequence), hasNextPage: page.pageInfo.hasNextPage };
  };
}

/** Holds an advisory lock in a transaction of its own until the returned function is called. */
async function holdAdvisoryLock(db: Database, key: number): Promise<() => Promise<void>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const held = db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${key})`;
      locked();
      await released;
    },
    { timeout: 120_000 },
  );
  onTestFinished(async () => {
    release();
    await held.catch(() => undefined);
  });
  await isLocked;
  return async () => {
    release();
    await held;
  };
}

const lockWaiters = async (db: Database) =>
  Number((await db.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)[0]!.n);

test('an event that commits after a later-numbered one is not skipped by a reader who read between the two commits', async () => {
  const { db, servers } = await startCluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo, charlie] = servers as [TestServer, TestServer, TestServer];
  // Alpha's decisions stall just before they commit, on a lock this test holds.
  await db.prisma.$executeRawUnsafe(
    `CREATE FUNCTION stall_alpha() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$`,
  );
  await db.prisma.$executeRawUnsafe(
    `CREATE TRIGGER stall_alpha AFTER INSERT ON "TrustDecision" FOR EACH ROW WHEN (NEW."serverId" = '${alpha.id}') EXECUTE FUNCTION stall_alpha()`,
  );
  const release = await holdAdvisoryLock(db, 4242);
  const approve = (on: TestServer) => request(on.admin, ApproveTrustDocument, { input: { peerId: charlie.id, fingerprint: charlie.fingerprint } });

  const first = approve(alpha);
  await expect.poll(() => lockWaiters(db), { timeout: 30_000 }).toBe(1);
  // Bravo decides on another pair while alpha's decision is numbered but not committed:
  // it waits for alpha's commit (commit order), or it commits first (it would be a gap).
  const second = approve(bravo);
  await Promise.race([second, expect.poll(() => lockWaiters(db), { timeout: 30_000 }).toBe(2)]);
  const readPage = historyReader(charlie.reader);
  const seen = (await readPage()).sequences;
  await release();
  expect((await first).data?.approveTrust.__typename).toBe('ApproveTrustSuccess');
  expect((await second).data?.approveTrust.__typename).toBe('ApproveTrustSuccess');
  for (let page = await readPage(); ; page = await readPage()) {
    seen.push(...page.sequences);
    if (!page.hasNextPage) break;
  }
  expect(seen).toEqual([1, 2]);
});

const ROUNDS = 100;

test('paging the history while three processes commit hundreds of decisions on different pairs finds every event exactly once', async () => {
  const url = await freshDatabaseUrl({ migrated: true });
  const [alpha, bravo, charlie, delta] = await serveAll(['alpha', 'bravo', 'charlie', 'delta'], url);
  const token = await adminToken(url);
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

  const committed = await sql<{ sequence: string }>(url, 'SELECT "sequence" FROM "TrustEvent" ORDER BY "sequence"');
  // Numbered 1, 2, 3... without a gap, and the reader saw each exactly once, in order.
  expect(committed.map((row) => Number(row.sequence))).toEqual(Array.from({ length: 3 * ROUNDS * 2 }, (_, i) => i + 1));
  expect(seen).toEqual(committed.map((row) => Number(row.sequence)));
  console.info(`history paging: ${seen.length} events committed by 3 processes, read exactly once in ${pages} pages while they committed`);
});
