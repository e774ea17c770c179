// The approve, deny and revoke workflow of DESIGN.md, through the API, on two or three
// real servers that share one embedded database.
import { describe, expect, test } from 'vitest';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
  ServersDocument,
  ServerStatusChangedDocument,
  ThisServerDocument,
  TrustHistoryDocument,
} from '../client/index.js';
import { run, startCluster, subscribe, type TestServer } from './helpers.js';
import { stallWrites, waitForLockWaiters } from './stall.js';

const approve = (on: TestServer, peer: TestServer, fingerprint = peer.fingerprint) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint } }).then((d) => d.approveTrust);
const deny = (on: TestServer, peer: TestServer, fingerprint = peer.fingerprint) =>
  run(on.admin, DenyTrustDocument, { input: { peerId: peer.id, fingerprint } }).then((d) => d.denyTrust);
const revoke = (on: TestServer, peer: TestServer) =>
  run(on.admin, RevokeTrustDocument, { input: { peerId: peer.id } }).then((d) => d.revokeTrust);
const decommission = (on: TestServer, peer: TestServer) =>
  run(on.admin, DecommissionServerDocument, { input: { serverId: peer.id } }).then((d) => d.decommissionServer);
const pair = (on: TestServer, peer: TestServer) =>
  run(on.reader, PeerTrustDocument, { peerId: peer.id }).then((d) => d.peerTrust);
const history = (on: TestServer, peer?: TestServer) =>
  run(on.reader, TrustHistoryDocument, { peerId: peer?.id ?? null }).then((d) =>
    d.trustHistory.edges.map((e) => ({
      kind: e.node.kind,
      server: e.node.server.name,
      actor: e.node.actor.name,
      peer: e.node.peerTrust.peer.name,
      fingerprints: e.node.fingerprints,
    })),
  );

