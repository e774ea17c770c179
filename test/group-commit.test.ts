// Group commit: the decisions one server makes at the same moment on different pairs
// share one transaction, one reservation and one checkpoint, and each keeps its own
// checks and outcome. Called on the running server's own scope, as its resolvers do, so
// that what waits together is known: the first starts alone, the rest wait for it.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { PeerTrustsDocument, VerifyTrustHistoryDocument } from '../client/index.js';
import { fingerprintOf } from '../src/identity/fingerprint.js';
import { approveTrust } from '../src/trust/decisions.js';
import { FingerprintMismatchError } from '../src/trust/errors.js';
import { registerServer } from '../src/trust/servers.js';
import { run, startCluster, type TestCluster, type TestServer } from './helpers.js';

/** `count` more servers registered on the cluster's database (not running: alpha decides about them). */
async function registerPeers(cluster: TestCluster, count: number) {
  const peers: { id: string; fingerprint: string }[] = [];
  for (let i = 0; i < count; i++) {
    const publicKeyPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fingerprint = fingerprintOf(publicKeyPem);
    const { serverId } = await registerServer(cluster.db, { name: `peer${i}`, addresses: [`198.51.100.${i + 1}`], publicKeyPem, fingerprint, heartbeatIntervalMs: 3_600_000 });
    peers.push({ id: serverId, fingerprint });
  }
  return peers;
}

async function setUp(peerCount: number) {
  const cluster = await startCluster(['alpha']);
  const alpha = cluster.servers[0]!;
  const peers = await registerPeers(cluster, peerCount);
  const admin = await cluster.db.prisma.user.findUniqueOrThrow({ where: { name: 'admin' } });
  const checkpoints = () => cluster.db.prisma.trustCheckpoint.count({ where: { serverId: alpha.id } });
  return { cluster, alpha, peers, actor: { id: admin.id, name: admin.name }, checkpoints };
}

/** alpha's own view: every pair verified, and the whole history verifies. */
async function expectVerified(alpha: TestServer, approved: string[]) {
  const pairs = (await run(alpha.reader, PeerTrustsDocument, { first: 100 })).peerTrusts.edges.map((e) => e.node);
  for (const id of approved) {
    expect(pairs.find((p) => p.peer.id === id)).toMatchObject({ status: 'PENDING', approvedByThisServer: true, unverifiedReason: null });
  }
  expect((await run(alpha.reader, VerifyTrustHistoryDocument, {})).verifyTrustHistory).toMatchObject({ ok: true, reason: null });
}

test('decisions made at once on different pairs commit together, each signed, in order, and verified', async () => {
  const { cluster, alpha, peers, actor, checkpoints } = await setUp(12);
  const before = await checkpoints();
  const decided = await Promise.all(peers.map((peer) => approveTrust(alpha.app.scope, actor, { peerId: peer.id, fingerprint: peer.fingerprint })));
  expect(decided.every((pair) => pair.status === 'PENDING')).toBe(true);
  // The first went alone; the eleven that waited for it went in one transaction.
  expect((await checkpoints()) - before).toBe(2);

  const events = await cluster.db.prisma.trustEvent.findMany({ where: { serverId: alpha.id, kind: 'TRUST_APPROVED' }, orderBy: { sequence: 'asc' } });
  expect(events.map((e) => e.peerTrustId)).toEqual(decided.map((pair) => pair.id));
  const sequences = events.map((e) => Number(e.sequence));
  expect(sequences).toEqual(sequences.map((_, i) => sequences[0]! + i));
  expect(decided.map((pair) => Number(pair.lastSequence))).toEqual(sequences);
  // Each decision signed its own statement, naming its own place in the history.
  const statements = await cluster.db.prisma.trustDecision.findMany({ where: { serverId: alpha.id }, select: { peerTrustId: true, statement: true } });
  for (const [index, pair] of decided.entries()) {
    const statement = JSON.parse(statements.find((s) => s.peerTrustId === pair.id)!.statement!) as { sequence: number; pair: string };
    expect(statement).toMatchObject({ sequence: sequences[index], pair: pair.id });
  }
  await expectVerified(alpha, peers.map((p) => p.id));
});

test('a decision the rules refuse fails alone; the others of its batch commit', async () => {
  const { alpha, peers, actor, checkpoints } = await setUp(6);
  const before = await checkpoints();
  const wrong = peers[0]!.fingerprint;
  const outcomes = await Promise.allSettled(
    peers.map((peer, i) => approveTrust(alpha.app.scope, actor, { peerId: peer.id, fingerprint: i === 3 ? wrong : peer.fingerprint })),
  );
  expect(outcomes[3]).toMatchObject({ status: 'rejected', reason: expect.any(FingerprintMismatchError) });
  expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
  expect((await checkpoints()) - before).toBe(2);
  await expectVerified(alpha, peers.filter((_, i) => i !== 3).map((p) => p.id));
});

test('a decision whose write fails fails alone: the batch is written again without it', async () => {
  const { cluster, alpha, peers, actor } = await setUp(6);
  // An actor that is no user: its decision's rows break a foreign key, and with them the batch's statement.
  const stranger = { id: randomUUID(), name: 'nobody' };
  const outcomes = await Promise.allSettled(
    peers.map((peer, i) => approveTrust(alpha.app.scope, i === 2 ? stranger : actor, { peerId: peer.id, fingerprint: peer.fingerprint })),
  );
  expect(outcomes[2]).toMatchObject({ status: 'rejected' });
  expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
  // Nothing of the failed one was written, and no sequence number was lost.
  expect(await cluster.db.prisma.trustDecision.count({ where: { actorId: stranger.id } })).toBe(0);
  const sequences = (await cluster.db.prisma.trustEvent.findMany({ orderBy: { sequence: 'asc' }, select: { sequence: true } })).map((e) => Number(e.sequence));
  expect(sequences).toEqual(sequences.map((_, i) => i + 1));
  await expectVerified(alpha, peers.filter((_, i) => i !== 2).map((p) => p.id));
});

test('two decisions on one pair at once do not share a batch: the second decides on what the first left', async () => {
  const { cluster, alpha, peers, actor } = await setUp(2);
  const [peer, other] = peers as [(typeof peers)[0], (typeof peers)[0]];
  const input = { peerId: peer.id, fingerprint: peer.fingerprint };
  const decided = await Promise.all([
    approveTrust(alpha.app.scope, actor, { peerId: other.id, fingerprint: other.fingerprint }),
    approveTrust(alpha.app.scope, actor, input),
    approveTrust(alpha.app.scope, actor, input),
  ]);
  expect(decided[1]!.id).toBe(decided[2]!.id);
  expect(await cluster.db.prisma.trustEvent.count({ where: { peerTrustId: decided[1]!.id, kind: 'TRUST_APPROVED' } })).toBe(1);
  await expectVerified(alpha, [peer.id, other.id]);
});
