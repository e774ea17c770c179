// The database schema: migrations in Prisma's layout agree with schema.prisma, are
// recorded as Prisma records them, and the history table refuses to be rewritten.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { expect, test } from 'vitest';
import { pendingSchemaChange } from '../scripts/lib/schema-engine.js';
import { openEmbeddedDatabase } from '../src/db/client.js';
import { migrationsDir } from '../src/db/migrate.js';
import { ApproveTrustDocument } from '../client/index.js';
import { freshPGlite, run, startCluster } from './helpers.js';

test('schema.prisma and prisma/migrations agree (else: npm run migrate:new -- <name>)', async () => {
  expect(await pendingSchemaChange()).toBe('');
}, 120_000);

test('migrations are recorded in _prisma_migrations with Prisma\'s checksum, and applied once', async () => {
  const pglite = await freshPGlite();
  const names = (await readdir(migrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const rows = (await pglite.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
    'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name',
  )).rows;
  expect(rows.map((r) => r.migration_name)).toEqual(names);
  for (const row of rows) {
    const sql = await readFile(path.join(migrationsDir, row.migration_name, 'migration.sql'));
    expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
    expect(row.finished_at).not.toBeNull();
  }
  // Opening again applies nothing.
  const db = await openEmbeddedDatabase({ pglite });
  await db.close();
  expect((await pglite.query('SELECT 1 FROM "_prisma_migrations"')).rows).toHaveLength(names.length);
  await pglite.close();
});

test('a migration edited after it was applied stops the start with a clear error', async () => {
  const pglite = await freshPGlite();
  await pglite.query(`UPDATE "_prisma_migrations" SET checksum = 'edited'`);
  await expect(openEmbeddedDatabase({ pglite })).rejects.toThrow(/was edited after it was applied/);
  await pglite.query(`UPDATE "_prisma_migrations" SET migration_name = '29990101000000_future'`);
  await expect(openEmbeddedDatabase({ pglite })).rejects.toThrow(/written by a newer version/);
  await pglite.close();
});

test('a fresh database is migrated from nothing', async () => {
  const pglite = new PGlite();
  const db = await openEmbeddedDatabase({ pglite });
  expect(await db.prisma.server.count()).toBe(0);
  await db.close();
  await pglite.close();
});

test('the Trust History is append-only in the database itself', async () => {
  const { db, servers: [alpha, bravo] } = await startCluster();
  await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  expect(await db.prisma.trustEvent.count()).toBe(1);
  await expect(db.prisma.trustEvent.updateMany({ data: { kind: 'TRUST_DENIED' } })).rejects.toThrow(/append-only/);
  await expect(db.prisma.trustEvent.deleteMany()).rejects.toThrow(/append-only/);
  await expect(db.prisma.$executeRawUnsafe('TRUNCATE "TrustEvent" CASCADE')).rejects.toThrow(/append-only/);
  expect((await db.prisma.trustEvent.findFirstOrThrow()).kind).toBe('TRUST_APPROVED');
});
