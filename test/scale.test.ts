// At scale (functional, not timed): a server among 1,000, with 1M history events loaded
// in bulk by SQL, pages every list from start to end, forwards and backwards, each item
// once and in order. The rows are unsigned: what is tested is the paging, not the ledger.
import pg from 'pg';
import { expect, onTestFinished, test } from 'vitest';
import { PeerTrustsDocument, ServersDocument, TrustHistoryDocument } from '../client/index.js';
import { run, startCluster, type TestServer } from './helpers.js';

const SERVERS = 1_000;

/** Every page of a list, in the order read: `read` gives a page's items and the cursor of the next, if any. */
async function everyPage<T>(read: (cursor: string | null) => Promise<{ items: T[]; next: string | null | undefined }>): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const page = await read(cursor);
    pages.push(page.items);
    cursor = page.next ?? null;
  } while (cursor !== null);
  return pages;
}
const EVENTS = 1_000_000;

test(`${SERVERS} servers and ${EVENTS} history events: every list pages correctly from start to end`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster(['alpha']);
  const alpha = cluster.servers[0] as TestServer;
  // Its own connection: the pool's 30 s limit per query is for requests, not a bulk load on a busy machine.
  const loader = new pg.Client({ connectionString: cluster.databaseUrl });
  await loader.connect();
  onTestFinished(() => loader.end());
  const sql = (text: string) => loader.query(text);
  // Registered as registration does it: every server paired with every other.
  await sql(`INSERT INTO "Server" ("id", "name", "addresses") SELECT gen_random_uuid(), 'server' || i, ARRAY['198.51.100.1'] FROM generate_series(2, ${SERVERS}) AS i`);
  await sql(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
    SELECT gen_random_uuid(), LEAST(a."id", b."id"), GREATEST(a."id", b."id") FROM "Server" a JOIN "Server" b ON a."id" < b."id"
    ON CONFLICT ("serverAId", "serverBId") DO NOTHING`);
  await sql(`CREATE TABLE "scale_pairs" AS SELECT row_number() OVER () AS n, "id", "serverAId", "serverBId" FROM "PeerTrust"`);
  const [{ first }] = (await sql(`SELECT coalesce(max("sequence"), 0) + 1 AS first FROM "TrustEvent"`)).rows as [{ first: string }];
  await sql(`ALTER TABLE "TrustEvent" DISABLE TRIGGER USER`);
  // Spread over every pair, alpha's among them, as a busy cluster's history would be.
  await sql(`INSERT INTO "TrustEvent" ("sequence", "kind", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
    SELECT ${first} + s, 'TRUST_APPROVED', p."id", p."serverAId", p."serverBId", p."serverAId", (SELECT "id" FROM "User" LIMIT 1), '{}', ''
    FROM generate_series(0::bigint, ${EVENTS - 1}) AS s JOIN "scale_pairs" p ON p.n = 1 + (s * 7919) % (SELECT count(*) FROM "scale_pairs")`);
  await sql(`ALTER TABLE "TrustEvent" ENABLE TRIGGER USER`);
  await sql('ANALYZE');
  const expected = (
    await loader.query<{ sequence: string }>(`SELECT "sequence" FROM "TrustEvent" WHERE "serverAId" = $1::uuid OR "serverBId" = $1::uuid ORDER BY "sequence"`, [alpha.id])
  ).rows.map((row) => row.sequence);
  expect(expected.length).toBeGreaterThan(1_000);

  // The history, forwards from the start and backwards from the end, 200 at a time.
  const forwards = await everyPage(async (after) => {
    const { trustHistory } = await run(alpha.reader, TrustHistoryDocument, { first: 200, after });
    return { items: trustHistory.edges.map((edge) => String(edge.node.sequence)), next: trustHistory.pageInfo.hasNextPage ? trustHistory.pageInfo.endCursor : null };
  });
  expect(forwards.flat()).toEqual(expected);
  const backwards = await everyPage(async (before) => {
    const { trustHistory } = await run(alpha.reader, TrustHistoryDocument, { last: 200, before });
    return { items: trustHistory.edges.map((edge) => String(edge.node.sequence)), next: trustHistory.pageInfo.hasPreviousPage ? trustHistory.pageInfo.startCursor : null };
  });
  expect(backwards.reverse().flat()).toEqual(expected);

  // Every peer once; every server once.
  const peers = await everyPage(async (after) => {
    const { peerTrusts } = await run(alpha.reader, PeerTrustsDocument, { first: 200, after });
    return { items: peerTrusts.edges.map((edge) => edge.node.peer.id), next: peerTrusts.pageInfo.hasNextPage ? peerTrusts.pageInfo.endCursor : null };
  });
  expect(new Set(peers.flat()).size).toBe(SERVERS - 1);
  expect(peers.flat()).toHaveLength(SERVERS - 1);
  const servers = await everyPage(async (after) => {
    const page = (await run(alpha.reader, ServersDocument, { first: 200, after })).servers;
    return { items: page.edges.map((edge) => edge.node.id), next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null };
  });
  expect(new Set(servers.flat()).size).toBe(SERVERS);
  expect(servers.flat()).toHaveLength(SERVERS);
});
