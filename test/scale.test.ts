// At scale (functional, not timed): a server among 1,000, with 1M history events loaded
// in bulk by SQL, pages every list from start to end, forwards and backwards, each item
// once and in order. The rows are unsigned: what is tested is the paging, not the ledger.
import type { TypedDocumentNode } from '@urql/core';
import { parse } from 'graphql';
import { expect, test } from 'vitest';
import { PeerTrustsDocument, ServersDocument, TrustHistoryDocument } from '../client/index.js';
import { loadAtScale } from '../bench/lists-at-scale.js';
import { sql } from './ha-helpers.js';
import { run, startCluster, type TestServer } from './helpers.js';

const SERVERS = 1_000;

/** The client's operations page forwards only; the API pages backwards too. */
const PeerTrustsBackwards: TypedDocumentNode<
  { peerTrusts: { edges: { node: { id: string } }[]; pageInfo: { hasPreviousPage: boolean; startCursor: string | null } } },
  { last: number; before: string | null }
> = parse('query($last: Int, $before: String) { peerTrusts(last: $last, before: $before) { edges { node { id } } pageInfo { hasPreviousPage startCursor } } }');
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

  // Every pair once, oldest first (all loaded at one time: by id among equals), both ways.
  const pairs = (
    await sql<{ id: string }>(cluster.databaseUrl, `SELECT "id" FROM "PeerTrust" WHERE "serverAId" = $1::uuid OR "serverBId" = $1::uuid ORDER BY "createdAt", "id"`, [alpha.id])
  ).map((row) => row.id);
  expect(pairs).toHaveLength(SERVERS - 1);
  const peers = await everyPage(async (after) => {
    const { peerTrusts } = await run(alpha.reader, PeerTrustsDocument, { first: 200, after });
    return { items: peerTrusts.edges.map((edge) => [edge.node.id, edge.node.peer.id]), next: peerTrusts.pageInfo.hasNextPage ? peerTrusts.pageInfo.endCursor : null };
  });
  expect(peers.flat().map(([pair]) => pair)).toEqual(pairs);
  expect(new Set(peers.flat().map(([, peer]) => peer)).size).toBe(SERVERS - 1);
  const pairsBackwards = await everyPage(async (before) => {
    const { peerTrusts } = await run(alpha.reader, PeerTrustsBackwards, { last: 200, before });
    return { items: peerTrusts.edges.map((edge) => edge.node.id), next: peerTrusts.pageInfo.hasPreviousPage ? peerTrusts.pageInfo.startCursor : null };
  });
  expect(pairsBackwards.reverse().flat()).toEqual(pairs);
  const servers = await everyPage(async (after) => {
    const page = (await run(alpha.reader, ServersDocument, { first: 200, after })).servers;
    return { items: page.edges.map((edge) => edge.node.id), next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null };
  });
  expect(new Set(servers.flat()).size).toBe(SERVERS);
  expect(servers.flat()).toHaveLength(SERVERS);
});
