// Verifiable trust (issue 10): what an attacker with write access to the database does
// by raw SQL, on the embedded default and on PostgreSQL, is never reported as trusted:
// the pair is UNVERIFIED with the reason, pushed, logged and recorded; the history's
// hashes and signatures catch any rewrite, at run time and at restart.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, onTestFinished, test, vi } from 'vitest';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustChangedDocument,
  PeerTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
  ServersDocument,
  ThisServerDocument,
  TrustHistoryDocument,
  VerifyTrustHistoryDocument,
} from '../client/index.js';
import { hashToken, revokeApiTokens } from '../src/auth/tokens.js';
import { fingerprintOf } from '../src/identity/fingerprint.js';
import { verifyHistory } from '../src/trust/audit.js';
import { Ledger } from '../src/trust/ledger.js';
import { bearer, postGraphQL, run, signerIn, startCluster, subscribe, testDatabaseUrl, type TestCluster, type TestServer } from './helpers.js';

const backends = [
  { name: 'the embedded default', postgres: false },
  { name: 'PostgreSQL (TEST_DATABASE_URL)', postgres: true },
];
if (!testDatabaseUrl) console.warn('Tampering suite on PostgreSQL SKIPPED: set TEST_DATABASE_URL=postgresql://... to run it.');

const approve = (on: TestServer, peer: TestServer) =>
  run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.approveTrust);
const deny = (on: TestServer, peer: TestServer) =>
  run(on.admin, DenyTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } }).then((d) => d.denyTrust);
const pair = (on: TestServer, peer: TestServer) => run(on.reader, PeerTrustDocument, { peerId: peer.id }).then((d) => d.peerTrust!);
const kinds = (on: TestServer) => run(on.reader, TrustHistoryDocument, { first: 200 }).then((d) => d.trustHistory.edges.map((e) => e.node.kind));
const verify = (on: TestServer) => run(on.reader, VerifyTrustHistoryDocument, {}).then((d) => d.verifyTrustHistory);

/** Raw SQL, as an attacker with write access to the database would run it. */
const sql = (cluster: TestCluster, text: string, ...params: unknown[]) => cluster.db.prisma.$executeRawUnsafe(text, ...params);
const query = <Row>(cluster: TestCluster, text: string, ...params: unknown[]) => cluster.db.prisma.$queryRawUnsafe<Row[]>(text, ...params);
/** Changes the append-only tables, as their owner can. */
const bypassingTriggers = async (cluster: TestCluster, statements: string[]) => {
  const tables = ['TrustEvent', 'TrustLogHash', 'TrustCheckpoint', 'TrustCosignature'];
  await cluster.db.prisma.$transaction([
    ...tables.map((table) => cluster.db.prisma.$executeRawUnsafe(`ALTER TABLE "${table}" DISABLE TRIGGER USER`)),
    ...statements.map((statement) => cluster.db.prisma.$executeRawUnsafe(statement)),
    ...tables.map((table) => cluster.db.prisma.$executeRawUnsafe(`ALTER TABLE "${table}" ENABLE TRIGGER USER`)),
  ]);
};
const lastSequence = async (cluster: TestCluster) =>
  Number((await query<{ max: bigint }>(cluster, 'SELECT max("sequence") AS "max" FROM "TrustEvent"'))[0]!.max);

/** Two servers (alpha, bravo) whose error logs a test reads; the tampering watch runs every second. */
async function twoServers(postgres: boolean) {
  const logs: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => logs.push(line) });
  const cluster = await startCluster(['alpha', 'bravo'], { postgres, heartbeatSeconds: 1, logger });
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  return { cluster, alpha, bravo, logs };
}