describe('two servers', () => {
  test('appear to each other with fingerprint and addresses, each needing approval', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    const seen = await run(alpha!.reader, PeerTrustsDocument, {});
    expect(seen.peerTrusts.edges).toHaveLength(1);
    const node = seen.peerTrusts.edges[0]!.node;
    expect(node).toMatchObject({ status: 'PENDING', approvalRequired: true, approvedByThisServer: false, approvedByPeer: false });
    expect(node.peer).toMatchObject({ id: bravo!.id, name: 'bravo', fingerprint: bravo!.fingerprint, addresses: ['192.0.2.10'], isThisServer: false });
    expect(await pair(bravo!, alpha!)).toMatchObject({ status: 'PENDING', approvalRequired: true, peer: { name: 'alpha' } });

    const me = await run(alpha!.reader, ThisServerDocument, {});
    expect(me.thisServer).toMatchObject({ id: alpha!.id, isThisServer: true, fingerprint: alpha!.fingerprint });
    expect(me.thisServer.rootKeys).toHaveLength(1);
    expect(me.thisServer.rootKeys[0]).toMatchObject({ algorithm: 'Ed25519', fingerprint: alpha!.fingerprint });
    expect(me.thisServer.rootKeys[0]!.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);

    const all = await run(bravo!.reader, ServersDocument, {});
    expect(all.servers.edges.map((e) => [e.node.name, e.node.isThisServer])).toEqual([['alpha', false], ['bravo', true]]);
  });

  test('approve on one side gives PENDING, on the other TRUSTED, with the history in order', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    const first = await approve(alpha!, bravo!);
    expect(first).toMatchObject({ __typename: 'ApproveTrustSuccess', peerTrust: { status: 'PENDING', approvedByThisServer: true, approvedByPeer: false, approvalRequired: false } });
    expect(await pair(bravo!, alpha!)).toMatchObject({ status: 'PENDING', approvedByPeer: true, approvedByThisServer: false, approvalRequired: true });

    const second = await approve(bravo!, alpha!);
    expect(second).toMatchObject({ __typename: 'ApproveTrustSuccess', peerTrust: { status: 'TRUSTED', approvedByThisServer: true, approvedByPeer: true, approvalRequired: false } });
    expect(await pair(alpha!, bravo!)).toMatchObject({ status: 'TRUSTED', approvedByThisServer: true, approvedByPeer: true });

    expect(await history(alpha!)).toEqual([
      { kind: 'TRUST_APPROVED', server: 'alpha', actor: 'admin', peer: 'bravo', fingerprints: [bravo!.fingerprint] },
      { kind: 'TRUST_APPROVED', server: 'bravo', actor: 'admin', peer: 'bravo', fingerprints: [alpha!.fingerprint] },
      { kind: 'TRUST_ENABLED', server: 'bravo', actor: 'admin', peer: 'bravo', fingerprints: [bravo!.fingerprint, alpha!.fingerprint] },
    ]);
    // The same events, seen from bravo: the pair's peer is alpha there.
    expect((await history(bravo!, alpha!)).map((e) => [e.kind, e.peer])).toEqual([
      ['TRUST_APPROVED', 'alpha'],
      ['TRUST_APPROVED', 'alpha'],
      ['TRUST_ENABLED', 'alpha'],
    ]);
  });

  test('approving again changes nothing and adds no history (rule 2)', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    await approve(alpha!, bravo!);
    const again = await approve(alpha!, bravo!);
    expect(again).toMatchObject({ __typename: 'ApproveTrustSuccess', peerTrust: { status: 'PENDING', approvedByThisServer: true } });
    expect(await history(alpha!)).toHaveLength(1);
    await approve(bravo!, alpha!);
    expect(await approve(bravo!, alpha!)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
    expect(await approve(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
    expect((await history(alpha!)).map((e) => e.kind)).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']);
  });

  test('a wrong fingerprint is refused and nothing is recorded (rule 1), in any accepted notation', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    const wrong = alpha!.fingerprint; // a real fingerprint, but not bravo's
    const refused = await approve(alpha!, bravo!, wrong);
    expect(refused).toMatchObject({ __typename: 'FingerprintMismatchError', expected: bravo!.fingerprint, given: wrong });
    expect(refused.__typename === 'FingerprintMismatchError' && refused.message).toContain('nothing was recorded');
    // Not the fingerprint this server has: copied from here, it would be approved unchecked.
    expect(refused.__typename === 'FingerprintMismatchError' && refused.message).not.toContain(bravo!.fingerprint);
    expect(await deny(alpha!, bravo!, wrong)).toMatchObject({ __typename: 'FingerprintMismatchError' });
    expect(await pair(alpha!, bravo!)).toMatchObject({ status: 'PENDING', approvedByThisServer: false });
    expect(await history(alpha!)).toEqual([]);

    // The fingerprint as people copy it: upper case, colon-separated, with a prefix.
    const copied = `SHA256:${bravo!.fingerprint.toUpperCase().match(/../g)!.join(':')}`;
    expect(await approve(alpha!, bravo!, copied)).toMatchObject({ __typename: 'ApproveTrustSuccess' });
    const spaced = alpha!.fingerprint.match(/.{4}/g)!.join(' ');
    expect(await approve(bravo!, alpha!, spaced)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
  });

  test('deny is final (rule 3): approve and revoke are refused, deny again changes nothing', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    expect(await approve(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'PENDING', deniedByThisServer: null } });
    expect(await deny(bravo!, alpha!)).toMatchObject({ __typename: 'DenyTrustSuccess', peerTrust: { status: 'DENIED', approvalRequired: false, deniedByThisServer: true } });
    // Each side is told who denied, and whose instance the denial is final for.
    expect(await approve(alpha!, bravo!)).toMatchObject({
      __typename: 'TrustDeniedError',
      message: 'bravo denied trust with this server, which is final for this instance of this server; reinstalled, this server appears to bravo as a new instance that it can approve',
    });
    expect(await approve(bravo!, alpha!)).toMatchObject({
      __typename: 'TrustDeniedError',
      message: 'this server denied trust with alpha, which is final for this instance of alpha; a reinstalled alpha appears as a new instance that can be approved',
    });
    expect(await revoke(alpha!, bravo!)).toMatchObject({ __typename: 'TrustDeniedError' });
    expect(await deny(bravo!, alpha!)).toMatchObject({ __typename: 'DenyTrustSuccess', peerTrust: { status: 'DENIED' } });
    // alpha denying too changes nothing: bravo denied.
    expect(await deny(alpha!, bravo!)).toMatchObject({ __typename: 'DenyTrustSuccess', peerTrust: { status: 'DENIED', deniedByThisServer: false } });
    expect((await history(alpha!)).map((e) => [e.kind, e.server])).toEqual([['TRUST_APPROVED', 'alpha'], ['TRUST_DENIED', 'bravo']]);
  });

  test('deny from TRUSTED and from REVOKED', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    await approve(alpha!, bravo!);
    await approve(bravo!, alpha!);
    expect(await deny(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'DENIED' } });

    const { servers: [charlie, delta] } = await startCluster(['charlie', 'delta']);
    await revoke(charlie!, delta!);
    expect(await deny(delta!, charlie!)).toMatchObject({ peerTrust: { status: 'DENIED' } });
  });

  test('revoke ends trust; a later approve starts a new round that needs both sides again', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    await approve(alpha!, bravo!);
    await approve(bravo!, alpha!);
    expect(await revoke(bravo!, alpha!)).toMatchObject({ __typename: 'RevokeTrustSuccess', peerTrust: { status: 'REVOKED', approvedByThisServer: false, approvedByPeer: false, approvalRequired: false } });
    expect(await revoke(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'REVOKED' } });
    expect(await pair(alpha!, bravo!)).toMatchObject({ status: 'REVOKED', approvalRequired: false });

    expect(await approve(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'PENDING', approvedByThisServer: true, approvedByPeer: false } });
    expect(await pair(bravo!, alpha!)).toMatchObject({ status: 'PENDING', approvalRequired: true, approvedByPeer: true });
    expect(await approve(bravo!, alpha!)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
    expect((await history(alpha!)).map((e) => e.kind)).toEqual([
      'TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED', 'TRUST_REVOKED', 'TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED',
    ]);
  });

  test('revoking a PENDING pair makes it REVOKED', async () => {
    const { servers: [alpha, bravo] } = await startCluster();
    await approve(alpha!, bravo!);
    expect(await revoke(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'REVOKED', approvedByThisServer: false } });
    expect((await history(bravo!)).map((e) => e.kind)).toEqual(['TRUST_APPROVED', 'TRUST_REVOKED']);
  });
});

