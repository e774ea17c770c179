// Verifiable trust (issue 10), what the servers' keys make possible: root key rotation
// without a new approval round, a resumable stream of the history, witnesses'
// cosignatures, and bundles an auditor verifies with no server and no database.
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test, vi } from 'vitest';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  PeerTrustDocument,
  RevokeTrustDocument,
  RotateRootKeyDocument,
  ThisServerDocument,
  TrustEventsDocument,
  ViewerDocument,
  TrustHistoryDocument,
  VerifyTrustHistoryDocument,
} from '../client/index.js';
import { formatFingerprint } from '../src/identity/fingerprint-text.js';
import { loadRootKey, prepareRotation } from '../src/identity/root-key.js';
import { createApiToken, hashToken } from '../src/auth/tokens.js';
import { canonical, signStatement, TokenStatement } from '../src/identity/statements.js';
import { exportBundle, verifyBundle, type HistoryBundle } from '../src/trust/bundle.js';
import { run, startCluster, subscribe, tempDir, type TestCluster, type TestServer } from './helpers.js';
import { forgeDecision, keyRowFor } from './forgery.js';
import { clientOf } from './ha-helpers.js';
import { peertrust } from './processes.js';

const approve = (on: TestServer, peer: TestServer, fingerprint = peer.fingerprint) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint } }).then((d) => d.approveTrust);
const revoke = (on: TestServer, peer: TestServer) => run(on.admin, RevokeTrustDocument, { input: { peerId: peer.id } }).then((d) => d.revokeTrust);
const pair = (on: TestServer, peer: TestServer) => run(on.reader, PeerTrustDocument, { peerId: peer.id }).then((d) => d.peerTrust!);
const rotate = (on: TestServer) => run(on.admin, RotateRootKeyDocument, {}).then((d) => d.rotateRootKey);
const verify = (on: TestServer) => run(on.reader, VerifyTrustHistoryDocument, {}).then((d) => d.verifyTrustHistory);
const history = (on: TestServer) =>
  run(on.reader, TrustHistoryDocument, { first: 200 }).then((d) => d.trustHistory.edges.map((e) => ({ sequence: e.node.sequence, kind: e.node.kind, fingerprints: e.node.fingerprints })));

async function trusted(): Promise<{ cluster: TestCluster; alpha: TestServer; bravo: TestServer }> {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  await approve(alpha, bravo);
  expect(await approve(bravo, alpha)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
  return { cluster, alpha, bravo };
}

/** Stops a server and starts it again on its data directory. */
async function restart(cluster: TestCluster, server: TestServer): Promise<TestServer> {
  await cluster.stopServer(server);
  return cluster.addServer(server.name, server.identityDir);
}

test('a rotated root key keeps trust: peers verify the endorsement, the history records both fingerprints, the old key is retired', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const old = alpha.fingerprint;
  const rotated = await rotate(alpha);
  if (rotated.__typename !== 'RotateRootKeySuccess') throw new Error(`rotation refused: ${rotated.__typename}`);
  const fresh = rotated.server.fingerprint;
  expect(fresh).not.toBe(old);
  expect((await loadRootKey(alpha.identityDir))!.fingerprint).toBe(fresh);
  expect(rotated.server.rootKeys).toEqual([
    { fingerprint: fresh, createdAt: expect.any(String), retiredAt: null },
    { fingerprint: old, createdAt: expect.any(String), retiredAt: expect.any(String) },
  ]);

  expect(await pair(bravo, alpha)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null, peer: { fingerprint: fresh } });
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
  expect((await history(bravo)).at(-1)).toMatchObject({ kind: 'KEY_ROTATED', fingerprints: [old, fresh] });
  // Tokens the old key signed still work on the server that now holds the new one.
  expect((await run(alpha.admin, ThisServerDocument, {})).thisServer.fingerprint).toBe(fresh);

  // After a restart the server holds the new key, its tokens (signed by the old one) still work, and trust holds.
  const again = await restart(cluster, alpha);
  expect(again.fingerprint).toBe(fresh);
  expect((await run(again.admin, ThisServerDocument, {})).thisServer.fingerprint).toBe(fresh);
  expect(await pair(again, bravo)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });

  // A new round is approved against the new key, and a second rotation chains on.
  await revoke(again, bravo);
  expect(await approve(bravo, again, old)).toMatchObject({ __typename: 'FingerprintMismatchError' });
  await approve(bravo, again, fresh);
  expect(await approve(again, bravo)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
  expect(await rotate(again)).toMatchObject({ __typename: 'RotateRootKeySuccess' });
  expect(await pair(bravo, again)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
  expect(await verify(bravo)).toMatchObject({ ok: true });
});