async function trusted(postgres: boolean) {
  const setup = await twoServers(postgres);
  await approve(setup.alpha, setup.bravo);
  expect(await approve(setup.bravo, setup.alpha)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
  return setup;
}

/** Stops a server and starts it again on its data directory: its key and what it verified before. */
async function restart(cluster: TestCluster, server: TestServer): Promise<TestServer> {
  await cluster.stopServer(server);
  return cluster.addServer(server.name, server.identityDir);
}

for (const backend of backends) {
  describe.skipIf(backend.postgres && !testDatabaseUrl)(`tampering with the database, on ${backend.name}`, () => {
    test('a pair flipped to TRUSTED by SQL is UNVERIFIED on both servers, pushed, logged and recorded, never listed as TRUSTED', async () => {
      const { cluster, alpha, bravo, logs } = await twoServers(backend.postgres);
      await approve(alpha, bravo);
      const changes = subscribe(alpha.reader, PeerTrustChangedDocument, {});
      await sql(cluster, `UPDATE "PeerTrust" SET "status" = 'TRUSTED', "acceptedByA" = true, "acceptedByB" = true`);

      for (const [on, peer] of [[alpha, bravo], [bravo, alpha]] as const) {
        expect(await pair(on, peer)).toMatchObject({
          status: 'UNVERIFIED',
          unverifiedReason: expect.stringContaining('the database says TRUSTED, approved by this server and the peer; the signed history says PENDING'),
          approvalRequired: false,
        });
      }
      const listed = async (status: 'TRUSTED' | 'UNVERIFIED') =>
        (await run(alpha.reader, PeerTrustsDocument, { status: [status] })).peerTrusts.edges.map((e) => e.node.peer.name);
      expect(await listed('TRUSTED')).toEqual([]);
      expect(await listed('UNVERIFIED')).toEqual(['bravo']);

      // Pushed to subscribers as UNVERIFIED, without anyone asking.
      for (;;) {
        const pushed = (await changes.next(15_000)).data!.peerTrustChanged;
        if (pushed.status === 'UNVERIFIED') break;
      }
      await vi.waitFor(async () => expect(await kinds(alpha)).toContain('TAMPERING_DETECTED'), { timeout: 15_000, interval: 200 });
      expect(logs.join('')).toContain('a pair does not match the signed Trust History');
      // The history itself is intact: the tampering is in the pair's row.
      expect(await verify(alpha)).toMatchObject({ ok: true, brokenAt: null });
    });

    test('a denied pair made PENDING by SQL is UNVERIFIED, and approving it is refused on both sides', async () => {
      const { cluster, alpha, bravo } = await twoServers(backend.postgres);
      expect(await deny(alpha, bravo)).toMatchObject({ peerTrust: { status: 'DENIED' } });
      await sql(cluster, `UPDATE "PeerTrust" SET "status" = 'PENDING'`);
      expect(await pair(alpha, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: expect.stringContaining('the signed history says DENIED') });
      for (const [on, peer] of [[alpha, bravo], [bravo, alpha]] as const) {
        expect(await approve(on, peer)).toMatchObject({ __typename: 'UnverifiedTrustError', message: expect.stringContaining('DENIED') });
      }
      const [row] = await query<{ status: string }>(cluster, 'SELECT "status" FROM "PeerTrust"');
      expect(row!.status).toBe('PENDING');
      expect(await kinds(alpha)).not.toContain('TRUST_ENABLED');
    });

    test('who denied a pair is what the signed history says, not the stored event: its server changed by SQL does not change deniedByThisServer', async () => {
      const { cluster, alpha, bravo } = await twoServers(backend.postgres);
      expect(await deny(alpha, bravo)).toMatchObject({ peerTrust: { status: 'DENIED', deniedByThisServer: true } });
      // Both servers have verified the deny (a read of the pair catches the history up) before its event is changed.
      expect(await pair(bravo, alpha)).toMatchObject({ status: 'DENIED', deniedByThisServer: false });
      await bypassingTriggers(cluster, [`UPDATE "TrustEvent" SET "serverId" = '${bravo.id}' WHERE "kind" = 'TRUST_DENIED'`]);
      expect(await pair(alpha, bravo)).toMatchObject({ status: 'DENIED', deniedByThisServer: true });
      expect(await pair(bravo, alpha)).toMatchObject({ status: 'DENIED', deniedByThisServer: false });
    });

    test("an inserted RootKey row is not a server's key: the server keeps the key it holds, its peer reports the pair UNVERIFIED", async () => {
      const { cluster, alpha, bravo } = await trusted(backend.postgres);
      const rogue = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await sql(
        cluster,
        `INSERT INTO "RootKey" ("id", "serverId", "publicKey", "fingerprint", "createdAt") VALUES (gen_random_uuid(), $1::uuid, $2, $3, now() + interval '1 minute')`,
        alpha.id,
        rogue,
        fingerprintOf(rogue),
      );
      expect((await run(alpha.reader, ThisServerDocument, {})).thisServer.fingerprint).toBe(alpha.fingerprint);
      expect(await pair(bravo, alpha)).toMatchObject({
        status: 'UNVERIFIED',
        unverifiedReason: expect.stringContaining(`its key is now ${fingerprintOf(rogue)}, which the key you approved (${alpha.fingerprint}) did not endorse`),
      });
      await vi.waitFor(async () => expect(await kinds(bravo)).toContain('TAMPERING_DETECTED'), { timeout: 15_000, interval: 200 });
    });

    test('a TRUST_ENABLED event forged by SQL breaks the history where it was added; the pair it claims is UNVERIFIED', async () => {
      const { cluster, alpha, bravo } = await twoServers(backend.postgres);
      await approve(alpha, bravo);
      const forged = (await lastSequence(cluster)) + 1;
      // A copy of a real entry, made to say TRUST_ENABLED at the next place.
      await sql(
        cluster,
        `INSERT INTO "TrustEvent" ("sequence", "kind", "at", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
         SELECT $1::bigint, 'TRUST_ENABLED', "at", "peerTrustId", "serverAId", "serverBId", $2::uuid, "actorId", "fingerprints",
                replace(replace("entry", 'TRUST_APPROVED', 'TRUST_ENABLED'), '"sequence":' || "sequence", '"sequence":' || $1::bigint)
         FROM "TrustEvent" WHERE "kind" = 'TRUST_APPROVED'`,
        forged,
        bravo.id,
      );
      await sql(cluster, `UPDATE "TrustHistory" SET "length" = $1::bigint`, forged);
      await sql(cluster, `UPDATE "PeerTrust" SET "status" = 'TRUSTED', "acceptedByA" = true, "acceptedByB" = true, "lastSequence" = $1::bigint`, forged);
      for (const [on, peer] of [[alpha, bravo], [bravo, alpha]] as const) {
        expect(await pair(on, peer)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: expect.stringContaining(`broken at entry ${forged}`) });
      }
      expect(await verify(alpha)).toMatchObject({ ok: false, brokenAt: forged });
    });

    test("an event appended by a process of the previous version (without its pair's servers) gets them from its entry: it is in the history and the history verifies", async () => {
      const { cluster, alpha, bravo } = await twoServers(backend.postgres);
      await approve(alpha, bravo);
      const last = await lastSequence(cluster);
      // The same entry again, written as a process without the columns writes it.
      await cluster.db.prisma.$transaction([
        cluster.db.prisma.$executeRawUnsafe(`CREATE TEMP TABLE "kept" ON COMMIT DROP AS SELECT * FROM "TrustEvent" WHERE "sequence" = ${last}`),
        cluster.db.prisma.$executeRawUnsafe(`ALTER TABLE "TrustEvent" DISABLE TRIGGER "TrustEvent_append_only"`),
        cluster.db.prisma.$executeRawUnsafe(`DELETE FROM "TrustEvent" WHERE "sequence" = ${last}`),
        cluster.db.prisma.$executeRawUnsafe(`ALTER TABLE "TrustEvent" ENABLE TRIGGER "TrustEvent_append_only"`),
        cluster.db.prisma.$executeRawUnsafe(`INSERT INTO "TrustEvent" ("sequence", "kind", "at", "peerTrustId", "serverId", "actorId", "fingerprints", "entry")
          SELECT "sequence", "kind", "at", "peerTrustId", "serverId", "actorId", "fingerprints", "entry" FROM "kept"`),
      ]);
      const [row] = await query<{ serverAId: string | null }>(cluster, `SELECT "serverAId" FROM "TrustEvent" WHERE "sequence" = ${last}`);
      expect(row!.serverAId).not.toBeNull();
      expect(await kinds(bravo)).toContain('TRUST_APPROVED');
      expect(await verify(alpha)).toMatchObject({ ok: true, brokenAt: null });
    });

    test.each([
      ['an event column edited', (s: number) => [`UPDATE "TrustEvent" SET "kind" = 'TRUST_DENIED' WHERE "sequence" = ${s}`]],
      ["an event's servers edited, to hide it from one server's history", (s: number) => [`UPDATE "TrustEvent" SET "serverAId" = NULL WHERE "sequence" = ${s}`]],
      ['an entry edited, columns and all', (s: number) => [`UPDATE "TrustEvent" SET "kind" = 'TRUST_DENIED', "entry" = replace("entry", 'TRUST_APPROVED', 'TRUST_DENIED') WHERE "sequence" = ${s}`]],
      ['an entry deleted', (s: number) => [`DELETE FROM "TrustEvent" WHERE "sequence" = ${s}`]],
      [
        'two entries swapped',
        (s: number) => [
          `UPDATE "TrustEvent" SET "sequence" = -1 WHERE "sequence" = ${s}`,
          `UPDATE "TrustEvent" SET "sequence" = ${s} WHERE "sequence" = ${s + 1}`,
          `UPDATE "TrustEvent" SET "sequence" = ${s + 1} WHERE "sequence" = -1`,
        ],
      ],
    ])('the history rewritten behind the triggers (%s) is caught by verifyTrustHistory and at restart', async (_what, rewrite) => {
      const { cluster, alpha, bravo } = await trusted(backend.postgres);
      const [first] = await query<{ sequence: bigint }>(cluster, `SELECT min("sequence") AS "sequence" FROM "TrustEvent" WHERE "kind" = 'TRUST_APPROVED'`);
      const at = Number(first!.sequence);
      await bypassingTriggers(cluster, rewrite(at));
      expect(await verify(alpha)).toMatchObject({ ok: false, brokenAt: at, reason: expect.any(String) });
      const restarted = await restart(cluster, alpha);
      expect(await pair(restarted, bravo)).toMatchObject({ status: 'UNVERIFIED', unverifiedReason: expect.stringContaining(`broken at entry ${at}`) });
    });

    test('the tail cut off, its hashes and checkpoints too, is caught against what the servers verified, also at restart', async () => {
      const { cluster, alpha, bravo } = await trusted(backend.postgres);
      const last = await lastSequence(cluster);
      // What alpha verified is what the cut is caught against: bravo's approval reaches
      // alpha's history by a notice, which may not have come yet.
      await expect.poll(() => alpha.app.scope.ledger.size).toBeGreaterThanOrEqual(last);
      await bypassingTriggers(cluster, [
        `DELETE FROM "TrustEvent" WHERE "sequence" = ${last}`,
        `DELETE FROM "TrustLogHash" WHERE "index" >= ${last - 1}`,
        `DELETE FROM "TrustCosignature" WHERE "size" >= ${last}`,
        `DELETE FROM "TrustCheckpoint" WHERE "size" >= ${last}`,
        `UPDATE "TrustHistory" SET "length" = ${last - 1}`,
        `UPDATE "PeerTrust" SET "status" = 'PENDING', "acceptedByA" = true, "acceptedByB" = false, "lastSequence" = ${last - 1}`,
      ]);
      expect(await verify(alpha)).toMatchObject({ ok: false, brokenAt: last, reason: expect.stringContaining('entries were deleted') });
      const restarted = await restart(cluster, alpha);
      expect(await verify(restarted)).toMatchObject({ ok: false, brokenAt: last });
      expect((await pair(restarted, bravo)).status).not.toBe('TRUSTED');
    });

    test.each([
      ['deleted', (last: number) => [`DELETE FROM "TrustCosignature" WHERE "size" = ${last}`, `DELETE FROM "TrustCheckpoint" WHERE "size" = ${last}`], 'no signed checkpoint covers it'],
      [
        "replaced by the one before it, its signature and all",
        (last: number) => [`UPDATE "TrustCheckpoint" SET "note" = (SELECT "note" FROM "TrustCheckpoint" WHERE "size" < ${last} ORDER BY "size" DESC LIMIT 1) WHERE "size" = ${last}`],
        'checkpoint (does not verify|is of another history)',
      ],
    ])('the newest checkpoint %s is caught by the server that reads it at restart', async (_what, rewrite, reason) => {
      const { cluster, alpha, bravo } = await trusted(backend.postgres);
      const last = await lastSequence(cluster);
      await bypassingTriggers(cluster, rewrite(last));
      const restarted = await restart(cluster, alpha);
      expect(await pair(restarted, bravo)).toMatchObject({
        status: 'UNVERIFIED',
        unverifiedReason: expect.stringMatching(new RegExp(`broken at entry ${last}: .*${reason}`)),
      });
    });

    test('an API token minted by SQL does not authenticate: no statement, a copied one, or a role raised', async () => {
      const { cluster, alpha } = await twoServers(backend.postgres);
      const refused = async (token: string) => {
        const response = await postGraphQL(alpha.app.url, { query: '{ viewer { name role } }' }, bearer(token));
        const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
        return body.errors?.[0]?.extensions?.code;
      };
      const mint = async (copyStatement: boolean) => {
        const token = `ptk_${randomBytes(32).toString('base64url')}`;
        await sql(
          cluster,
          `INSERT INTO "ApiToken" ("id", "userId", "tokenHash", "statement", "signatures")
           SELECT gen_random_uuid(), "userId", $1, ${copyStatement ? '"statement", "signatures"' : 'NULL, NULL'} FROM "ApiToken"
           WHERE "userId" = (SELECT "id" FROM "User" WHERE "name" = 'admin') LIMIT 1`,
          hashToken(token),
        );
        return token;
      };
      expect(await refused(await mint(false))).toBe('UNAUTHENTICATED');
      expect(await refused(await mint(true))).toBe('UNAUTHENTICATED');

      await sql(cluster, `UPDATE "User" SET "role" = 'ADMINISTRATOR' WHERE "name" = 'reader'`);
      expect(await refused(cluster.readerToken)).toBe('UNAUTHENTICATED');
      // The real administrator's token still works.
      expect(await refused(cluster.adminToken)).toBeUndefined();
    });

    test('a token revoked in the history stays revoked when its row is un-revoked by SQL', async () => {
      const { cluster, alpha } = await twoServers(backend.postgres);
      expect(await revokeApiTokens(cluster.db, 'reader', await signerIn(cluster.db, alpha.identityDir))).toBe(1);
      await sql(cluster, `UPDATE "ApiToken" SET "revokedAt" = NULL`);
      await vi.waitFor(async () => {
        const response = await postGraphQL(alpha.app.url, { query: '{ viewer { name } }' }, bearer(cluster.readerToken));
        expect(response.status).toBe(401);
      });
    });

    test('a server that comes back with its name but a new key is a new instance, shown as a possible replacement', async () => {
      const { cluster, alpha, bravo } = await trusted(backend.postgres);
      await cluster.stopServer(bravo);
      const newBravo = await cluster.addServer('bravo');
      expect(newBravo.id).not.toBe(bravo.id);
      const seen = (await run(alpha.reader, ServersDocument, {})).servers.edges.map((e) => e.node);
      expect(seen.find((s) => s.id === newBravo.id)).toMatchObject({ name: 'bravo', possibleReplacementOf: { id: bravo.id, name: 'bravo' } });
      expect(seen.find((s) => s.id === bravo.id)).toMatchObject({ possibleReplacementOf: null });
      expect(await pair(alpha, newBravo)).toMatchObject({ status: 'PENDING', approvedByThisServer: false });
    });
  });
}

