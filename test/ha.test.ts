// High availability: several `peertrust serve` processes sharing one PostgreSQL
// database, under concurrency and faults. Runs when TEST_DATABASE_URL is set.
import pg from 'pg';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  ApproveTrustDocument,
  createPeertrustClient,
  DenyTrustDocument,
  PeerTrustChangedDocument,
  PeerTrustDocument,
  RevokeTrustDocument,
  ServersDocument,
  ServerStatusChangedDocument,
  TrustApprovalRequiredDocument,
  TrustHistoryDocument,
  type PeertrustClient,
} from '../client/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMigrations } from '../src/db/migrate.js';
import { decide, type PairState, type Side } from '../src/trust/state-machine.js';
import { freshPostgresUrl, request, run, subscribe, testDatabaseUrl } from './helpers.js';
import { postgresBinDir, startPrivatePostgres } from './private-postgres.js';
import { peertrust, serve, type ServeProcess } from './processes.js';

if (!testDatabaseUrl) console.warn('HA suite SKIPPED: set TEST_DATABASE_URL=postgresql://... to run it.');
else if (!postgresBinDir) console.warn('HA database-restart test SKIPPED: no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql.');

async function sql<Row>(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** An administrator token made with the CLI, as an operator would. */
async function adminToken(databaseUrl: string): Promise<string> {
  const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator'], { DATABASE_URL: databaseUrl });
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim().split('\n').at(-1)!;
}

function clientOf(url: string | string[], token: string, onFailover?: (url: string) => void): PeertrustClient {
  const client = createPeertrustClient({ url, token, ...(onFailover ? { onFailover } : {}) });
  onTestFinished(() => client.close());
  return client;
}

/** Starts servers, one process each, at the same moment. */
function serveAll(names: string[], databaseUrl: string, heartbeatSeconds?: number): Promise<ServeProcess[]> {
  return Promise.all(names.map((name) => serve(name, databaseUrl, heartbeatSeconds ? { heartbeatSeconds } : {})));
}

type Kind = 'approve' | 'deny' | 'revoke';

/** One decision through `on`'s API about `peer`; returns the result's type name or the transport/GraphQL error. */
async function decideThrough(client: PeertrustClient, kind: Kind, peer: ServeProcess): Promise<string> {
  const fingerprinted = { input: { peerId: peer.id, fingerprint: peer.fingerprint } };
  const result =
    kind === 'approve'
      ? await request(client, ApproveTrustDocument, fingerprinted).then((r) => ({ error: r.error, type: r.data?.approveTrust.__typename }))
      : kind === 'deny'
        ? await request(client, DenyTrustDocument, fingerprinted).then((r) => ({ error: r.error, type: r.data?.denyTrust.__typename }))
        : await request(client, RevokeTrustDocument, { input: { peerId: peer.id } }).then((r) => ({ error: r.error, type: r.data?.revokeTrust.__typename }));
  return result.error ? `error: ${result.error.message}` : (result.type ?? 'no data');
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

const decisionOf = { TRUST_APPROVED: 'ACCEPT', TRUST_DENIED: 'DENY', TRUST_REVOKED: 'REVOKE' } as const;

interface EventRow {
  peerTrustId: string;
  kind: keyof typeof decisionOf | 'TRUST_ENABLED' | 'SERVER_DECOMMISSIONED';
  serverId: string;
}
interface PairRow extends PairState {
  id: string;
  serverAId: string;
  serverBId: string;
}

/**
 * Replays a pair's history, in the order it was appended, through the trust rules:
 * each decision must be a legal change from the state before it, and the end must be
 * the stored state. Returns the decisions, as "ACCEPT by A" and so on.
 */
function replay(pair: PairRow, events: EventRow[]): string[] {
  let state: PairState = { status: 'PENDING', acceptedByA: false, acceptedByB: false };
  const decisions: string[] = [];
  for (let i = 0; i < events.length; ) {
    const event = events[i]!;
    expect(event.kind, 'an event that starts a decision').toBeOneOf(Object.keys(decisionOf));
    const kind = decisionOf[event.kind as keyof typeof decisionOf];
    const side: Side = event.serverId === pair.serverAId ? 'A' : 'B';
    const decision = decide(state, side, kind);
    if (decision.outcome !== 'changed') throw new Error(`history of ${pair.id} has ${kind} by ${side} in ${state.status}, which changes nothing`);
    expect(events.slice(i, i + decision.events.length).map((e) => e.kind)).toEqual(decision.events);
    state = decision.next;
    decisions.push(`${kind} by ${side}`);
    i += decision.events.length;
  }
  expect({ status: pair.status, acceptedByA: pair.acceptedByA, acceptedByB: pair.acceptedByB }).toEqual(state);
  return decisions;
}

describe.skipIf(!testDatabaseUrl)('HA: several processes on one PostgreSQL (TEST_DATABASE_URL)', () => {
  test('processes starting together on a fresh database apply each migration once and all see each other', async () => {
    const url = await freshPostgresUrl();
    const servers = await serveAll(['p1', 'p2', 'p3', 'p4'], url);
    const applied = await sql<{ migration_name: string }>(url, 'SELECT migration_name FROM "_prisma_migrations" ORDER BY 1');
    expect(applied.map((m) => m.migration_name)).toEqual((await readMigrations()).map((m) => m.name));
    expect(await sql(url, 'SELECT 1 FROM "PeerTrust"')).toHaveLength(6);
    const token = await adminToken(url);
    const listed = await run(clientOf(servers[3]!.url, token), ServersDocument, {});
    expect(listed.servers.edges.map((e) => e.node.status)).toEqual(['ONLINE', 'ONLINE', 'ONLINE', 'ONLINE']);
  });

  /** `serve` on this URL exits with code 2 and one line matching `message`. */
  const expectOneLine = async (databaseUrl: string, message: RegExp) => {
    const result = await peertrust(['serve', '--name', 'a', '--port', '0'], { DATABASE_URL: databaseUrl });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    return result.stderr;
  };
  const testUrlWith = (change: Partial<Pick<URL, 'pathname' | 'username'>>) => Object.assign(new URL(testDatabaseUrl!), change).toString();

  test('configuration errors are one clear line and exit code 2: unreachable, no such database, no such user', async () => {
    await Promise.all([
      expectOneLine('postgresql://postgres@127.0.0.1:1/postgres', /^peertrust: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/postgres: connect ECONNREFUSED/),
      expectOneLine(testUrlWith({ pathname: '/peertrust_no_such_database' }), /^peertrust: cannot connect to PostgreSQL at .*: database "peertrust_no_such_database" does not exist$/),
      expectOneLine(testUrlWith({ username: 'peertrust_nobody' }), /^peertrust: cannot connect to PostgreSQL at .*: role "peertrust_nobody" does not exist$/),
    ]);
  });

  test.skipIf(!postgresBinDir)('a wrong password is one clear line and exit code 2, and the password is not printed', async () => {
    const database = await startPrivatePostgres({ password: 'right-password' });
    const wrong = Object.assign(new URL(database.url), { password: 'wrong-password' }).toString();
    const printed = await expectOneLine(wrong, /^peertrust: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/postgres: password authentication failed for user "postgres"$/);
    expect(printed).not.toContain('wrong-password');
    // The right one works: the server is really asking.
    const served = await serve('a', database.url);
    expect(served.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a change committed on one process reaches subscribers on the other: notice latency over 200 changes', async () => {
    const url = await freshPostgresUrl();
    const [alpha, bravo] = await serveAll(['alpha', 'bravo'], url);
    const token = await adminToken(url);
    const onAlpha = clientOf(alpha!.url, token);
    const onBravo = clientOf(bravo!.url, token);
    const approvals = subscribe(onBravo, TrustApprovalRequiredDocument, {});
    expect((await approvals.next()).data?.trustApprovalRequired.peerTrust.peer.id).toBe(alpha!.id);

    const arrivals: number[] = [];
    const changes = onBravo.urql.subscription(PeerTrustChangedDocument, {}).subscribe((result) => {
      expect(result.error).toBeUndefined();
      arrivals.push(performance.now());
    });
    onTestFinished(changes.unsubscribe);
    // The subscription is live once a change made now arrives.
    expect(await decideThrough(onAlpha, 'revoke', bravo!)).toBe('RevokeTrustSuccess');
    await expect.poll(() => arrivals.length).toBe(1);
    arrivals.length = 0;

    const fromCommit: number[] = [];
    const fromRequest: number[] = [];
    for (let i = 0; i < 200; i++) {
      const sent = performance.now();
      expect(await decideThrough(onAlpha, i % 2 === 0 ? 'approve' : 'revoke', bravo!)).toMatch(/Success$/);
      const answered = performance.now();
      await expect.poll(() => arrivals.length, { interval: 1 }).toBe(i + 1);
      fromCommit.push(arrivals[i]! - answered);
      fromRequest.push(arrivals[i]! - sent);
    }
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    console.log(
      `notice latency, alpha's process to a subscriber on bravo's, 200 changes: ` +
        `after alpha answered median ${ms(percentile(fromCommit, 50))}, worst ${ms(Math.max(...fromCommit))}; ` +
        `from the request median ${ms(percentile(fromRequest, 50))}, worst ${ms(Math.max(...fromRequest))}`,
    );
    // Every approve by alpha asked bravo's administrator again.
    for (let i = 0; i < 100; i++) expect((await approvals.next()).data?.trustApprovalRequired.peerTrust.approvedByPeer).toBe(true);
  });

  test('stress: hundreds of conflicting decisions through several processes end consistent (rule 5)', async () => {
    const url = await freshPostgresUrl();
    const names = ['s1', 's2', 's3', 's4', 's5'];
    const servers = await serveAll(names, url);
    const token = await adminToken(url);
    const clients = new Map(servers.map((s) => [s, clientOf(s.url, token)]));
    const pairs = servers.flatMap((x, i) => servers.slice(i + 1).map((y) => [x, y] as const));
    // Pairs of the revoke-races-approve kind start TRUSTED.
    const scenario = (index: number) => (['both approve', 'approve races deny', 'revoke races approve'] as const)[index % 3]!;
    await Promise.all(
      pairs.flatMap(([x, y], index) =>
        scenario(index) === 'revoke races approve'
          ? [decideThrough(clients.get(x)!, 'approve', y), decideThrough(clients.get(y)!, 'approve', x)]
          : [],
      ),
    );

    const operations: { pair: number; on: ServeProcess; kind: Kind; peer: ServeProcess }[] = [];
    pairs.forEach(([x, y], pair) => {
      for (let i = 0; i < 40; i++) {
        const [on, peer] = i % 2 === 0 ? [x, y] : [y, x];
        const kind: Kind =
          scenario(pair) === 'both approve' ? 'approve'
          : scenario(pair) === 'approve races deny' ? (i % 5 === 1 ? 'deny' : 'approve')
          : i % 2 === 0 ? 'revoke' : 'approve';
        operations.push({ pair, on, kind, peer });
      }
    });
    // Interleaved, so that every pair has decisions in flight at once.
    operations.sort(() => Math.random() - 0.5);
    const started = performance.now();
    const outcomes = await Promise.all(operations.map((op) => decideThrough(clients.get(op.on)!, op.kind, op.peer)));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `stress: ${operations.length} conflicting decisions on ${pairs.length} pairs through ${servers.length} processes in ${seconds.toFixed(2)} s ` +
        `(${(operations.length / seconds).toFixed(0)}/s)`,
    );

    // Only results of the contract: a success, or TrustDeniedError once a pair is DENIED.
    expect(new Set(outcomes)).toEqual(
      new Set(outcomes.filter((o) => ['ApproveTrustSuccess', 'DenyTrustSuccess', 'RevokeTrustSuccess', 'TrustDeniedError'].includes(o))),
    );

    const rows = await sql<PairRow>(url, 'SELECT "id", "serverAId", "serverBId", "status", "acceptedByA", "acceptedByB" FROM "PeerTrust"');
    const events = await sql<EventRow>(url, 'SELECT "peerTrustId", "kind", "serverId" FROM "TrustEvent" ORDER BY "id"');
    const recorded = await sql<{ peerTrustId: string; kind: string; serverId: string }>(url, 'SELECT "peerTrustId", "kind", "serverId" FROM "TrustDecision"');
    for (const [index, [x, y]] of pairs.entries()) {
      const row = rows.find((r) => [r.serverAId, r.serverBId].sort().join() === [x.id, y.id].sort().join())!;
      const history = events.filter((e) => e.peerTrustId === row.id);
      const decisions = replay(row, history);
      // One stored decision per change, and no change without one.
      const stored = recorded.filter((d) => d.peerTrustId === row.id);
      expect(stored.map((d) => `${d.kind} by ${d.serverId === row.serverAId ? 'A' : 'B'}`).sort()).toEqual([...decisions].sort());
      // Each change was answered as a success: nothing happened that no one was told of.
      const successes = operations.filter((op, i) => op.pair === index && outcomes[i]!.endsWith('Success')).length;
      expect(successes).toBeGreaterThanOrEqual(decisions.length - (scenario(index) === 'revoke races approve' ? 2 : 0));
      const expected = { 'both approve': 'TRUSTED', 'approve races deny': 'DENIED', 'revoke races approve': undefined }[scenario(index)];
      if (expected) expect(row.status).toBe(expected);
      if (expected === 'TRUSTED') expect(history.map((e) => e.kind).sort()).toEqual(['TRUST_APPROVED', 'TRUST_APPROVED', 'TRUST_ENABLED']);
      if (expected === 'DENIED') expect(history.at(-1)?.kind).toBe('TRUST_DENIED');
      // Both APIs show the stored state and the stored history.
      for (const [on, peer] of [[x, y], [y, x]] as const) {
        const client = clients.get(on)!;
        expect((await run(client, PeerTrustDocument, { peerId: peer.id })).peerTrust?.status).toBe(row.status);
        const api = await run(client, TrustHistoryDocument, { peerId: peer.id, first: 200 });
        expect(api.trustHistory.edges.map((e) => e.node.kind)).toEqual(history.map((e) => e.kind));
      }
    }
  });

  test('kill -9 of one process under load: the other serves on, its subscribers notice nothing, nothing committed is lost, clients fail over', async () => {
    const url = await freshPostgresUrl();
    const [alpha, bravo, charlie] = await serveAll(['alpha', 'bravo', 'charlie'], url, 0.5);
    const token = await adminToken(url);
    const onAlpha = clientOf(alpha!.url, token);
    const onBravo = clientOf(bravo!.url, token);

    /** Results of a subscription, each with when it arrived. */
    const record = (client: PeertrustClient) => {
      const seen: { at: number; error: unknown; status: string | undefined }[] = [];
      const { unsubscribe } = client.urql.subscription(PeerTrustChangedDocument, {}).subscribe((result) => {
        seen.push({ at: performance.now(), error: result.error, status: result.data?.peerTrustChanged.status });
      });
      onTestFinished(unsubscribe);
      return seen;
    };
    const onBravoChanges = record(onBravo);
    const statuses = subscribe(onBravo, ServerStatusChangedDocument, {});
    const moves: string[] = [];
    const failover = clientOf([alpha!.url, bravo!.url], token, (to) => moves.push(to));
    const failoverChanges = record(failover);
    // Both subscriptions are live once a change made now reaches them.
    expect(await decideThrough(onAlpha, 'approve', bravo!)).toBe('ApproveTrustSuccess');
    await expect.poll(() => [onBravoChanges.length, failoverChanges.length]).toEqual([1, 1]);

    // Load: alpha and bravo each approve, then revoke, charlie, one decision at a time, so each success is one change.
    let loading = true;
    const load = async (client: PeertrustClient, stopOnError: boolean) => {
      const outcomes: { outcome: string; ms: number }[] = [];
      let kind: Kind = 'approve';
      while (loading) {
        const sent = performance.now();
        const outcome = await decideThrough(client, kind, charlie!);
        outcomes.push({ outcome, ms: performance.now() - sent });
        if (outcome.startsWith('error') && stopOnError) break;
        if (outcome.endsWith('Success')) kind = kind === 'approve' ? 'revoke' : 'approve';
      }
      return outcomes;
    };
    const alphaLoad = load(onAlpha, true);
    const bravoLoad = load(onBravo, false);
    await sleep(1_500);
    const killedAt = performance.now();
    await alpha!.kill();
    await sleep(2_500);
    loading = false;
    const [alphaOutcomes, bravoOutcomes] = await Promise.all([alphaLoad, bravoLoad]);

    // Bravo served every request, during and after the kill.
    expect(bravoOutcomes.every((o) => o.outcome.endsWith('Success'))).toBe(true);
    const bravoSuccesses = bravoOutcomes.length;
    // Bravo's subscriber got every change of bravo's pairs, and never an error.
    await expect.poll(() => onBravoChanges.length).toBe(1 + bravoSuccesses);
    expect(onBravoChanges.filter((c) => c.error)).toEqual([]);
    expect(onBravoChanges.some((c) => c.at > killedAt + 1_000)).toBe(true);

    // Every decision alpha answered is stored; at most the one in flight at the kill is stored unanswered.
    const alphaSuccesses = alphaOutcomes.filter((o) => o.outcome.endsWith('Success')).length;
    expect(alphaSuccesses).toBeGreaterThan(2);
    const [{ count }] = (await sql<{ count: string }>(
      url,
      `SELECT count(*) FROM "TrustDecision" WHERE "serverId" = $1 AND "peerId" = $2`,
      [alpha!.id, charlie!.id],
    )) as [{ count: string }];
    expect(Number(count)).toBeGreaterThanOrEqual(alphaSuccesses);
    expect(Number(count)).toBeLessThanOrEqual(alphaSuccesses + 1);
    const rows = await sql<PairRow>(url, 'SELECT "id", "serverAId", "serverBId", "status", "acceptedByA", "acceptedByB" FROM "PeerTrust"');
    const events = await sql<EventRow>(url, 'SELECT "peerTrustId", "kind", "serverId" FROM "TrustEvent" ORDER BY "id"');
    for (const row of rows) replay(row, events.filter((e) => e.peerTrustId === row.id));

    // Bravo saw alpha go offline, and pushed it.
    const offline = await statuses.next(10_000);
    const detectedAfter = performance.now() - killedAt;
    expect(offline.data?.serverStatusChanged).toMatchObject({ id: alpha!.id, status: 'OFFLINE' });

    // The failover client moved to bravo and receives bravo's changes there.
    expect(moves).toEqual([bravo!.url]);
    expect(failover.url).toBe(bravo!.url);
    const resumed = failoverChanges.find((c) => c.at > killedAt && !c.error);
    expect(resumed).toBeDefined();
    expect(failoverChanges.filter((c) => c.error)).toEqual([]);
    console.log(
      `kill -9 of alpha: bravo answered ${bravoSuccesses} decisions meanwhile, slowest ${Math.max(...bravoOutcomes.map((o) => o.ms)).toFixed(0)} ms; ` +
        `alpha answered ${alphaSuccesses}, ${count} stored; failover subscriber received again ${(resumed!.at - killedAt).toFixed(0)} ms after the kill; ` +
        `alpha reported OFFLINE after ${(detectedAfter / 1000).toFixed(1)} s (heartbeat 0.5 s)`,
    );
  });

  test.skipIf(!postgresBinDir)('PostgreSQL restarted under load: requests get DATABASE_UNAVAILABLE, then everything recovers and no notice is lost', async () => {
    const database = await startPrivatePostgres();
    const [alpha, bravo] = await serveAll(['alpha', 'bravo'], database.url, 0.5);
    const token = await adminToken(database.url);
    const clients = [clientOf(alpha!.url, token), clientOf(bravo!.url, token)] as const;
    const onBravo = clients[1];
    const approvals = subscribe(onBravo, TrustApprovalRequiredDocument, {});
    expect((await approvals.next()).data?.trustApprovalRequired.peerTrust.peer.id).toBe(alpha!.id);
    const changes = subscribe(onBravo, PeerTrustChangedDocument, {});

    let loading = true;
    const load = async (client: PeertrustClient, peer: ServeProcess) => {
      const outcomes: { at: number; ms: number; outcome: string }[] = [];
      while (loading) {
        const sent = performance.now();
        const result = await request(client, PeerTrustDocument, { peerId: peer.id });
        const code = result.error?.graphQLErrors[0]?.extensions['code'];
        outcomes.push({ at: sent, ms: performance.now() - sent, outcome: result.error ? String(code ?? result.error.message) : 'ok' });
        await sleep(20);
      }
      return outcomes;
    };
    const loads = [load(clients[0], bravo!), load(clients[1], alpha!)];
    await sleep(500);
    const stoppedAt = performance.now();
    await database.stop();
    const outageStarted = performance.now();
    // Over HTTP: 503 with the code; a new subscriber: the same error, not a dropped connection.
    const response = await fetch(alpha!.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ thisServer { id } }' }),
    });
    expect(response.status).toBe(503);
    expect((await response.json()).errors[0].extensions.code).toBe('DATABASE_UNAVAILABLE');
    const late = subscribe(clientOf(bravo!.url, token), TrustApprovalRequiredDocument, {});
    expect((await late.next()).error?.graphQLErrors[0]?.extensions['code']).toBe('DATABASE_UNAVAILABLE');
    await sleep(2_000 - (performance.now() - outageStarted));
    await database.start();
    const startedAt = performance.now();
    // The re-sent approval notice says bravo's LISTEN is back.
    const resent = await approvals.next(15_000);
    const listenBackAfter = performance.now() - startedAt;
    expect(resent.data?.trustApprovalRequired.peerTrust.peer.id).toBe(alpha!.id);
    await sleep(500);
    loading = false;
    const outcomes = await Promise.all(loads);

    for (const [index, list] of outcomes.entries()) {
      const during = list.filter((o) => o.at > stoppedAt + 100 && o.at < startedAt - 100);
      expect(during.length, `requests to ${index ? 'bravo' : 'alpha'} during the outage`).toBeGreaterThan(5);
      // A clear answer, quickly: no hang, no other error.
      expect(new Set(during.map((o) => o.outcome))).toEqual(new Set(['DATABASE_UNAVAILABLE']));
      expect(Math.max(...list.map((o) => o.ms))).toBeLessThan(6_000);
      expect(list.at(-1)?.outcome).toBe('ok');
    }
    const recoveredAfter = outcomes.map((list) => list.find((o) => o.at >= startedAt && o.outcome === 'ok')!.at - startedAt);
    expect(alpha!.child.exitCode).toBeNull();
    expect(bravo!.child.exitCode).toBeNull();

    // A change committed on alpha after the restart reaches bravo's subscribers.
    expect(await decideThrough(clients[0], 'approve', bravo!)).toBe('ApproveTrustSuccess');
    expect((await approvals.next()).data?.trustApprovalRequired.peerTrust.approvedByPeer).toBe(true);
    for (let notice = await changes.next(); ; notice = await changes.next()) {
      expect(notice.error).toBeUndefined();
      if (notice.data?.peerTrustChanged.approvedByPeer) break;
    }
    console.log(
      `PostgreSQL down ${((startedAt - stoppedAt) / 1000).toFixed(1)} s: requests answered again ` +
        `${recoveredAfter.map((ms) => `${ms.toFixed(0)} ms`).join(' and ')} after it was back (alpha, bravo); ` +
        `bravo's LISTEN back and pending approvals re-sent after ${listenBackAfter.toFixed(0)} ms`,
    );
  });
});
