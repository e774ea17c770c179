// /health, /ready and /metrics on real servers: what a load balancer and Prometheus see.
import { expect, inject, onTestFinished, test } from 'vitest';
import { ApproveTrustDocument, DenyTrustDocument, TrustApprovalRequiredDocument } from '../client/index.js';
import { openPostgresDatabase } from '../src/db/client.js';
import { sql } from './ha-helpers.js';
import { freshDatabaseUrl, request, run, startCluster, subscribe } from './helpers.js';
import { serve } from './processes.js';
import { scrape, valueOf } from './prometheus.js';

const origin = (graphqlUrl: string) => graphqlUrl.replace(/\/graphql$/, '');

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('/health and /ready answer without a token and name only the server', async () => {
  const { servers: [alpha] } = await startCluster(['alpha']);
  const health = await getJson(`${origin(alpha!.app.url)}/health`);
  expect(health).toEqual({ status: 200, body: { status: 'ok', server: 'alpha', uptimeSeconds: expect.any(Number) } });
  const ready = await getJson(`${origin(alpha!.app.url)}/ready`);
  expect(ready).toEqual({
    status: 200,
    body: { status: 'ready', server: 'alpha', checks: { database: { ok: true }, listen: { ok: true }, migrations: { ok: true } } },
  });
});

test('/ready is 503 naming the migrations when one is no longer recorded', async () => {
  const { db, servers: [alpha] } = await startCluster(['alpha']);
  const [newest] = await db.prisma.$queryRaw<{ migration_name: string }[]>`SELECT max(migration_name) AS migration_name FROM "_prisma_migrations"`;
  await db.prisma.$executeRaw`DELETE FROM "_prisma_migrations" WHERE migration_name = ${newest!.migration_name}`;
  const ready = await getJson(`${origin(alpha!.app.url)}/ready`);
  expect(ready.status).toBe(503);
  expect(ready.body['checks']).toEqual({
    database: { ok: true },
    listen: { ok: true },
    migrations: { ok: false, reason: `not applied: ${newest!.migration_name}` },
  });
});

test('/ready turns 503 naming the database and LISTEN when a serve process loses its database; /health stays 200', async () => {
  const url = await freshDatabaseUrl({ migrated: true });
  const server = await serve('alpha', url);
  expect((await getJson(`${origin(server.url)}/ready`)).status).toBe(200);

  const database = new URL(url).pathname.slice(1);
  await sql(inject('embeddedServerUrl'), `DROP DATABASE ${database} WITH (FORCE)`);
  await expect
    .poll(async () => (await getJson(`${origin(server.url)}/ready`)).body, { timeout: 20_000, interval: 200 })
    .toEqual({
      status: 'not ready',
      server: 'alpha',
      checks: {
        database: { ok: false, reason: 'the database refused the query (SQLSTATE 3D000)' },
        listen: { ok: false, reason: 'the LISTEN connection was lost; reconnecting' },
        migrations: { ok: false, reason: 'not checked: the database did not answer' },
      },
    });
  const health = await getJson(`${origin(server.url)}/health`);
  expect(health.status).toBe(200);
  // Nothing about where the database is, or who connects to it.
  const ready = JSON.stringify((await getJson(`${origin(server.url)}/ready`)).body);
  expect(ready).not.toContain(database);
  expect(ready).not.toContain('postgres');
});

test('an idle connection the database ends, before Prisma ever used the pool, does not end the process; the next check reconnects', async () => {
  const url = await freshDatabaseUrl({ migrated: true });
  const db = await openPostgresDatabase(url);
  onTestFinished(() => db.close());
  // Through the pool alone: Prisma's adapter, which listens for the pool's errors while connected, has not connected.
  expect((await db.readiness()).database).toEqual({ ok: true });
  const database = new URL(url).pathname.slice(1);
  const ended = await sql<{ pid: number }>(
    inject('embeddedServerUrl'),
    `WITH idle AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'peertrust')
     SELECT pid FROM idle WHERE pg_terminate_backend(pid)`,
    [database],
  );
  expect(ended.length).toBeGreaterThan(0);
  // An 'error' event with no listener would be an uncaught exception here, failing the run.
  await expect.poll(async () => (await db.readiness()).database, { timeout: 10_000, interval: 100 }).toEqual({ ok: true });
});

test('/metrics counts each decision by kind and outcome, and follows subscriptions up and down', async () => {
  const { servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
  const decisions = (outcome: string, kind = 'approve') => valueOf(samples, 'peertrust_decisions_total', { kind, outcome });
  let samples = await scrape(alpha!.app.url);
  expect(decisions('ApproveTrustSuccess')).toBeUndefined();
  expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  expect(valueOf(samples, 'peertrust_db_pool_max_connections')).toBe(10);

  const approved = await run(alpha!.admin, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } });
  expect(approved.approveTrust.__typename).toBe('ApproveTrustSuccess');
  const wrong = await run(alpha!.admin, DenyTrustDocument, { input: { peerId: bravo!.id, fingerprint: alpha!.fingerprint } });
  expect(wrong.denyTrust.__typename).toBe('FingerprintMismatchError');
  samples = await scrape(alpha!.app.url);
  expect(decisions('ApproveTrustSuccess')).toBe(1);
  expect(decisions('FingerprintMismatchError', 'deny')).toBe(1);
  expect(valueOf(samples, 'peertrust_graphql_request_duration_seconds_count', { operation: 'mutation' })).toBe(2);
  expect(valueOf(samples, 'peertrust_db_pool_connections')).toBeGreaterThan(0);
  // Each server counts its own: bravo decided nothing.
  expect(valueOf(await scrape(bravo!.app.url), 'peertrust_decisions_total')).toBeUndefined();
  // A READ_ONLY user's attempt is refused before it is a decision.
  expect((await request(alpha!.reader, ApproveTrustDocument, { input: { peerId: bravo!.id, fingerprint: bravo!.fingerprint } })).error).toBeDefined();
  expect(valueOf(await scrape(alpha!.app.url), 'peertrust_decisions_total', { kind: 'approve' })).toBe(1);

  const live = () => scrape(bravo!.app.url).then((s) => valueOf(s, 'peertrust_subscriptions', { field: 'trustApprovalRequired' }) ?? 0);
  expect(await live()).toBe(0);
  const notices = subscribe(bravo!.admin, TrustApprovalRequiredDocument, {});
  expect((await notices.next()).data?.trustApprovalRequired.peerTrust.peer.name).toBe('alpha');
  expect(await live()).toBe(1);
  expect(valueOf(await scrape(bravo!.app.url), 'peertrust_notices_sent_total', { field: 'trustApprovalRequired' })).toBe(1);
  notices.unsubscribe();
  await expect.poll(live).toBe(0);
});

test('with PEERTRUST_METRICS_TOKEN, /metrics asks for it; /health and /ready still do not', async () => {
  const metricsToken = 'scrape-secret-0123456789';
  const server = await serve('alpha', await freshDatabaseUrl({ migrated: true }), { env: { PEERTRUST_METRICS_TOKEN: metricsToken } });
  const refused = await fetch(`${origin(server.url)}/metrics`);
  expect(refused.status).toBe(401);
  expect(refused.headers.get('www-authenticate')).toBe('Bearer');
  expect((await fetch(`${origin(server.url)}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  const samples = await scrape(server.url, { authorization: `Bearer ${metricsToken}` });
  expect(valueOf(samples, 'peertrust_db_pool_max_connections')).toBe(10);
  expect((await fetch(`${origin(server.url)}/health`)).status).toBe(200);
  expect((await fetch(`${origin(server.url)}/ready`)).status).toBe(200);
});
