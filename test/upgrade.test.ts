// Upgrading from an earlier peertrust, whose embedded database was PGlite: its data is
// copied into the embedded PostgreSQL, nothing is lost, and the old files are kept.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { expect, test } from 'vitest';
import { PeerTrustDocument, TrustHistoryDocument, ViewerDocument } from '../client/index.js';
import { createHash } from 'node:crypto';
import { applyMigrations } from '../src/db/migrate.js';
import { loadOrCreateRootKey } from '../src/identity/root-key.js';
import { clientOf } from './ha-helpers.js';
import { request, run, tempDir } from './helpers.js';
import { peertrust, serve } from './processes.js';

const exec = promisify(execFile);

/** The last migration of the PGlite era. */
const PGLITE_SCHEMA = '20261128124137_clean_stop';

test('npm run import-pglite copies an earlier PGlite database into the embedded PostgreSQL', async () => {
  const dataDir = await tempDir();
  const alpha = await loadOrCreateRootKey(dataDir);
  const token = 'ptk_imported-token-of-an-earlier-version';
  // What the earlier version left in <data-dir>/db: two servers, a trusted pair, its history, a token.
  const pglite = await PGlite.create(path.join(dataDir, 'db'));
  await pglite.transaction((tx) =>
    applyMigrations({ query: async (sql, params) => (await tx.query(sql, params)).rows as never, exec: async (sql) => void (await tx.exec(sql)) }, PGLITE_SCHEMA),
  );
  const a = '00000000-0000-4000-8000-00000000000a';
  const b = '00000000-0000-4000-8000-00000000000b';
  const pair = '00000000-0000-4000-8000-0000000000ab';
  const admin = '00000000-0000-4000-8000-000000000001';
  await pglite.exec(`
    INSERT INTO "User" ("id", "name", "role") VALUES ('${admin}', 'ops', 'ADMINISTRATOR');
    INSERT INTO "ApiToken" ("id", "userId", "tokenHash") VALUES (gen_random_uuid(), '${admin}', '${createHash('sha256').update(token).digest('hex')}');
    INSERT INTO "Server" ("id", "name", "addresses") VALUES ('${a}', 'alpha', '{192.0.2.1}'), ('${b}', 'bravo', '{192.0.2.2}');
    INSERT INTO "RootKey" ("id", "serverId", "publicKey", "fingerprint") VALUES
      (gen_random_uuid(), '${a}', '${alpha.publicKeyPem}', '${alpha.fingerprint}'),
      (gen_random_uuid(), '${b}', 'not used', '${'b'.repeat(64)}');
    INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId", "status", "acceptedByA", "acceptedByB") VALUES ('${pair}', '${a}', '${b}', 'TRUSTED', true, true);
    INSERT INTO "TrustDecision" ("id", "peerTrustId", "serverId", "peerId", "kind", "fingerprint", "actorId") VALUES
      (gen_random_uuid(), '${pair}', '${a}', '${b}', 'ACCEPT', '${'b'.repeat(64)}', '${admin}'),
      (gen_random_uuid(), '${pair}', '${b}', '${a}', 'ACCEPT', '${alpha.fingerprint}', '${admin}');
    INSERT INTO "TrustEvent" ("kind", "peerTrustId", "serverId", "actorId", "fingerprints") VALUES
      ('TRUST_APPROVED', '${pair}', '${a}', '${admin}', '{${'b'.repeat(64)}}'),
      ('TRUST_APPROVED', '${pair}', '${b}', '${admin}', '{${alpha.fingerprint}}'),
      ('TRUST_ENABLED', '${pair}', '${b}', '${admin}', '{${alpha.fingerprint},${'b'.repeat(64)}}');
  `);
  await pglite.close();

  // Until it is imported, the server refuses to start beside it rather than hide its data.
  const refused = await peertrust(['serve', '--name', 'alpha', '--port', '0', '--data-dir', dataDir]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('holds the PGlite database of an earlier peertrust; `npm run import-pglite -- --data-dir');

  const imported = await exec('npx', ['tsx', 'scripts/import-pglite.ts', '--data-dir', dataDir], { cwd: path.resolve(import.meta.dirname, '..') });
  expect(imported.stdout).toMatch(/imported User 1, ApiToken 1, Server 2, RootKey 2, PeerTrust 1, TrustDecision 2, TrustEvent 3 into embedded PostgreSQL/);
  expect(existsSync(path.join(dataDir, 'db'))).toBe(false);
  expect((await readdir(dataDir)).some((name) => name.startsWith('db.imported-'))).toBe(true);

  const server = await serve('alpha', '', { dataDir });
  expect(server.id).toBe(a);
  // A token of before signed tokens is refused, saying so; one issued now by alpha's key works.
  const old = await request(clientOf(server.url, token), ViewerDocument, {});
  expect(old.error?.graphQLErrors[0]?.message).toMatch(/^the token was issued before tokens were signed: issue a new one/);
  const issued = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', '--data-dir', dataDir]);
  expect(issued.code, issued.stderr).toBe(0);
  const client = clientOf(server.url, issued.stdout.trim().split('\n').at(-1)!);
  expect((await run(client, ViewerDocument, {})).viewer?.name).toBe('ops');
  expect((await run(client, PeerTrustDocument, { peerId: b })).peerTrust).toMatchObject({ status: 'TRUSTED', unverifiedReason: null });
  const history = (await run(client, TrustHistoryDocument, {})).trustHistory.edges.map((e) => [e.node.sequence, e.node.kind]);
  expect(history).toEqual([
    [1, 'TRUST_APPROVED'],
    [2, 'TRUST_APPROVED'],
    [3, 'TRUST_ENABLED'],
  ]);
  // Registered before registrations were recorded, alpha records its own at its first start now, signed with its key; bravo, not started, has none.
  const exported = await peertrust(['history', 'export', '--data-dir', dataDir]);
  expect(exported.code, exported.stderr).toBe(0);
  const entries = (JSON.parse(exported.stdout) as { entries: string[] }).entries.map((text) => JSON.parse(text) as { sequence: number; kind: string; server: string; fingerprints: string[] });
  expect(entries.filter((entry) => entry.kind === 'SERVER_REGISTERED')).toEqual([expect.objectContaining({ sequence: 4, server: a, fingerprints: [alpha.fingerprint] })]);
});