test('a peer decommissioned by another server after a pair was read, before its verdict, is no sign of tampering', async () => {
  const cluster = await startCluster(['alpha', 'bravo', 'papa']);
  const [alpha, bravo, papa] = cluster.servers as [TestServer, TestServer, TestServer];
  const { ledger, db } = alpha.app.scope;
  // What alpha read of its pair with papa, and of papa...
  const ids = [alpha.id, papa.id];
  const row = await db.prisma.peerTrust.findFirstOrThrow({ where: { serverAId: { in: ids }, serverBId: { in: ids } } });
  const papaAsRead = { fingerprint: papa.fingerprint, status: 'ACTIVE' };
  // ...then bravo decommissions papa (which revokes alpha's pair with it), and alpha's history reads that first.
  const decommissioned = await run(bravo.admin, DecommissionServerDocument, { input: { serverId: papa.id } });
  expect(decommissioned.decommissionServer.__typename).toBe('DecommissionServerSuccess');
  await ledger.catchUp();
  expect(await ledger.verdict(row, papaAsRead)).toEqual({ verified: true });
  expect(await pair(alpha, papa)).toMatchObject({ status: 'REVOKED', unverifiedReason: null });
});

test('verifications asked for at once take turns: one runs, and the requests made meanwhile share the next', async () => {
  const cluster = await startCluster(['alpha', 'bravo']);
  const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  await approve(alpha, bravo);
  const audits = vi.spyOn(Ledger.prototype, 'start');
  onTestFinished(() => audits.mockRestore());
  const reports = await Promise.all(Array.from({ length: 10 }, () => verifyHistory(alpha.app.scope)));
  expect(audits).toHaveBeenCalledTimes(2);
  expect(new Set(reports.map((report) => JSON.stringify(report))).size).toBe(1);
  expect(reports[0]).toMatchObject({ ok: true, size: await lastSequence(cluster), brokenAt: null });
  // Once they are done, the next request starts one of its own.
  await verifyHistory(alpha.app.scope);
  expect(audits).toHaveBeenCalledTimes(3);
});

