// npm run import-pglite -- --data-dir DIR: moves the data of an earlier peertrust's
// embedded database (PGlite, in DIR/db) into the embedded PostgreSQL (DIR/postgres).
// PostgreSQL cannot read PGlite's files (they are built for 32-bit WebAssembly), so the
// rows are copied: the new database is brought to the migration the old one had, the
// tables are copied in the order their foreign keys need, then the newer migrations run
// over the copy as they would have over the original. DIR/db is kept, renamed, never
// deleted. Needs the devDependencies (PGlite): run it from a source checkout.
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { EmbeddedPostgres, PGLITE_DIR } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';

/** Tables in the order their foreign keys allow inserting them. */
const TABLES = ['User', 'ApiToken', 'Server', 'RootKey', 'PeerTrust', 'TrustDecision', 'TrustEvent', 'TrustHistory'];
const BATCH = 10_000;

const { values } = parseArgs({ options: { 'data-dir': { type: 'string', default: './data' } } });
const dataDir = path.resolve(values['data-dir']!);
const source = path.join(dataDir, PGLITE_DIR);

const pglite = await PGlite.create(source);
const applied = (await pglite.query<{ migration_name: string }>(
  'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name',
)).rows.map((row) => row.migration_name);
if (!applied.length) throw new Error(`${source} has no peertrust migrations: nothing to import`);

// Moved aside first: the embedded PostgreSQL refuses to start beside a PGlite database.
const keptAs = `${source}.imported-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
await pglite.close();
await rename(source, keptAs);
const old = await PGlite.create(keptAs);
const server = await EmbeddedPostgres.start(dataDir, { purpose: 'import-pglite' });
const target = new pg.Client({ connectionString: server.url });
try {
  await target.connect();
  const existing = await target.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'Server'`);
  if (existing.rowCount) {
    const { rows } = await target.query<{ count: string }>('SELECT count(*) FROM "Server"');
    if (Number(rows[0]!.count) > 0) throw new Error(`${server.description} already holds data: import into an empty data directory`);
  }
  await migrate(target, applied.at(-1));
  await target.query('BEGIN');
  const copied: string[] = [];
  for (const table of TABLES) {
    const exists = (await old.query(`SELECT 1 FROM information_schema.tables WHERE table_name = $1`, [table])).rows.length > 0;
    if (!exists) continue;
    if (table === 'TrustHistory') await target.query('DELETE FROM "TrustHistory"');
    let count = 0;
    for (let offset = 0; ; offset += BATCH) {
      // Ordered by every column's text: a stable order whatever the table's key.
      const { rows } = await old.query<{ row: unknown }>(`SELECT to_jsonb(t) AS row FROM "${table}" t ORDER BY 1 LIMIT ${BATCH} OFFSET ${offset}`);
      if (!rows.length) break;
      await target.query(`INSERT INTO "${table}" SELECT * FROM jsonb_populate_recordset(NULL::"${table}", $1::jsonb)`, [JSON.stringify(rows.map((r) => r.row))]);
      count += rows.length;
    }
    copied.push(`${table} ${count}`);
  }
  // The old schema numbered events with a SERIAL: it continues after the copied ones.
  await target.query(`SELECT setval(s, (SELECT coalesce(max("id"), 0) + 1 FROM "TrustEvent"), false)
    FROM pg_get_serial_sequence('"TrustEvent"', 'id') AS s WHERE s IS NOT NULL`).catch(() => undefined);
  await target.query('COMMIT');
  const newer = await migrate(target);
  console.log(`imported ${copied.join(', ')} into ${server.description}; then applied ${newer.length} newer migration(s)`);
  console.log(`the PGlite database is kept in ${keptAs}; delete it once you have checked the import`);
} catch (error) {
  await target.query('ROLLBACK').catch(() => undefined);
  await rename(keptAs, source).catch(() => undefined);
  throw error;
} finally {
  await target.end().catch(() => undefined);
  await old.close();
  await server.stop();
}
