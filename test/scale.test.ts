// At scale (functional, not timed): a server among 1,000, with 1M history events loaded
// in bulk by SQL, pages every list from start to end, forwards and backwards, each item
// once and in order. The rows are unsigned: what is tested is the paging, not the ledger.
import { expect, test } from 'vitest';
import { PeerTrustsDocument, ServersDocument, TrustHistoryDocument } from '../client/index.js';
import { loadAtScale } from '../bench/history-scale.js';
import { sql } from './ha-helpers.js';
import { run, startCluster, type TestServer } from './helpers.js';

const SERVERS = 1_000;
const EVENTS = 1_000_000;

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

test(`${SERVERS} servers and ${EVENTS} history events: every list pages correctly from start to end`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster(['alpha']);
  const alpha = cluster.servers[0] as TestServer;
  await loadAtScale(cluster.databaseUrl, SERVERS, EVENTS);
  const expected = (
    await sql<{ sequence: string }>(cluster.databaseUrl, `SELECT "sequence" FROM "TrustEvent" WHERE "serverAId" = $1::uuid OR "serverBId" = $1::uuid ORDER BY "sequence"`, [alpha.id])
  ).map((row) => row.sequence);
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