describe('replacing a server', () => {
  test('revoke the old instance, decommission it, approve the new one on both sides', async () => {
    const cluster = await startCluster();
    const [alpha, bravo] = cluster.servers;
    await approve(alpha!, bravo!);
    await approve(bravo!, alpha!);

    // bravo's hardware is replaced: its old instance is revoked and decommissioned.
    expect(await revoke(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'REVOKED' } });
    await cluster.stopServer(bravo!);
    expect(await decommission(alpha!, bravo!)).toMatchObject({ __typename: 'DecommissionServerSuccess', server: { status: 'DECOMMISSIONED' } });
    expect(await approve(alpha!, bravo!)).toMatchObject({ __typename: 'ServerDecommissionedError' });

    // The reinstalled server is a new instance with a new key: it starts fresh.
    const bravo2 = await cluster.addServer('bravo');
    expect(bravo2.id).not.toBe(bravo!.id);
    expect(bravo2.fingerprint).not.toBe(bravo!.fingerprint);
    const pairs = await run(alpha!.reader, PeerTrustsDocument, { status: ['PENDING'] });
    expect(pairs.peerTrusts.edges.map((e) => [e.node.peer.id, e.node.approvalRequired])).toEqual([[bravo2.id, true]]);
    // Its only peer is alpha: not its decommissioned predecessor, which takes no decisions
    // and is no trust of the new instance's to decide, which says so.
    const peersOfNew = await run(bravo2.reader, PeerTrustsDocument, {});
    expect(peersOfNew.peerTrusts.edges.map((e) => e.node.peer.id)).toEqual([alpha!.id]);
    expect(await deny(bravo2, bravo!)).toMatchObject({ __typename: 'ServerDecommissionedError', message: expect.stringContaining('was never a peer of this server') });
    await approve(alpha!, bravo2);
    expect(await approve(bravo2, alpha!)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
    expect(await pair(alpha!, bravo!)).toMatchObject({ status: 'REVOKED', peer: { status: 'DECOMMISSIONED' } });
  });

  test('restarting with the same data directory is the same instance', async () => {
    const cluster = await startCluster();
    const [alpha, bravo] = cluster.servers;
    await approve(alpha!, bravo!);
    await approve(bravo!, alpha!);
    await cluster.stopServer(bravo!);
    const again = await cluster.addServer('bravo-renamed', bravo!.identityDir);
    expect(again.id).toBe(bravo!.id);
    expect(again.fingerprint).toBe(bravo!.fingerprint);
    expect(await pair(again, alpha!)).toMatchObject({ status: 'TRUSTED', peer: { name: 'alpha' } });
    expect(await pair(alpha!, again)).toMatchObject({ peer: { name: 'bravo-renamed' } });
    const servers = await run(alpha!.reader, ServersDocument, {});
    expect(servers.servers.edges).toHaveLength(2);
  });
});

