// peertrust under load, as clients meet it: one `peertrust serve` process (its own event
// loop) on a database holding `peers` other registered servers; this process is the load
// generator. Decisions per second, a page of pairs per second, one decision's fan-out to
// idle subscribers, the memory an idle subscription costs, and a history page at scale.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createApiToken } from '../src/auth/tokens.js';
import { openPostgresDatabase, type Database } from '../src/db/client.js';
import { fingerprintOf } from '../src/identity/fingerprint.js';
import { loadRootKey } from '../src/identity/root-key.js';
import { registerServer } from '../src/trust/servers.js';
import {
  assertSocketsFit,
  broadcastFigures,
  closedLoop,
  closeSockets,
  graphqlWsSubscribe,
  jsonClient,
  openSockets,
  PATIENCE_MS,
  profiling,
  stableRss,
  startChild,
  untilCount,
  type Rate,
} from './load.js';

const bin = path.resolve(import.meta.dirname, '../bin/peertrust.js');

/** No limit of a client's gets in the way of the load: they are tested in the abuse suite. */
const unlimited = {
  PEERTRUST_RATE_LIMIT_PER_ADDRESS: '1000000',
  PEERTRUST_RATE_LIMIT_PER_TOKEN: '1000000',
  PEERTRUST_RATE_LIMIT_ANONYMOUS: '1000000',
  PEERTRUST_MAX_CONNECTIONS_PER_USER: '1000000',
  PEERTRUST_MAX_SUBSCRIPTIONS_PER_USER: '1000000',
  PEERTRUST_MAX_SUBSCRIPTIONS_PER_CONNECTION: '1000',
};

