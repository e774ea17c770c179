// The first page of the history (trustHistory(first: 50), as its resolver reads it,
// trustHistoryPage) for one server of a small cluster and of a large one: the rows are
// loaded in bulk by SQL (unsigned: this measures the query, which is what grows).
import { openPostgresDatabase, type Database } from '../src/db/client.js';
import { trustHistoryPage } from '../src/trust/peer-trusts.js';
import type { ServerScope } from '../src/trust/scope.js';
import { percentile } from './load.js';

/** `servers` servers, every pair of them, and `events` events spread evenly over the pairs. */
async function load(db: Database, servers: number, events: number): Promise<string> {
  const sql = (text: string) => db.prisma.$executeRawUnsafe(text);
  await sql(`INSERT INTO "User" ("id", "name", "role") VALUES (gen_random_uuid(), 'bench', 'ADMINISTRATOR')`);
  await sql(`INSERT INTO "Server" ("id", "name", "addresses") SELECT gen_random_uuid(), 'server' || i, ARRAY['198.51.100.1'] FROM generate_series(1, ${servers}) AS i`);
  await sql(`INSERT INTO "PeerTrust" ("id", "serverAId", "serverBId")
    SELECT gen_random_uuid(), LEAST(a."id", b."id"), GREATEST(a."id", b."id") FROM "Server" a JOIN "Server" b ON a."id" < b."id"`);
  await sql(`CREATE TEMP TABLE pairs AS SELECT row_number() OVER () AS n, "id", "serverAId", "serverBId" FROM "PeerTrust"`);
  await sql(`ALTER TABLE "TrustEvent" DISABLE TRIGGER USER`);
  await sql(`INSERT INTO "TrustEvent" ("sequence", "kind", "peerTrustId", "serverAId", "serverBId", "serverId", "actorId", "fingerprints", "entry")
    SELECT s, 'TRUST_APPROVED', p."id", p."serverAId", p."serverBId", p."serverAId", (SELECT "id" FROM "User" LIMIT 1), '{}', ''
    FROM generate_series(1::bigint, ${events}) AS s JOIN pairs p ON p.n = 1 + (s * 7919) % (SELECT count(*) FROM pairs)`);
  await sql(`ALTER TABLE "TrustEvent" ENABLE TRIGGER USER`);
  await sql('ANALYZE');
  const [first] = await db.prisma.$queryRawUnsafe<{ id: string }[]>(`SELECT "id" FROM "Server" WHERE "name" = 'server1'`);
  return first!.id;
}

export interface HistoryPageTiming {
  p50Ms: number;
  plan: string;
}

/** p50 of the first page of one server's history, and the query's plan. */
export async function historyFirstPageAt(databaseUrl: string, servers: number, events: number, reads = 30): Promise<HistoryPageTiming> {
  const db = await openPostgresDatabase(databaseUrl);
  try {
    const serverId = await load(db, servers, events);
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
