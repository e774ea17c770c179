// Registration (SERVER_REGISTERED): a server's first key, signed by it, in the Trust
// History. Before any peer approved a server, its decisions count only signed by that
// key (or one it rotated to); once approved, by the key the administrator checked.
import pg from 'pg';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { ApproveTrustDocument, PeerTrustDocument, VerifyTrustHistoryDocument } from '../client/index.js';
import { createApp } from '../src/app.js';
import { openPostgresDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { loadOrCreateRootKey, loadRootKey } from '../src/identity/root-key.js';
import { silentLogger } from '../src/logger.js';
import { exportBundle, verifyBundle } from '../src/trust/bundle.js';
import { forgeDecision, forgeRegistration, keyRowFor } from './forgery.js';
import { freshDatabaseUrl, keyPairInMemory, run, startCluster, tempDir, type TestCluster, type TestServer } from './helpers.js';

const approve = (on: TestServer, peer: { id: string; fingerprint: string }) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.approveTrust);
const pair = (on: TestServer, peer: TestServer) => run(on.reader, PeerTrustDocument, { peerId: peer.id }).then((d) => d.peerTrust!);
const verify = (on: TestServer) => run(on.reader, VerifyTrustHistoryDocument, {}).then((d) => d.verifyTrustHistory);

/** Stops a server and starts it again on its data directory. */
async function restart(cluster: TestCluster, server: TestServer): Promise<TestServer> {
  await cluster.stopServer(server);
  return cluster.addServer(server.name, server.identityDir);
}

/** bravo as the version before registrations left it: its server row, its key row and its pair with alpha, in a data directory of its own. */
async function registeredBefore(cluster: TestCluster, alpha: TestServer) {
  const dataDir = await tempDir();
  const key = await loadOrCreateRootKey(dataDir);
  const server = await cluster.db.prisma.server.create({
    data: { name: 'bravo', addresses: ['192.0.2.10'], rootKeys: { create: { publicKey: key.publicKeyPem, fingerprint: key.fingerprint } } },
  });
  await cluster.db.prisma.$executeRaw`
    INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
    VALUES (gen_random_uuid(), LEAST(${alpha.id}::uuid, ${server.id}::uuid), GREATEST(${alpha.id}::uuid, ${server.id}::uuid))`;
  return { id: server.id, fingerprint: key.fingerprint, dataDir };
}

test("before anyone approved it, a server's decisions count only signed by the key it registered with: a deny signed with a key row added by SQL leaves the pair Unverified, not Denied", async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  // Each registered its key in the history, signed with it, once.
  const registrations = await cluster.db.prisma.trustEvent.findMany({ where: { kind: 'SERVER_REGISTERED' }, orderBy: { sequence: 'asc' } });
  expect(registrations.map((e) => [e.serverId, e.fingerprints])).toEqual([[alpha.id, [alpha.fingerprint]], [bravo.id, [bravo.fingerprint]]]);
  const rogue = await keyRowFor(cluster, bravo, 'retired');
  await forgeDecision(cluster, { decider: bravo, key: rogue, kind: 'DENY', about: alpha, verified: alpha.fingerprint, event: 'TRUST_DENIED' });
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: `a DENY signed with ${rogue.fingerprint}, not a key of its server that it registered with` });
  // Restarted from the state it kept, alpha still knows bravo's registered key; no server registers twice.
  const again = await restart(cluster, alpha);
  expect(await pair(again, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: `a DENY signed with ${rogue.fingerprint}, not a key of its server that it registered with` });
  expect(await cluster.db.prisma.trustEvent.count({ where: { kind: 'SERVER_REGISTERED' } })).toBe(2);
  expect(await verify(again)).toMatchObject({ ok: true });
});

test("a key row made a pending peer's current key by SQL is not offered for approval: the pair is Unverified, naming the key the peer registered with", async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  const rogue = await keyRowFor(cluster, bravo, 'current');
  expect(await pair(alpha, bravo)).toMatchObject({
    status: 'UNVERIFIED',
    approvalRequired: false,
    peer: { fingerprint: rogue.fingerprint },
    unverifiedReason: `its key is now ${rogue.fingerprint}, which the key it registered with (${bravo.fingerprint}) did not endorse: a key row added to the database, not one the server holds`,
  });
  expect(await approve(alpha, { id: bravo.id, fingerprint: rogue.fingerprint })).toMatchObject({ __typename: 'UnverifiedTrustError' });
});