export interface ServedCluster {
  url: string;
  pid: number;
  token: string;
  peers: { id: string; fingerprint: string }[];
  graphql(query: string, variables?: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
}

/** `peertrust serve` (alpha) on `databaseUrl`, `peers` more servers registered beside it, and an administrator token. */
export async function serveWithPeers(databaseUrl: string, peers: number, connections = 16): Promise<ServedCluster> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'peertrust-bench-serve-'));
  const db: Database = await openPostgresDatabase(databaseUrl);
  const registered: { id: string; fingerprint: string }[] = [];
  for (let i = 0; i < peers; i++) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const key = { publicKeyPem, fingerprint: fingerprintOf(publicKeyPem), privateKey, dataDir };
    const { serverId } = await registerServer(db, { name: `peer${i}`, addresses: [`198.51.100.${i % 250}`], key, heartbeatIntervalMs: 3_600_000 });
    registered.push({ id: serverId, fingerprint: key.fingerprint });
  }
  // Ready once it printed its summary: its GraphiQL URL, then its id.
  const served = await startChild<undefined>(
    process.execPath,
    [...profiling, bin, 'serve', '--name', 'alpha', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--address', '192.0.2.1'],
    { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', PEERTRUST_HEARTBEAT_SECONDS: '3600', ...unlimited },
    /GraphiQL\s+(\S+)\n\s+id\s+(\S+)\n/,
  );
  const [, url, id] = served.match;
  const key = (await loadRootKey(dataDir))!;
  const { token } = await createApiToken(db, { userName: 'bench', role: 'ADMINISTRATOR' }, [{ serverId: id!, key }]);
  await db.close();
  const origin = new URL(url!).origin;
  const http = jsonClient(origin, connections);
  const graphql = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await http.post('/graphql', { query, variables }, { authorization: `Bearer ${token}` });
    const body = response.body as { data?: unknown; errors?: { message: string }[] };
    if (response.status !== 200 || body.errors) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
    return body.data;
  };
  return {
    url: url!,
    pid: served.child.pid!,
    token,
    peers: registered,
    graphql,
    async stop() {
      http.close();
      await served.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const APPROVE = `mutation($peerId: ID!, $fingerprint: String!) { approveTrust(input: { peerId: $peerId, fingerprint: $fingerprint }) { __typename ... on Error { message } } }`;
const REVOKE = `mutation($peerId: ID!) { revokeTrust(input: { peerId: $peerId }) { __typename ... on Error { message } } }`;

/** The peers alpha has approved in the current round, across measurements. */
const approvedByAlpha = new Set<string>();

/** Approves `peer` if alpha has not in this round, else revokes: either way a real, signed change. */
async function changeTrust(cluster: ServedCluster, peer: { id: string; fingerprint: string }): Promise<void> {
  const approve = !approvedByAlpha.has(peer.id);
  const data = (await cluster.graphql(approve ? APPROVE : REVOKE, approve ? { peerId: peer.id, fingerprint: peer.fingerprint } : { peerId: peer.id })) as Record<string, { __typename: string; message?: string }>;
  const outcome = Object.values(data)[0]!;
  if (!outcome.__typename.endsWith('Success')) throw new Error(`a decision failed: ${outcome.message}`);
  if (approve) approvedByAlpha.add(peer.id);
  else approvedByAlpha.delete(peer.id);
}

/** Each client changes its own peer's trust, back and forth. */
export async function decisionsPerSecond(cluster: ServedCluster, clients: number, durationMs: number): Promise<Rate> {
  return closedLoop(clients, durationMs, (client) => changeTrust(cluster, cluster.peers[client]!));
}

const PAGE = `query { peerTrusts(first: 50) { edges { cursor node { id status unverifiedReason approvedByThisServer approvedByPeer approvalRequired createdAt updatedAt
  peer { id name addresses fingerprint status registeredAt lastSeenAt isThisServer } } } pageInfo { hasNextPage endCursor } } }`;

export function pagesPerSecond(cluster: ServedCluster, connections: number, durationMs: number): Promise<Rate> {
  return closedLoop(connections, durationMs, async () => {
    await cluster.graphql(PAGE);
  });
}

const CHANGED = 'subscription { peerTrustChanged { id status approvedByThisServer approvedByPeer approvalRequired updatedAt peer { id name fingerprint status } } }';

/** `count` idle peerTrustChanged subscribers, each on a connection of its own, into `sockets`; `onNext` gets each notice as sent. */
async function subscribe(cluster: ServedCluster, sockets: WebSocket[], count: number, onNext: (message: string) => void): Promise<void> {
  await assertSocketsFit(count);
  const wsUrl = cluster.url.replace(/^http/, 'ws');
  const open = () =>
    new WebSocket(wsUrl, 'graphql-transport-ws').on('message', (data: Buffer) => {
      const message = data.toString();
      if ((JSON.parse(message) as { type: string }).type === 'next') onNext(message);
    });
  await openSockets(sockets, count, open, (socket) => graphqlWsSubscribe(socket, CHANGED, `Bearer ${cluster.token}`));
  // Acknowledged is not yet subscribed: wait until the server counts them all.
  await untilCount('subscriptions live', count, async () => {
    const metrics = await fetch(new URL('/metrics', cluster.url)).then((r) => r.text());
    return Number(/peertrust_subscriptions\{field="peerTrustChanged"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  });
}

/**
 * One decision to `count` idle subscribers: from the request to the last one's notice
 * (median of `rounds`), the p99 over subscribers, and a notice as sent (for a bare
 * broadcast of the same bytes).
 */
export async function fanOut(cluster: ServedCluster, count: number, rounds = 5): Promise<{ lastMs: number; p99Ms: number; message: string }> {
  let arrivals: number[] = [];
  let message = '';
  const sockets: WebSocket[] = [];
  try {
    await subscribe(cluster, sockets, count, (data) => {
      arrivals.push(performance.now());
      message = data;
    });
    const measured: number[][] = [];
    // A peer no other measurement decides on.
    const peer = cluster.peers.at(-1)!;
    for (let round = 0; round < rounds; round++) {
      arrivals = [];
      const started = performance.now();
      await changeTrust(cluster, peer);
      while (arrivals.length < count) {
        if (performance.now() - started > PATIENCE_MS) throw new Error(`${arrivals.length} of ${count} subscribers had the notice after ${PATIENCE_MS / 1000} s`);
        await sleep(5);
      }
      // In order of arrival, so already sorted.
      measured.push(arrivals.map((at) => at - started));
      await sleep(200);
    }
    return { ...broadcastFigures(measured), message };
  } finally {
    closeSockets(sockets);
  }
}

/** The serve process's RSS idle, and what each idle subscription adds, each read once stable (as for the bare graphql-ws server). */
export async function subscriptionMemory(cluster: ServedCluster, count: number): Promise<{ idleRssBytes: number; perSubscriptionBytes: number }> {
  const idleRssBytes = await stableRss(cluster.pid);
  const sockets: WebSocket[] = [];
  try {
    await subscribe(cluster, sockets, count, () => {});
    return { idleRssBytes, perSubscriptionBytes: ((await stableRss(cluster.pid)) - idleRssBytes) / count };
  } finally {
    closeSockets(sockets);
  }
}
