// The first page of every list (trustHistory, peerTrusts, servers; first: 50) as a
// client reads it from a server of a small cluster and of a large one. The rows are
// loaded in bulk by SQL (unsigned: this measures the reads, which is what grows).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import pg from 'pg';
import { PeerTrustsDocument, ServersDocument, TrustHistoryDocument } from '../client/index.js';
import { createApp } from '../src/app.js';
import { createApiToken } from '../src/auth/tokens.js';
import { openPostgresDatabase } from '../src/db/client.js';
import { loadOrCreateRootKey } from '../src/identity/root-key.js';
import { createLogger } from '../src/logger.js';
import { jsonClient } from './load.js';

/**
 * Fills the database at `databaseUrl` up to `servers` servers (those registered count),
 * every pair of them, and `events` more history events spread evenly over the pairs:
 * unsigned rows, by SQL, on a connection of its own (no request's time limit applies to
 * a bulk load), with triggers and foreign-key checks off as `pg_restore
 * --disable-triggers` does: the rows are consistent by construction, and the checks
 * doubled the load's time (this needs a superuser, as the embedded database's is). The
 * two tables' secondary indexes are built after their rows, as pg_restore does: a row at
 * a time into random places of them took most of the load's time. All in one
 * transaction, so that a load that fails leaves every index as it was; the two tables
 * are locked for it (reads of them wait: their servers see the rows all at once), in
 * the order decisions take them, so that none can deadlock with it. Vacuumed after,
 * as autovacuum would do in time: so that it does not run while the reads are measured.
 * Shared by this bench and test/scale.test.ts.
 */
export async function loadAtScale(databaseUrl: string, servers: number, events: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const sql = (text: string) => client.query(text);
  try {
    await sql('BEGIN');
    await sql('SET LOCAL session_replication_role = replica');
    await sql(`SET LOCAL maintenance_work_mem = '256MB'`);
    await sql('LOCK TABLE "PeerTrust", "TrustEvent" IN ACCESS EXCLUSIVE MODE');
    // Unique ones stay: ON CONFLICT needs them, and they hold the rows' identity.
    const { rows: secondary } = await client.query<{ name: string; definition: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i
       WHERE i.indrelid IN ('"PeerTrust"'::regclass, '"TrustEvent"'::regclass)
         AND NOT i.indisunique`,
    );
    for (const { name } of secondary) await sql(`DROP INDEX ${name}`);
    await sql(`INSERT INTO "User" ("id", "name", "role") VALUES (gen_random_uuid(), 'scale-loader', 'ADMINISTRATOR') ON CONFLICT ("name") DO NOTHING`);
    await sql(`INSERT INTO "Server" ("id", "name", "addresses")
      SELECT gen_random_uuid(), 'server' || i, ARRAY['198.51.100.1'] FROM generate_series((SELECT count(*) FROM "Server") + 1, ${servers}) AS i`);
    // As registration pairs them: every server with every other.
    await sql(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
      SELECT gen_random_uuid(), LEAST(a."id", b."id"), GREATEST(a."id", b."id") FROM "Server" a JOIN "Server" b ON a."id" < b."id" ORDER BY 2, 3
      ON CONFLICT ("serverAId", "serverBId") DO NOTHING`);
    await sql(`CREATE TEMP TABLE "pairs" AS SELECT row_number() OVER () AS n, "id", "serverAId", "serverBId" FROM "PeerTrust"`);
    await sql(`INSERT INTO "TrustEvent" ("sequence", "kind", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
      SELECT (SELECT coalesce(max("sequence"), 0) FROM "TrustEvent") + s, 'TRUST_APPROVED', p."id", p."serverAId", p."serverBId", p."serverAId",
             (SELECT "id" FROM "User" WHERE "name" = 'scale-loader'), '{}', ''
      FROM generate_series(1::bigint, ${events}) AS s JOIN "pairs" p ON p.n = 1 + (s * 7919) % (SELECT count(*) FROM "pairs")`);
    for (const { definition } of secondary) await sql(definition);
    await sql('COMMIT');
    await sql('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
}

export const LISTS = {
  trustHistory: print(TrustHistoryDocument),
  peerTrusts: print(PeerTrustsDocument),
  servers: print(ServersDocument),
} as const;
export type List = keyof typeof LISTS;

export interface ServerAtScale {
  /** Reads the first page of `list` once, as the console does: its time in ms, and how many items it had. */
  firstPage(list: List): Promise<{ ms: number; items: number }>;
  stop(): Promise<void>;
}

/** A server (in this process) among `servers` on `databaseUrl`, with `events` history events. */
export async function serveAtScale(databaseUrl: string, servers: number, events: number): Promise<ServerAtScale> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'peertrust-bench-scale-'));
  const db = await openPostgresDatabase(databaseUrl);
  const rootKey = await loadOrCreateRootKey(dataDir);
  const app = createApp({ name: 'alpha', host: '127.0.0.1', port: 0, rootKey, addresses: ['127.0.0.1'], database: db, logger: createLogger('silent'), heartbeatSeconds: 3_600 });
  await app.start();
  const http = jsonClient(new URL(app.url).origin, 1);
  const stop = async () => {
    http.close();
    await app.stop();
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // First: a token is an entry of the history, and the loaded rows are past its counter.
    const { token } = await createApiToken(db, { userName: 'bench-reader', role: 'READ_ONLY' }, [{ serverId: app.serverId, key: rootKey }]);
    await loadAtScale(databaseUrl, servers, events);
    return {
      async firstPage(list) {
        const started = performance.now();
        const response = await http.post('/graphql', { query: LISTS[list], variables: { first: 50 } }, { authorization: `Bearer ${token}` });
        const elapsed = performance.now() - started;
        const body = response.body as { data?: Record<string, { edges: unknown[] }>; errors?: unknown };
        const items = body.data?.[list]?.edges.length;
        if (response.status !== 200 || body.errors || !items) throw new Error(`the first page of ${list}: HTTP ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
        return { ms: elapsed, items };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