test("a server registered before registrations were recorded records its own at its next start; one a database writer registered first says so, and a peer that approved it goes by the key it approved", async () => {
  const logs: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => logs.push(line) });
  const cluster = await startCluster(['alpha'], { logger });
  const [alpha] = cluster.servers as [TestServer];
  // charlie: no forgery. It registers at its start with the key it holds, once.
  const charlieBefore = await registeredBefore(cluster, alpha);
  await cluster.db.prisma.server.update({ where: { id: charlieBefore.id }, data: { name: 'charlie' } });
  const charlie = await cluster.addServer('charlie', charlieBefore.dataDir);
  const registered = await cluster.db.prisma.trustEvent.findMany({ where: { kind: 'SERVER_REGISTERED', serverId: charlie.id } });
  expect(registered.map((e) => e.fingerprints)).toEqual([[charlie.fingerprint]]);
  expect(logs.join('')).not.toContain('a key it does not hold');

  // bravo: alpha's administrator approved its key; then a writer registered bravo first, with a key of their own.
  const before = await registeredBefore(cluster, alpha);
  expect(await approve(alpha, before)).toMatchObject({ __typename: 'ApproveTrustSuccess' });
  // Its checkpoint signed by a server of the writer's own (one in bravo's name, with a key bravo does not hold, would break bravo's history).
  const mallory = await cluster.addServer('mallory');
  const rogue = keyPairInMemory();
  await forgeRegistration(cluster, before.id, rogue, { checkpointBy: { serverId: mallory.id, key: (await loadRootKey(mallory.identityDir))! } });
  const bravo = await cluster.addServer('bravo', before.dataDir);
  expect(logs.join('')).toContain(`the Trust History registers this server with ${rogue.fingerprint}, a key it does not hold`);
  // alpha goes by the key it approved: bravo's own approval counts...
  expect(await approve(bravo, alpha)).toMatchObject({ __typename: 'ApproveTrustSuccess', peerTrust: { status: 'TRUSTED' } });
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
  // ...and a deny signed with the key the writer registered for bravo does not.
  await forgeDecision(cluster, { decider: bravo, key: rogue, kind: 'DENY', about: alpha, verified: alpha.fingerprint, event: 'TRUST_DENIED' });
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: `a DENY signed with ${rogue.fingerprint}, not a key of its server that this server approved` });
});

test('a new server starts first on a database upgraded from before the history was signed: the old entries get their Merkle tree before its registration is appended', async () => {
  const url = await freshDatabaseUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The schema of the last version before the history was signed, and what it left: two servers, a pair, three events.
    await migrate(client, '20261128124137_clean_stop');
    await client.query(`INSERT INTO "User" ("id", "name", "role") VALUES ('00000000-0000-4000-8000-000000000001', 'admin', 'ADMINISTRATOR')`);
    await client.query(`INSERT INTO "Server" ("id", "name") VALUES ('00000000-0000-4000-8000-00000000000a', 'a'), ('00000000-0000-4000-8000-00000000000b', 'b')`);
    await client.query(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId") VALUES ('00000000-0000-4000-8000-0000000000ab', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b')`);
    for (const kind of ['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']) {
      await client.query(
        `INSERT INTO "TrustEvent" ("kind", "peerTrustId", "serverId", "actorId", "fingerprints")
         VALUES ($1, '00000000-0000-4000-8000-0000000000ab', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', '{}')`,
        [kind],
      );
    }
  } finally {
    await client.end();
  }
  const db = await openPostgresDatabase(url, silentLogger);
  try {
    const app = createApp({
      name: 'charlie',
      host: '127.0.0.1',
      port: 0,
      rootKey: await loadOrCreateRootKey(await tempDir()),
      addresses: ['192.0.2.30'],
      database: db,
      logger: silentLogger,
      heartbeatSeconds: 60,
    });
    await app.start();
    await app.stop();
    const events = await db.prisma.trustEvent.findMany({ orderBy: { sequence: 'asc' }, select: { kind: true } });
    expect(events.map((e) => e.kind)).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED', 'SERVER_REGISTERED']);
  } finally {
    await db.close();
  }
});

test("a bundle's registration must be one entry, carrying the key it names, as the servers read it", async () => {
  const cluster = await startCluster(['alpha']);
  const [alpha] = cluster.servers as [TestServer];
  // A key of the writer's, listed as one alpha retired (so that it signs the checkpoint as alpha's), registered twice under one statement.
  const rogue = await keyRowFor(cluster, alpha, 'retired');
  await forgeRegistration(cluster, alpha.id, rogue, { copies: 2 });
  const length = Number((await cluster.db.prisma.trustHistory.findUniqueOrThrow({ where: { id: 1 } })).length);
  expect(await verify(alpha)).toMatchObject({ ok: false, brokenAt: length });
  expect(verifyBundle(await exportBundle(cluster.db))).toMatchObject({ ok: false, brokenAt: length, reason: `its statement was made for entry ${length - 1}` });
});
