// The first page of the history (trustHistory(first: 50), as its resolver reads it,
// trustHistoryPage) for one server of a small cluster and of a large one: the rows are
// loaded in bulk by SQL (unsigned: this measures the query, which is what grows).
import pg from 'pg';
import { openPostgresDatabase } from '../src/db/client.js';
import { trustHistoryPage } from '../src/trust/peer-trusts.js';
import type { ServerScope } from '../src/trust/scope.js';
import { percentile } from './load.js';

/**
 * Fills the database at `databaseUrl` up to `servers` servers (those registered count),
 * every pair of them, and `events` more history events spread evenly over the pairs:
 * unsigned rows, by SQL, on a connection of its own (no request's time limit applies to
 * a bulk load). Shared by this bench and test/scale.test.ts.
 */
export async function loadAtScale(databaseUrl: string, servers: number, events: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const sql = (text: string) => client.query(text);
  try {
    await sql(`INSERT INTO "User" ("id", "name", "role") VALUES (gen_random_uuid(), 'scale-loader', 'ADMINISTRATOR') ON CONFLICT ("name") DO NOTHING`);
    await sql(`INSERT INTO "Server" ("id", "name", "addresses")
      SELECT gen_random_uuid(), 'server' || i, ARRAY['198.51.100.1'] FROM generate_series((SELECT count(*) FROM "Server") + 1, ${servers}) AS i`);
    // As registration pairs them: every server with every other.
    await sql(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
      SELECT gen_random_uuid(), LEAST(a."id", b."id"), GREATEST(a."id", b."id") FROM "Server" a JOIN "Server" b ON a."id" < b."id"
      ON CONFLICT ("serverAId", "serverBId") DO NOTHING`);
    await sql(`CREATE TEMP TABLE "pairs" AS SELECT row_number() OVER () AS n, "id", "serverAId", "serverBId" FROM "PeerTrust"`);
    await sql(`ALTER TABLE "TrustEvent" DISABLE TRIGGER USER`);
    await sql(`INSERT INTO "TrustEvent" ("sequence", "kind", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
      SELECT (SELECT coalesce(max("sequence"), 0) FROM "TrustEvent") + s, 'TRUST_APPROVED', p."id", p."serverAId", p."serverBId", p."serverAId",
             (SELECT "id" FROM "User" WHERE "name" = 'scale-loader'), '{}', ''
      FROM generate_series(1::bigint, ${events}) AS s JOIN "pairs" p ON p.n = 1 + (s * 7919) % (SELECT count(*) FROM "pairs")`);
    await sql(`ALTER TABLE "TrustEvent" ENABLE TRIGGER USER`);
    await sql('ANALYZE');
  } finally {
    await client.end();
  }
}

export interface HistoryPageTiming {
  p50Ms: number;
  plan: string;
}

/** p50 of the first page of one server's history, and the query's plan. */
export async function historyFirstPageAt(databaseUrl: string, servers: number, events: number, reads = 30): Promise<HistoryPageTiming> {
  const db = await openPostgresDatabase(databaseUrl);
  try {
    await loadAtScale(databaseUrl, servers, events);
    const [first] = await db.prisma.$queryRawUnsafe<{ id: string }[]>(`SELECT "id" FROM "Server" WHERE "name" = 'server1'`);
    const serverId = first!.id;
    // As the resolver reads trustHistory(first: 50): one more, to know whether a next page exists.
    const scope = { serverId, db } as ServerScope;
    const times: number[] = [];
    for (let i = 0; i < reads; i++) {
      const started = performance.now();
      await trustHistoryPage(scope, { take: 51 }, null);
      times.push(performance.now() - started);
    }
    const plan = await db.prisma.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT "sequence" FROM (
         (SELECT "sequence" FROM "TrustEvent" WHERE "serverAId" = $1::uuid ORDER BY "sequence" LIMIT 51) UNION ALL
         (SELECT "sequence" FROM "TrustEvent" WHERE "serverBId" = $1::uuid ORDER BY "sequence" LIMIT 51)) AS "own" ORDER BY "sequence" LIMIT 51`,
      serverId,
    );
    return { p50Ms: percentile(times.sort((a, b) => a - b), 50), plan: plan.map((row) => row['QUERY PLAN']).join('\n') };
  } finally {
    await db.close();
  }
}