test('a restart takes on the verified state it kept and verifies only what came after; a kept state the history does not match is dropped, and the history verified from its first entry', async () => {
  const logs: { msg: string; level: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string; level: number }) });
  const cluster = await startCluster(['alpha', 'bravo'], { logger });
  let [alpha, bravo] = cluster.servers as [TestServer, TestServer];
  await approve(alpha, bravo);
  expect(await approve(bravo, alpha)).toMatchObject({ peerTrust: { status: 'TRUSTED' } });
  const said = (text: string) => logs.filter((line) => line.msg.includes(text)).length;

  alpha = await restart(cluster, alpha);
  expect(said('took on the verified state it kept')).toBe(1);
  expect(said('verifying it from its first entry')).toBe(0);
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
  // A decision after the kept state is verified as it comes.
  await run(bravo.admin, RevokeTrustDocument, { input: { peerId: alpha.id } });
  await expect.poll(async () => (await pair(alpha, bravo)).status).toBe('REVOKED');
  expect(await verify(alpha)).toMatchObject({ ok: true });

  // A kept state of another history (its root changed): dropped, everything verified again.
  await cluster.stopServer(alpha);
  const file = path.join(alpha.identityDir, 'ledger-state.json');
  const kept = JSON.parse(await readFile(file, 'utf8')) as { root: string };
  await writeFile(file, JSON.stringify({ ...kept, root: Buffer.alloc(32).toString('base64') }));
  alpha = await cluster.addServer(alpha.name, alpha.identityDir);
  expect(said('verifying it from its first entry')).toBe(1);
  expect(await pair(alpha, bravo)).toMatchObject({ status: 'REVOKED', unverifiedReason: null });
  expect(await verify(alpha)).toMatchObject({ ok: true });

  // Cut short (a power cut while it was written, say), or another server's: the server still starts, and verifies all.
  for (const [kept, written] of [
    ['cut short', (text: string) => text.slice(0, text.length / 2)],
    ["another server's", (text: string) => JSON.stringify({ ...JSON.parse(text), serverId: bravo.id })],
  ] as const) {
    await cluster.stopServer(alpha);
    await writeFile(file, written(await readFile(file, 'utf8')));
    const before = said('not one this server can take on');
    alpha = await cluster.addServer(alpha.name, alpha.identityDir);
    expect(said('not one this server can take on'), kept).toBe(before + 1);
    expect(await pair(alpha, bravo)).toMatchObject({ status: 'REVOKED', unverifiedReason: null });
  }
});