test('a key rotated away signs no more: a revoke signed with the old key (stolen, say) is not believed', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const stolen = (await loadRootKey(alpha.identityDir))!;
  await rotate(alpha);
  // Appended as the thief would, with the database and the old key: signed and hashed like any decision.
  await forgeDecision(cluster, { decider: alpha, key: stolen, kind: 'REVOKE', about: bravo, verified: undefined, event: 'TRUST_REVOKED' });
  expect(await pair(bravo, alpha)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: expect.stringContaining('a key its server rotated away at entry') });
});

test('a key rotated away issues no more tokens: one signed with it after the rotation, or an old one signed again with another role, is refused; one from before still works', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const stolen = (await loadRootKey(alpha.identityDir))!;
  const signer = [{ serverId: alpha.id, key: stolen }];
  const before = await createApiToken(cluster.db, { userName: 'before', role: 'READ_ONLY' }, signer);
  await rotate(alpha);
  await expect(createApiToken(cluster.db, { userName: 'thief', role: 'ADMINISTRATOR' }, signer)).rejects.toThrow(/was rotated away: no server takes a token it signs now/);
  // The thief, with the database and the old key, gets past that: the key's row said current for a moment.
  const listedAsCurrent = (current: boolean) =>
    cluster.db.prisma.$executeRaw`UPDATE "RootKey" SET "retiredAt" = ${current ? null : new Date()} WHERE "fingerprint" = ${stolen.fingerprint}`;
  await listedAsCurrent(true);
  const minted = await createApiToken(cluster.db, { userName: 'thief', role: 'ADMINISTRATOR' }, signer);
  await listedAsCurrent(false);
  // ...and signs the old READ_ONLY token's record again, as an administrator's.
  const row = await cluster.db.prisma.apiToken.findFirstOrThrow({ where: { tokenHash: hashToken(before.token) }, include: { user: true } });
  const raised = canonical(TokenStatement, { type: 'peertrust/token/v1', token: row.tokenHash, user: { id: row.user.id, name: row.user.name }, role: 'ADMINISTRATOR', time: new Date().toISOString() });
  await cluster.db.prisma.user.update({ where: { id: row.user.id }, data: { role: 'ADMINISTRATOR' } });
  await cluster.db.prisma.apiToken.update({
    where: { tokenHash: row.tokenHash },
    data: { statement: raised, signatures: [{ server: alpha.id, fingerprint: stolen.fingerprint, signature: signStatement(raised, stolen.privateKey) }] },
  });
  for (const server of [alpha, bravo]) {
    // bravo believes tokens that alpha's key (by its rotations) issued.
    for (const token of [minted.token, before.token]) {
      const refused = await run(clientOf(server.app.url, token), ViewerDocument, {}).catch((error: Error) => error.message);
      expect(refused).toMatch(/the token was not issued by this server or by a server it trusts/);
    }
  }
  // Put back as the history recorded it, the old token works again.
  await cluster.db.prisma.user.update({ where: { id: row.user.id }, data: { role: 'READ_ONLY' } });
  await cluster.db.prisma.apiToken.update({ where: { tokenHash: row.tokenHash }, data: { statement: row.statement, signatures: row.signatures ?? [] } });
  for (const server of [alpha, bravo]) {
    expect((await run(clientOf(server.app.url, before.token), ViewerDocument, {})).viewer).toMatchObject({ name: 'before', role: 'READ_ONLY' });
  }
  // Restarted, alpha takes on the state it kept, which holds what the history recorded of tokens.
  const again = await restart(cluster, alpha);
  expect((await run(clientOf(again.app.url, before.token), ViewerDocument, {})).viewer).toMatchObject({ name: 'before' });
  await expect(run(clientOf(again.app.url, minted.token), ViewerDocument, {})).rejects.toThrow(/the token was not issued by this server or by a server it trusts/);
  // A state kept by the version before (no token records) is set aside: the history, verified afresh, gives them.
  await cluster.stopServer(again);
  const stateFile = path.join(alpha.identityDir, 'ledger-state.json');
  const { tokenSignatures: _, ...older } = JSON.parse(await readFile(stateFile, 'utf8')) as Record<string, unknown>;
  await writeFile(stateFile, JSON.stringify({ ...older, version: 1 }));
  const upgraded = await cluster.addServer(alpha.name, alpha.identityDir);
  expect((await run(clientOf(upgraded.app.url, before.token), ViewerDocument, {})).viewer).toMatchObject({ name: 'before' });
  await expect(run(clientOf(upgraded.app.url, minted.token), ViewerDocument, {})).rejects.toThrow(/the token was not issued by this server or by a server it trusts/);
});