describe('decommissioning (rule 4)', () => {
  test('revokes the PENDING and TRUSTED pairs of the server, leaves DENIED ones, and can be followed by deny', async () => {
    const { servers: [alpha, bravo, charlie, delta] } = await startCluster(['alpha', 'bravo', 'charlie', 'delta']);
    await approve(alpha!, bravo!);
    await approve(bravo!, alpha!); // alpha-bravo TRUSTED
    await approve(charlie!, bravo!); // bravo-charlie PENDING
    await deny(delta!, bravo!); // bravo-delta DENIED
    await approve(alpha!, charlie!); // alpha-charlie PENDING, not bravo's

    expect(await decommission(alpha!, bravo!)).toMatchObject({ server: { id: bravo!.id, status: 'DECOMMISSIONED' } });
    expect(await pair(alpha!, bravo!)).toMatchObject({ status: 'REVOKED', approvalRequired: false });
    expect(await pair(charlie!, bravo!)).toMatchObject({ status: 'REVOKED' });
    expect(await pair(delta!, bravo!)).toMatchObject({ status: 'DENIED' });
    expect(await pair(alpha!, charlie!)).toMatchObject({ status: 'PENDING' });

    // Decommissioning again changes nothing.
    const before = await history(alpha!, bravo!);
    expect(await decommission(charlie!, bravo!)).toMatchObject({ server: { status: 'DECOMMISSIONED' } });
    expect(await history(alpha!, bravo!)).toEqual(before);
    expect(before.map((e) => e.kind)).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED', 'TRUST_REVOKED', 'SERVER_DECOMMISSIONED']);
    expect((await history(charlie!, bravo!)).map((e) => [e.kind, e.server])).toEqual([['TRUST_APPROVED', 'charlie'], ['TRUST_REVOKED', 'alpha']]);

    // It cannot be approved, but it can be denied; it cannot approve either.
    expect(await approve(charlie!, bravo!)).toMatchObject({ __typename: 'ServerDecommissionedError', isThisServer: false });
    expect(await approve(bravo!, charlie!)).toMatchObject({ __typename: 'ServerDecommissionedError', isThisServer: true });
    expect(await deny(alpha!, bravo!)).toMatchObject({ peerTrust: { status: 'DENIED' } });
  });

  test("a decommissioned server's API changes no trust: it cannot decommission, deny, revoke or approve; restarted, it knows it", async () => {
    const cluster = await startCluster(['alpha', 'bravo', 'charlie']);
    const { db, servers: [alpha, bravo, charlie] } = cluster;
    await approve(bravo!, charlie!);
    expect(await decommission(alpha!, bravo!)).toMatchObject({ server: { status: 'DECOMMISSIONED' } });
    const before = await history(charlie!);
    for (const attempt of [decommission(bravo!, alpha!), deny(bravo!, charlie!), revoke(bravo!, alpha!), approve(bravo!, alpha!)]) {
      expect(await attempt).toMatchObject({ __typename: 'ServerDecommissionedError', isThisServer: true, message: expect.stringContaining('bravo') });
    }
    expect(await history(charlie!)).toEqual(before);
    expect((await run(alpha!.reader, ThisServerDocument, {})).thisServer.status).toBe('ONLINE');
    expect(await db.prisma.server.count({ where: { status: 'DECOMMISSIONED' } })).toBe(1);
    // Restarted on its data directory, it starts as what it is (its summary and console say so).
    expect(alpha!.app.decommissioned).toBe(false);
    await cluster.stopServer(bravo!);
    // delta joins while bravo is down: bravo, restarted, takes it as no peer, nor delta bravo.
    const delta = await cluster.addServer('delta');
    const restarted = await cluster.addServer('bravo', bravo!.identityDir);
    expect(restarted.app.decommissioned).toBe(true);
    const peersOf = async (server: TestServer) => (await run(server.reader, PeerTrustsDocument, {})).peerTrusts.edges.map((e) => e.node.peer.name).sort();
    expect(await peersOf(restarted)).toEqual(['alpha', 'charlie']);
    expect(await peersOf(delta)).toEqual(['alpha', 'charlie']);
  });

  test('two servers decommissioning each other at once: exactly one is decommissioned, as if it went first', async () => {
    const { db, servers } = await startCluster(['alpha', 'bravo', 'charlie', 'delta']);
    const [one, other] = [servers.slice(0, 2), servers.slice(2)].map((pair) => pair.sort((x, y) => (x.id < y.id ? -1 : 1)) as [TestServer, TestServer]);
    // Once the first decommission in flight is the one by the server with the lower id, once by the other.
    for (const [first, second] of [one!, other!.reverse() as [TestServer, TestServer]]) {
      const stalled = await stallWrites(db, 'Server', 'UPDATE', `NEW."status" = 'DECOMMISSIONED' AND NEW."id" = '${second.id}'`);
      const decommissioning = decommission(first, second);
      await waitForLockWaiters(db, 1);
      const answer = decommission(second, first);
      await Promise.race([answer, waitForLockWaiters(db, 2)]);
      await stalled.release();
      expect((await decommissioning).__typename).toBe('DecommissionServerSuccess');
      expect(await answer).toMatchObject({ __typename: 'ServerDecommissionedError', isThisServer: true });
      expect((await pair(first, second))?.peer.status).toBe('DECOMMISSIONED');
      expect((await run(first.reader, ThisServerDocument, {})).thisServer.status).toBe('ONLINE');
    }
  });

  test('a server cannot act on itself', async () => {
    const { servers: [alpha] } = await startCluster();
    expect(await approve(alpha!, alpha!)).toMatchObject({ __typename: 'SelfTrustError' });
    expect(await deny(alpha!, alpha!)).toMatchObject({ __typename: 'SelfTrustError' });
    expect(await revoke(alpha!, alpha!)).toMatchObject({ __typename: 'SelfTrustError' });
    expect(await decommission(alpha!, alpha!)).toMatchObject({ __typename: 'SelfTrustError' });
    expect(await history(alpha!)).toEqual([]);
    const me = await run(alpha!.reader, ThisServerDocument, {});
    expect(me.thisServer.status).toBe('ONLINE');
  });
});

