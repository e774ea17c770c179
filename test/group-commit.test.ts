// Group commit: the decisions one server makes at the same moment on different pairs
// share one transaction, one reservation and one checkpoint, and each keeps its own
// checks and outcome. Called on the running server's own scope, as its resolvers do, so
// that what waits together is known: the first starts alone, the rest wait for it.
import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { PeerTrustsDocument, VerifyTrustHistoryDocument } from '../client/index.js';
import { approveTrust } from '../src/trust/decisions.js';
import { FingerprintMismatchError } from '../src/trust/errors.js';
import type { RootKeyPair } from '../src/identity/root-key.js';
import { rotateRootKey, withOwnKey } from '../src/trust/keys.js';
import type { ServerScope } from '../src/trust/scope.js';
import { GroupCommit, type Settled } from '../src/trust/group-commit.js';
import { registerServer } from '../src/trust/servers.js';
import { keyPairInMemory, run, startCluster, type TestCluster, type TestServer } from './helpers.js';
import { waitForLockWaiters } from './stall.js';

/** `count` more servers registered on the cluster's database (not running: alpha decides about them). */
async function registerPeers(cluster: TestCluster, count: number) {
  const peers: { id: string; fingerprint: string }[] = [];
  for (let i = 0; i < count; i++) {
    const key = keyPairInMemory();
    const { serverId } = await registerServer(cluster.db, { name: `peer${i}`, addresses: [`198.51.100.${i + 1}`], key, heartbeatIntervalMs: 3_600_000 });
    peers.push({ id: serverId, fingerprint: key.fingerprint });
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

test('decisions that arrive while their server rotates its key sign with the new key, after the rotation', async () => {
  const { cluster, alpha, peers, actor } = await setUp(4);
  const before = alpha.app.scope.identity.key.fingerprint;
  // The history's counter, held by the test: the rotation waits for it with its reservation.
  let release!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const counterHeld = cluster.db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`UPDATE "TrustHistory" SET "length" = "length" WHERE "id" = 1`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    },
    { timeout: 30_000 },
  );
  await isLocked;
  const rotation = rotateRootKey(alpha.app.scope, actor);
  await waitForLockWaiters(cluster.db, 1);
  // Without turns, the decisions would take the old key as they are sent, and queue for the
  // counter behind the rotation.
  const decided = Promise.all(peers.map((peer) => approveTrust(alpha.app.scope, actor, { peerId: peer.id, fingerprint: peer.fingerprint })));
  release();
  await counterHeld;
  await rotation;
  const after = alpha.app.scope.identity.key.fingerprint;
  expect(after).not.toBe(before);
  const pairs = await decided;
  const statements = await cluster.db.prisma.trustDecision.findMany({ where: { peerTrustId: { in: pairs.map((p) => p.id) } }, select: { statement: true } });
  expect(statements.map((s) => (JSON.parse(s.statement!) as { decider: { fingerprint: string } }).decider.fingerprint)).toEqual(pairs.map(() => after));
  await expectVerified(alpha, peers.map((p) => p.id));
});

describe('GroupCommit, on its own', () => {
  /** Items are numbers; an item "conflicts" with another of the same parity when `byParity`. */
  function committer(options: { max?: number; byParity?: boolean; waitMs?: number; run?: (items: number[]) => Promise<Settled<string>[]> } = {}) {
    const batches: number[][] = [];
    const run =
      options.run ??
      (async (items: number[]) => {
        batches.push(items);
        return items.map((item) => (item < 0 ? { ok: false as const, error: new Error(`refused ${item}`) } : { ok: true as const, value: `done ${item}` }));
      });
    const group = new GroupCommit<number, string>(run, {
      max: options.max ?? 64,
      conflicts: (a, b) => !!options.byParity && a % 2 === b % 2,
      waitMs: options.waitMs ?? 10_000,
      tooLong: () => new Error('waited too long'),
      causedByAnItem: (error) => (error as Error).message === 'bad data',
    });
    return { group, batches };
  }

  test('the first item runs at once; those that arrive meanwhile go together, at most `max` in a batch, in order', async () => {
    const { group, batches } = committer({ max: 3 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((item) => group.submit(item)));
    expect(results).toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5', 'done 6']);
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  test('an item that conflicts with one in the batch waits for the next, keeping its place', async () => {
    const { group, batches } = committer({ byParity: true });
    await Promise.all([1, 3, 5, 2, 4].map((item) => group.submit(item)));
    expect(batches).toEqual([[1], [3, 2], [5, 4]]);
  });

  test('each item gets its own outcome', async () => {
    const { group } = committer();
    const outcomes = await Promise.allSettled([1, -2, 3].map((item) => group.submit(item)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['done 1', 'refused -2', 'done 3']);
  });

  test('a batch that fails on bad data is run again item by item; any other failure reaches every item of it, once', async () => {
    const runs: number[][] = [];
    const run = async (items: number[]) => {
      runs.push(items);
      if (items.includes(13)) throw new Error('bad data');
      if (items.includes(99)) throw new Error('the database is down');
      return items.map((item) => ({ ok: true as const, value: `done ${item}` }));
    };
    const { group } = committer({ run });
    const outcomes = await Promise.allSettled([1, 12, 13, 14].map((item) => group.submit(item)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['done 1', 'done 12', 'bad data', 'done 14']);
    expect(runs).toEqual([[1], [12, 13, 14], [12], [13], [14]]);

    runs.length = 0;
    const other = committer({ run }).group;
    const all = await Promise.allSettled([1, 98, 99].map((item) => other.submit(item)));
    expect(all.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['done 1', 'the database is down', 'the database is down']);
    expect(runs).toEqual([[1], [98, 99]]);
  });

  test('an item that waits longer than it may for its batch fails with tooLong; the others go on', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { group } = committer({
      waitMs: 50,
      run: async (items) => {
        if (items.includes(1)) await held;
        return items.map((item) => ({ ok: true as const, value: `done ${item}` }));
      },
    });
    const first = group.submit(1);
    const second = group.submit(2);
    await expect(second).rejects.toThrow('waited too long');
    release();
    expect(await first).toBe('done 1');
    expect(await group.submit(3)).toBe('done 3');
  });

  test('a run that gives fewer outcomes than items fails every item of the batch rather than leave one waiting', async () => {
    const { group } = committer({ run: async (items) => items.slice(1).map(() => ({ ok: true as const, value: 'done' })) });
    const outcomes = await Promise.allSettled([group.submit(1), group.submit(2), group.submit(3)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  test('a batch takes at least one item', () => {
    expect(() => committer({ max: 0 })).toThrow(RangeError);
  });
});

describe('withOwnKey', () => {
  test('work waits for the turn before it and gets the key as that turn left it, even when that turn failed', async () => {
    const keyA = { fingerprint: 'a' } as RootKeyPair;
    const keyB = { fingerprint: 'b' } as RootKeyPair;
    const scope = { identity: { key: keyA } } as unknown as ServerScope;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const rotation = withOwnKey(scope, async () => {
      await gate;
      scope.identity.key = keyB;
      throw new Error('the rotation failed after switching keys');
    });
    const decision = withOwnKey(scope, async (key) => void seen.push(key.fingerprint));
    await Promise.resolve();
    expect(seen).toEqual([]);
    release();
    await expect(rotation).rejects.toThrow('the rotation failed');
    await decision;
    expect(seen).toEqual(['b']);
  });
});