test('a key row added for a peer by SQL does not speak for it: a deny signed with it leaves the pair Unverified, not Denied', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const rogue = await keyRowFor(cluster, bravo, 'retired');
  await forgeDecision(cluster, { decider: bravo, key: rogue, kind: 'DENY', about: alpha, verified: alpha.fingerprint, event: 'TRUST_DENIED' });
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: `a DENY signed with ${rogue.fingerprint}, not a key of its server that this server approved` });
});

test('a server nobody approved cannot take a trusted peer away: its API refuses, and a decommission forced past it leaves the pair Unverified, saying whose it was', async () => {
  const { cluster, alpha, bravo } = await trusted();
  // A new instance against the same database, with its own key and an administrator token it signed.
  const mallory = await cluster.addServer('mallory');
  const decommission = () => run(mallory.admin, DecommissionServerDocument, { input: { serverId: bravo.id } }).then((d) => d.decommissionServer);
  expect(await decommission()).toMatchObject({ __typename: 'UntrustedDecommissionError', trustedBy: ['alpha'], message: expect.stringContaining('Decommission bravo from alpha') });
  // Past the API's check, with the database's help: mallory's pair with alpha said TRUSTED for the moment.
  const marked = (status: string) => cluster.db.prisma.$executeRaw`
    UPDATE "PeerTrust" SET "status" = ${status}::"TrustStatus" WHERE ${mallory.id}::uuid IN ("serverAId", "serverBId") AND ${alpha.id}::uuid IN ("serverAId", "serverBId")`;
  await marked('TRUSTED');
  expect(await decommission()).toMatchObject({ __typename: 'DecommissionServerSuccess' });
  await marked('PENDING');
  expect(await pair(alpha, bravo)).toMatchObject({
    status: 'UNVERIFIED',
    unverifiedReason: `revoked by a decommission that ${mallory.id}, a server this server does not trust, signed`,
  });
  expect(await pair(alpha, mallory)).toMatchObject({ status: 'PENDING', unverifiedReason: null });
});

test("a decommission that waits its turn behind a revoke of its decider decides on what the revoke left: refused, and no pair left Unverified", async () => {
  const cluster = await startCluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo, charlie] = cluster.servers as [TestServer, TestServer, TestServer];
  for (const [a, b] of [[alpha, bravo], [alpha, charlie], [bravo, charlie]] as const) {
    await approve(a, b);
    await approve(b, a);
  }
  const { prisma } = cluster.db;
  const waiting = async () => Number((await prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)[0]!.n);
  // The history's turn, held: alpha's revoke of bravo queues first, then bravo's decommission of charlie.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM "TrustHistory" WHERE "id" = 1 FOR UPDATE`;
    locked();
    await held;
  }, { timeout: 60_000 });
  // Held before the revoke is sent: a revoke that got there first would not wait, and the count below never come.
  await isLocked;
  const revoked = revoke(alpha, bravo);
  await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: 15_000, interval: 50 });
  const decommissioned = run(bravo.admin, DecommissionServerDocument, { input: { serverId: charlie.id } }).then((d) => d.decommissionServer);
  await vi.waitFor(async () => expect(await waiting()).toBe(2), { timeout: 15_000, interval: 50 });
  release();
  await holding;
  expect(await revoked).toMatchObject({ __typename: 'RevokeTrustSuccess' });
  expect(await decommissioned).toMatchObject({ __typename: 'UntrustedDecommissionError', trustedBy: ['alpha'] });
  expect(await pair(alpha, charlie)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
});