describe('liveness', () => {
  test("each server's heartbeat keeps its lastSeenAt fresh", async () => {
    const { servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo'], { heartbeatSeconds: 0.2 });
    const seen = async () => (await run(alpha!.reader, PeerTrustDocument, { peerId: bravo!.id })).peerTrust!.peer.lastSeenAt;
    const first = await seen();
    await expect.poll(seen, { timeout: 5_000 }).not.toBe(first);
    expect(Date.parse(await seen())).toBeGreaterThan(Date.parse(first));
  });

  test('a server that misses its heartbeats is OFFLINE, pushed to subscribers, and ONLINE again when back', async () => {
    // 1 s: a busy machine that stalls this process for the 0.6 s of 0.2 s heartbeats would make charlie OFFLINE.
    const cluster = await startCluster(['alpha', 'bravo', 'charlie'], { heartbeatSeconds: 1 });
    const [alpha, bravo, charlie] = cluster.servers;
    const statusOfBravo = async () => (await pair(alpha!, bravo!))?.peer.status;
    expect(await statusOfBravo()).toBe('ONLINE');
    const changes = subscribe(alpha!.reader, ServerStatusChangedDocument, {});
    // Nothing changes while everyone heartbeats.
    await changes.expectSilence(1_000);

    await cluster.stopServer(bravo!);
    const offline = (await changes.next(5_000)).data?.serverStatusChanged;
    expect(offline).toMatchObject({ id: bravo!.id, status: 'OFFLINE' });
    expect(await statusOfBravo()).toBe('OFFLINE');

    // The same instance restarts from its data directory.
    await cluster.addServer('bravo', bravo!.identityDir);
    expect((await changes.next(5_000)).data?.serverStatusChanged).toMatchObject({ id: bravo!.id, status: 'ONLINE' });

    expect(await decommission(alpha!, charlie!)).toMatchObject({ __typename: 'DecommissionServerSuccess' });
    expect((await changes.next(5_000)).data?.serverStatusChanged).toMatchObject({ id: charlie!.id, status: 'DECOMMISSIONED' });
  });

  test('a server that stops cleanly is OFFLINE without waiting for missed heartbeats', async () => {
    const cluster = await startCluster(['alpha', 'bravo'], { heartbeatSeconds: 3 });
    const [alpha, bravo] = cluster.servers;
    const changes = subscribe(alpha!.reader, ServerStatusChangedDocument, {});
    // One look of alpha's at bravo first: a server seen for the first time is not a change.
    await changes.expectSilence(3_500);
    await cluster.stopServer(bravo!);
    // Alpha's next look, within 3 s, sees the stop. Missed heartbeats could not show
    // before 6 s: bravo's last one is at most 3 s old, and 3 missed take 9 s.
    expect((await changes.next(4_500)).data?.serverStatusChanged).toMatchObject({ id: bravo!.id, status: 'OFFLINE' });
  });
});

describe('lists', () => {
  test('are Relay connections with cursors and bounded pages', async () => {
    const { servers } = await startCluster(['s1', 's2', 's3', 's4']);
    const first = await run(servers[0]!.reader, ServersDocument, { first: 3 });
    expect(first.servers.edges.map((e) => e.node.name)).toEqual(['s1', 's2', 's3']);
    expect(first.servers.pageInfo.hasNextPage).toBe(true);
    const rest = await run(servers[0]!.reader, ServersDocument, { first: 3, after: first.servers.pageInfo.endCursor });
    expect(rest.servers.edges.map((e) => e.node.name)).toEqual(['s4']);
    expect(rest.servers.pageInfo.hasNextPage).toBe(false);

    const filtered = await run(servers[0]!.reader, PeerTrustsDocument, { status: ['TRUSTED'] });
    expect(filtered.peerTrusts.edges).toEqual([]);
    const pending = await run(servers[0]!.reader, PeerTrustsDocument, { status: ['PENDING'], first: 2 });
    expect(pending.peerTrusts.edges.map((e) => e.node.peer.name)).toEqual(['s2', 's3']);
  });
});
