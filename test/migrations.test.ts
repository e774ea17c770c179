// The database schema: migrations in Prisma's layout agree with schema.prisma, are
// recorded as Prisma records them, and the history table refuses to be rewritten.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { expect, onTestFinished, test } from 'vitest';
import { pendingSchemaChange } from '../scripts/lib/schema-engine.js';
import { openPostgresDatabase } from '../src/db/client.js';
import { migrationsDir } from '../src/db/migrate.js';
import { ApproveTrustDocument } from '../client/index.js';
import { freshDatabaseUrl, run, startCluster } from './helpers.js';

/** A connection to a new migrated database, and its URL. */
async function migratedDatabase() {
  const url = await freshDatabaseUrl({ migrated: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  onTestFinished(() => client.end());
  return { url, client };
}

test('schema.prisma and prisma/migrations agree (else: npm run migrate:new -- <name>)', async () => {
  expect(await pendingSchemaChange()).toBe('');
}, 120_000);

test('migrations are recorded in _prisma_migrations with Prisma\'s checksum, and applied once', async () => {
  const { url, client } = await migratedDatabase();
  const names = (await readdir(migrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const rows = (await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
    'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name',
  )).rows;
  expect(rows.map((r) => r.migration_name)).toEqual(names);
  for (const row of rows) {
    const sql = await readFile(path.join(migrationsDir, row.migration_name, 'migration.sql'));
    expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
    expect(row.finished_at).not.toBeNull();
  }
  // Opening again applies nothing.
  const db = await openPostgresDatabase(url);
  await db.close();
  expect((await client.query('SELECT 1 FROM "_prisma_migrations"')).rows).toHaveLength(names.length);
});

test('a migration edited after it was applied stops the start with a clear error', async () => {
  const { url, client } = await migratedDatabase();
  await client.query(`UPDATE "_prisma_migrations" SET checksum = 'edited'`);
  await expect(openPostgresDatabase(url)).rejects.toThrow(/was edited after it was applied/);
  await client.query(`UPDATE "_prisma_migrations" SET migration_name = '29990101000000_future'`);
  await expect(openPostgresDatabase(url)).rejects.toThrow(/written by a newer version/);
});

test('a fresh database is migrated from nothing', async () => {
  const db = await openPostgresDatabase(await freshDatabaseUrl());
  expect(await db.prisma.server.count()).toBe(0);
  expect(await db.prisma.trustHistory.findUniqueOrThrow({ where: { id: 1 } })).toEqual({
    id: 1,
    length: 0n,
    legacyLength: 0n,
    origin: expect.stringMatching(/^peertrust\/[0-9a-f-]{36}$/),
  });
  await db.close();
});

test('the history migration numbers existing events from 1 in their old order', async () => {
  const url = await freshDatabaseUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  onTestFinished(() => client.end());
  const migrations = (await readdir(migrationsDir)).filter((name) => !name.endsWith('.toml')).sort();
  const sequenceMigration = migrations.findIndex((name) => name.endsWith('_history_sequence'));
  for (const name of migrations.slice(0, sequenceMigration)) await client.query(await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8'));
  // Events as the SERIAL-id schema stored them, inserted out of id order.
  await client.query(`INSERT INTO "User" ("id", "name", "role") VALUES ('00000000-0000-4000-8000-000000000001', 'admin', 'ADMINISTRATOR')`);
  await client.query(`INSERT INTO "Server" ("id", "name") VALUES ('00000000-0000-4000-8000-00000000000a', 'a'), ('00000000-0000-4000-8000-00000000000b', 'b')`);
  await client.query(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId") VALUES ('00000000-0000-4000-8000-0000000000ab', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b')`);
  for (const [id, kind] of [[7, 'TRUST_REVOKED'], [3, 'TRUST_APPROVED'], [5, 'TRUST_ENABLED']] as const) {
    await client.query(
      `INSERT INTO "TrustEvent" ("id", "kind", "peerTrustId", "serverId", "actorId", "fingerprints")
       VALUES ($1, $2, '00000000-0000-4000-8000-0000000000ab', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', '{}')`,
      [id, kind],
    );
  }
  await client.query(await readFile(path.join(migrationsDir, migrations[sequenceMigration]!, 'migration.sql'), 'utf8'));
  const events = await client.query('SELECT "sequence", "kind" FROM "TrustEvent" ORDER BY "sequence"');
  expect(events.rows).toEqual([
    { sequence: '1', kind: 'TRUST_APPROVED' },
    { sequence: '2', kind: 'TRUST_ENABLED' },
    { sequence: '3', kind: 'TRUST_REVOKED' },
  ]);
  expect((await client.query('SELECT "length" FROM "TrustHistory"')).rows).toEqual([{ length: '3' }]);
});

test('the Trust History is append-only in the database itself', async () => {
  const { db, servers: [alpha, bravo] } = await startCluster();
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  expect(await db.prisma.trustEvent.count({ where: { kind: 'TRUST_APPROVED' } })).toBe(1);
  await expect(db.prisma.trustEvent.updateMany({ data: { kind: 'TRUST_DENIED' } })).rejects.toThrow(/append-only/);
  await expect(db.prisma.trustEvent.deleteMany()).rejects.toThrow(/append-only/);
  await expect(db.prisma.$executeRawUnsafe('TRUNCATE "TrustEvent" CASCADE')).rejects.toThrow(/append-only/);
  expect(await db.prisma.trustEvent.count({ where: { kind: 'TRUST_APPROVED' } })).toBe(1);
  // So are its Merkle tree's stored hashes and its checkpoints.
  for (const table of ['TrustLogHash', 'TrustCheckpoint']) {
    await expect(db.prisma.$executeRawUnsafe(`DELETE FROM "${table}"`)).rejects.toThrow(new RegExp(`append-only: DELETE on "${table}"`));
  }
});