test('a rotation interrupted by a crash: the key the database recorded is kept, one it did not is forgotten', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const keyFile = path.join(alpha.identityDir, 'root-key.pem');
  const nextFile = path.join(alpha.identityDir, 'root-key.next.pem');
  const old = alpha.fingerprint;

  // Crashed after writing the next key, before the database recorded it: the old key stays.
  await cluster.stopServer(alpha);
  await copyFile(keyFile, `${keyFile}.saved`);
  await prepareRotation(alpha.identityDir);
  let restarted = await cluster.addServer('alpha', alpha.identityDir);
  expect(restarted.fingerprint).toBe(old);
  await expect(readFile(nextFile)).rejects.toMatchObject({ code: 'ENOENT' });

  // Crashed after the database recorded it, before the new key replaced the old file: the new key is kept.
  const rotated = await rotate(restarted);
  if (rotated.__typename !== 'RotateRootKeySuccess') throw new Error(`rotation refused: ${rotated.__typename}`);
  await cluster.stopServer(restarted);
  await rename(keyFile, nextFile);
  await rename(`${keyFile}.saved`, keyFile);
  restarted = await cluster.addServer('alpha', alpha.identityDir);
  expect(restarted.fingerprint).toBe(rotated.server.fingerprint);
  expect((await loadRootKey(alpha.identityDir))!.fingerprint).toBe(rotated.server.fingerprint);
  expect(await pair(bravo, restarted)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
});

test('trustEvents replays from a cursor, then streams, with no gap or repeat across a reconnect to another server, under a burst of decisions', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  await approve(alpha, bravo);
  const rounds = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await approve(bravo, alpha);
      await revoke(alpha, bravo);
      await approve(alpha, bravo);
    }
  };
  // Subscribed while decisions commit: the replay and the live events meet without overlap.
  const burst = rounds(5);
  const onAlpha = subscribe(alpha.reader, TrustEventsDocument, { after: 0 });
  await burst;
  const committed = (await history(alpha)).map((e) => e.sequence);
  const received: number[] = [];
  while (received.length < committed.length) received.push((await onAlpha.next(15_000)).data!.trustEvents.sequence);
  expect(received).toEqual(committed);
  onAlpha.unsubscribe();

  // Disconnected while more commit; resumed on the other server from the last one seen.
  await rounds(3);
  const onBravo = subscribe(bravo.reader, TrustEventsDocument, { after: received.at(-1)! });
  await approve(bravo, alpha);
  const all = (await history(bravo)).map((e) => e.sequence);
  const missed = all.filter((sequence) => sequence > received.at(-1)!);
  const resumed: number[] = [];
  while (resumed.length < missed.length) resumed.push((await onBravo.next(15_000)).data!.trustEvents.sequence);
  expect(resumed).toEqual(missed);
  await onBravo.expectSilence(300);
});

test('each server cosigns the checkpoints it verified; verifyTrustHistory reports the witnesses', async () => {
  const { alpha, bravo } = await trusted();
  await vi.waitFor(
    async () => {
      const report = await verify(alpha);
      expect(report).toMatchObject({ ok: true, brokenAt: null });
      expect(report.witnesses.sort()).toEqual([alpha.id, bravo.id].sort());
      // The checkpoint note: origin, size, root hash; the appender's signature and the two cosignatures.
      expect(report.checkpoint).toMatch(/^[^\n]+\n\d+\n[A-Za-z0-9+/=]+\n\n(— \S+ \S+\n){3}$/);
    },
    { timeout: 15_000, interval: 200 },
  );
});

test('a token issued (an entry about no pair) is read and cosigned too, not only at the next change of trust', async () => {
  const { cluster, alpha, bravo } = await trusted();
  await vi.waitFor(async () => expect((await verify(alpha)).witnesses).toContain(bravo.id), { timeout: 15_000, interval: 200 });
  // As `peertrust token create` does it, from a process that is no server.
  await createApiToken(cluster.db, { userName: 'auditor', role: 'READ_ONLY' }, [{ serverId: alpha.id, key: (await loadRootKey(alpha.identityDir))! }]);
  const size = await cluster.db.prisma.trustEvent.count();
  await vi.waitFor(
    async () => {
      const report = await verify(alpha);
      expect(report.size).toBe(size);
      expect(report.witnesses.sort()).toEqual([alpha.id, bravo.id].sort());
    },
    { timeout: 15_000, interval: 200 },
  );
});

test('a bundle verifies offline (whole, or one entry with its proof), across a rotation; any change to it is caught', async () => {
  const { cluster, alpha, bravo } = await trusted();
  const retired = alpha.fingerprint;
  await rotate(alpha);
  await approve(alpha, bravo);
  const size = (await history(alpha)).length;
  await vi.waitFor(async () => expect(await verify(alpha)).toMatchObject({ ok: true, witnesses: [expect.any(String), expect.any(String)] }), { timeout: 15_000, interval: 200 });

  const bundle = await exportBundle(cluster.db);
  const whole = verifyBundle(bundle, [bravo.fingerprint]);
  expect(whole).toMatchObject({ ok: true });
  expect(whole.size).toBeGreaterThanOrEqual(size);
  expect(whole.witnesses.map((w) => w.name).sort()).toEqual(['alpha', 'bravo']);
  for (let sequence = 1; sequence <= whole.size; sequence++) {
    expect(verifyBundle(await exportBundle(cluster.db, { sequence }), [bravo.fingerprint])).toMatchObject({ ok: true });
  }

  const changed = (change: (copy: HistoryBundle) => void) => {
    const copy = structuredClone(bundle);
    change(copy);
    return verifyBundle(copy);
  };
  expect(changed((b) => (b.entries![2] = b.entries![2]!.replace('"time":"2', '"time":"1')))).toMatchObject({ ok: false, reason: "the entries do not hash to the checkpoint's root" });
  expect(changed((b) => b.entries!.pop())).toMatchObject({ ok: false });
  expect(changed((b) => b.entries!.reverse())).toMatchObject({ ok: false, brokenAt: 1 });
  expect(changed((b) => (b.checkpoint = b.checkpoint.replace(/\n\d+\n/, `\n${whole.size + 1}\n`)))).toMatchObject({ ok: false, reason: expect.stringContaining('checkpoint does not verify') });
  expect(changed((b) => (b.keys = b.keys.map((k) => ({ ...k, publicKey: b.keys[0]!.publicKey }))))).toMatchObject({ ok: false });
  expect(verifyBundle(bundle, ['0'.repeat(64)])).toMatchObject({ ok: false, unanchored: true, reason: 'no key you trust signed or cosigned its checkpoint' });
  const single = await exportBundle(cluster.db, { sequence: 2 });
  // alpha's key as an auditor noted it before the rotation: the whole history's rotation,
  // signed by it, leads to the key alpha signs with now. One entry holds no rotation.
  expect(whole.signers.map((s) => s.fingerprint)).not.toContain(retired);
  const throughRotation = verifyBundle(bundle, [retired]);
  expect(throughRotation).toMatchObject({ ok: true });
  expect(throughRotation.anchoredBy).toContainEqual({ name: 'alpha', fingerprint: expect.not.stringMatching(retired), trusted: retired });
  expect(verifyBundle(single, [retired])).toMatchObject({ ok: false, reason: expect.stringContaining('a bundle of one entry holds no rotations') });
  // A changed entry is broken, whoever signed its checkpoint: not merely unanchored.
  const changedEntry = { ...single, entry: { ...single.entry!, text: single.entry!.text.replace('"time":"2', '"time":"1') } };
  expect(verifyBundle(changedEntry, ['0'.repeat(64)])).toMatchObject({ ok: false, brokenAt: 2 });
  expect(verifyBundle(changedEntry, ['0'.repeat(64)]).unanchored).toBeUndefined();
  // A signed statement replayed at another place, its signatures intact, is caught there.
  const replayed = changed((b) => {
    const entries = b.entries!.map((text) => JSON.parse(text) as { kind: string; statement?: string; signatures?: unknown });
    // The trust enabled by bravo's approval, carrying alpha's approval before it instead.
    const [first, later] = [entries.findIndex((e) => e.kind === 'TRUST_APPROVED'), entries.findIndex((e) => e.kind === 'TRUST_ENABLED')];
    b.entries![later] = JSON.stringify({ ...entries[later], statement: entries[first]!.statement, signatures: entries[first]!.signatures });
  });
  const enabled = bundle.entries!.findIndex((text) => text.includes('"TRUST_ENABLED"')) + 1;
  const alphaApproved = bundle.entries!.findIndex((text) => text.includes('"TRUST_APPROVED"')) + 1;
  expect(replayed).toMatchObject({ ok: false, brokenAt: enabled, reason: `its statement was made for entry ${alphaApproved}` });
  expect(verifyBundle({ ...single, entry: { ...single.entry!, sequence: 3 } })).toMatchObject({ ok: false, brokenAt: 3 });
});

test('peertrust history export and history verify --bundle, with no server and no database', async () => {
  const { cluster, alpha, bravo } = await trusted();
  // bravo appended last: the bundle names alpha once alpha has cosigned as a witness (and bravo, its signer, too).
  await vi.waitFor(async () => expect((await verify(alpha)).witnesses).toEqual(expect.arrayContaining([alpha.id, bravo.id])), { timeout: 15_000, interval: 200 });
  const dir = await tempDir();
  const file = path.join(dir, 'history.json');
  const exported = await peertrust(['history', 'export', '--data-dir', dir, '--out', file], { DATABASE_URL: cluster.databaseUrl });
  expect(exported.code, exported.stderr).toBe(0);
  expect(exported.stderr).toContain(`to ${file}`);

  const verified = await peertrust(['history', 'verify', '--bundle', file, '--trust', alpha.fingerprint.toUpperCase()]);
  expect(verified.code, verified.stderr).toBe(0);
  expect(verified.stdout).toMatch(/^ok: \d+ entries verify; root hash \S+\ncheckpoint signed by: /);
  expect(verified.stdout).toContain(`alpha ${formatFingerprint(alpha.fingerprint)}`);
  expect(verified.stdout).toMatch(new RegExp(`\nanchored by: (\\S+ \\S+, )*alpha ${formatFingerprint(alpha.fingerprint)}(,|\n)`));
  // bravo signed the checkpoint and cosigned it: its key anchors it once.
  const both = JSON.parse((await peertrust(['history', 'verify', '--bundle', file, '--json', '--trust', alpha.fingerprint, '--trust', bravo.fingerprint])).stdout) as { anchoredBy: { fingerprint: string }[] };
  expect(both.anchoredBy.map((key) => key.fingerprint).sort()).toEqual([alpha.fingerprint, bravo.fingerprint].sort());
  // A key that signed none of it: consistent, but not anchored, which is what it says.
  const stranger = await peertrust(['history', 'verify', '--bundle', file, '--trust', '0'.repeat(64)]);
  expect(stranger.code).toBe(1);
  expect(stranger.stderr).toMatch(/^peertrust: the bundle is consistent, but not anchored: no key you trust signed or cosigned its checkpoint\. It is signed by bravo /);
  // Without --trust it verifies only against the keys it names itself, and says so.
  const unanchored = await peertrust(['history', 'verify', '--bundle', file]);
  expect(unanchored.code, unanchored.stderr).toBe(0);
  expect(unanchored.stdout).toMatch(/^ok, not anchored: \d+ entries verify; [\s\S]*\nNot anchored: /);
  expect(JSON.parse((await peertrust(['history', 'verify', '--bundle', file, '--json'])).stdout)).toMatchObject({ ok: true, anchored: false });

  const bundle = JSON.parse(await readFile(file, 'utf8')) as HistoryBundle;
  const approval = bundle.entries!.findIndex((entry) => entry.includes('"TRUST_APPROVED"'));
  bundle.entries![approval] = bundle.entries![approval]!.replace('TRUST_APPROVED', 'TRUST_DENIED');
  await writeFile(file, JSON.stringify(bundle));
  const broken = await peertrust(['history', 'verify', '--bundle', file, '--json']);
  expect(broken.code).toBe(1);
  expect(broken.stderr).toContain(`the bundle does not verify: entry ${approval + 1}`);
  expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, brokenAt: approval + 1 });

  const one = await peertrust(['history', 'export', '--data-dir', dir, '--sequence', '2'], { DATABASE_URL: cluster.databaseUrl });
  expect(JSON.parse(one.stdout)).toMatchObject({ entry: { sequence: 2 } });
  const missing = await peertrust(['history', 'verify', '--bundle', path.join(dir, 'nothing.json')]);
  expect(missing.code).toBe(2);
});

test('a peer that reads the pair right after a rotation, before the rotation’s notice reaches it, verifies the rotation first', async () => {
  const { cluster, alpha, bravo } = await trusted();
  // No notice reaches any server of this process until the end: bravo learns of the rotation only by reading.
  const listeners = cluster.db.changes.listeners('notice');
  cluster.db.changes.removeAllListeners('notice');
  try {
    const rotated = await rotate(alpha);
    if (rotated.__typename !== 'RotateRootKeySuccess') throw new Error(`rotation refused: ${rotated.__typename}`);
    expect(await pair(bravo, alpha)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null, peer: { fingerprint: rotated.server.fingerprint } });
  } finally {
    for (const listener of listeners) cluster.db.changes.on('notice', listener);
  }
});
