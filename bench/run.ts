// npm run bench: figures that tests must not assert on a noisy machine. Everything is
// measured in this one run and reported as ratios to a ceiling measured beside it:
//   1. `npm start` (peertrust cluster) to ready, fresh and restarted, against the
//      embedded database's own start, fresh (initdb) and restarted.
//   2. Sequential trust decisions through the API, on the embedded PostgreSQL and on
//      PostgreSQL (when BENCH_DATABASE_URL or TEST_DATABASE_URL is set).
//   3. Signed trust: the signing and verifying of one decision against the decision;
//      a history of BENCH_HISTORY_ENTRIES (100,000) entries verified from the start, as
//      a server does, and as an exported bundle offline.
//   4. Under load, a `peertrust serve` process against the stack's own ceilings measured
//      beside it (bench/ceilings.ts): decisions/s against raw INSERT transactions, a page
//      of 50 pairs against a bare Yoga hello world, one decision's fan-out against a bare
//      ws broadcast of the same bytes and graphql-ws's own, memory against a bare graphql-ws server; on the
//      embedded PostgreSQL and on PostgreSQL. BENCH_LOAD_SECONDS (10) each rate,
//      BENCH_FAN_OUT (1000,5000,10000) subscribers. And the first page of every list at
//      1,000 servers and 1M events against 10 servers and 10k, and 60 and 10k (full
//      pages) (bench/lists-at-scale.ts).
// Writes the figures as JSON too (bench/results.json, or BENCH_OUTPUT), to compare runs.
// BENCH_PROFILE=dir writes a CPU profile of each `peertrust serve` of section 4, and of each ceiling's server, there.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ApproveTrustDocument, createPeertrustClient, RevokeTrustDocument } from '../client/index.js';
import { createApp } from '../src/app.js';
import { createApiToken } from '../src/auth/tokens.js';
import { openPostgresDatabase, type Database } from '../src/db/client.js';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { loadOrCreateRootKey } from '../src/identity/root-key.js';
import { createLogger } from '../src/logger.js';
import { decisionsPerSecond, fanOut, pagesPerSecond, serveWithPeers, subscriptionMemory } from './api-load.js';
import { graphqlWsBroadcast, graphqlWsMemory, rawInsertTransactions, wsBroadcast, yogaHelloWorld } from './ceilings.js';
import { median } from './load.js';
import { LISTS, serveAtScale, type List } from './lists-at-scale.js';
import { timeDecisionCrypto, timeSignedHistory } from './signed-history.js';

const bin = path.resolve(import.meta.dirname, '../bin/peertrust.js');
const DECISIONS = 200;
const results: Record<string, number> = {};

const tempDir = () => mkdtemp(path.join(tmpdir(), 'peertrust-bench-'));

/** Runs `use` on a new embedded PostgreSQL in a temporary directory, stopped and removed after. */
async function onEmbeddedPostgres<T>(use: (server: EmbeddedPostgres) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  const server = await EmbeddedPostgres.start(dir, { purpose: 'bench' });
  try {
    return await use(server);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `use` on a new database of the PostgreSQL server at `serverUrl`, dropped after. */
async function onPostgresDatabase<T>(serverUrl: string, use: (url: string) => Promise<T>): Promise<T> {
  const name = `peertrust_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await use(url.toString());
  } finally {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** Runs `use` on `url`'s database, opened (and migrated) as a server opens it. */
async function onDatabase<T>(url: string, description: string | undefined, use: (db: Database) => Promise<T>): Promise<T> {
  const db = await openPostgresDatabase(url, undefined, {}, description);
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

/** `peertrust cluster` from start to the token it prints last; then stopped. */
async function timeClusterStart(dataDir: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [bin, 'cluster', '--port', '0', '--data-dir', dataDir], { env: { ...process.env, DATABASE_URL: '' } });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/ptk_\S+\n/.test(output)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`cluster exited with ${code}`)));
  });
  const elapsed = performance.now() - started;
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  return elapsed;
}

async function timeDatabaseStart(dataDir: string): Promise<number> {
  const started = performance.now();
  const server = await EmbeddedPostgres.start(dataDir, { purpose: 'bench' });
  const elapsed = performance.now() - started;
  await server.stop();
  return elapsed;
}

/** Alternates approve and revoke between two servers: every call is a real change. */
async function timeDecisions(db: Database): Promise<number> {
  const dirs = await Promise.all([0, 1].map(() => tempDir()));
  const keys = await Promise.all(dirs.map((dir) => loadOrCreateRootKey(dir)));
  const apps = await Promise.all(
    dirs.map(async (_dir, i) =>
      createApp({
        name: `bench${i}`,
        host: '127.0.0.1',
        port: 0,
        rootKey: keys[i]!,
        addresses: ['127.0.0.1'],
        database: db,
        logger: createLogger('silent'),
        heartbeatSeconds: 60,
      }),
    ),
  );
  for (const app of apps) await app.start();
  const { token } = await createApiToken(db, { userName: 'bench', role: 'ADMINISTRATOR' }, [{ serverId: apps[0]!.serverId, key: keys[0]! }]);
  const [a, b] = apps as [(typeof apps)[0], (typeof apps)[0]];
  const client = createPeertrustClient({ url: a.url, token });
  const started = performance.now();
  for (let i = 0; i < DECISIONS; i++) {
    const result =
      i % 2 === 0
        ? await client.urql.mutation(ApproveTrustDocument, { input: { peerId: b.serverId, fingerprint: b.fingerprint } }).toPromise()
        : await client.urql.mutation(RevokeTrustDocument, { input: { peerId: b.serverId } }).toPromise();
    if (result.error) throw result.error;
  }
  const elapsed = performance.now() - started;
  await client.close();
  for (const app of apps) await app.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  return elapsed / DECISIONS;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const HISTORY_ENTRIES = Number(process.env['BENCH_HISTORY_ENTRIES'] ?? 100_000);
const ratio = (value: number, ceiling: number) => (value / ceiling).toFixed(2);

// 1. Start-up against the database's own.
const dbDir = await tempDir();
results['embeddedDatabaseFreshStartMs'] = await timeDatabaseStart(dbDir);
results['embeddedDatabaseRestartMs'] = await timeDatabaseStart(dbDir);
await rm(dbDir, { recursive: true, force: true });
const clusterDir = await tempDir();
results['npmStartFreshMs'] = await timeClusterStart(clusterDir);
results['npmStartRestartMs'] = await timeClusterStart(clusterDir);
await rm(clusterDir, { recursive: true, force: true });
console.log(
  `npm start to ready: fresh ${seconds(results['npmStartFreshMs'])} (embedded database alone: ${seconds(results['embeddedDatabaseFreshStartMs'])}, ratio ${ratio(results['npmStartFreshMs'], results['embeddedDatabaseFreshStartMs'])}), ` +
    `restart ${seconds(results['npmStartRestartMs'])} (database alone: ${seconds(results['embeddedDatabaseRestartMs'])}, ratio ${ratio(results['npmStartRestartMs'], results['embeddedDatabaseRestartMs'])})`,
);

// 2. Decisions, embedded against PostgreSQL.
const [decisionMsEmbedded, embeddedDescription] = await onEmbeddedPostgres(
  async (embedded) => [await onDatabase(embedded.url, embedded.description, timeDecisions), embedded.description] as const,
);
results['decisionMsEmbedded'] = decisionMsEmbedded;
console.log(`${DECISIONS} sequential decisions on the ${embeddedDescription}: ${results['decisionMsEmbedded'].toFixed(1)} ms each`);

const serverUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'];
if (serverUrl) {
  results['decisionMsPostgres'] = await onPostgresDatabase(serverUrl, (url) => onDatabase(url, undefined, timeDecisions));
  console.log(
    `${DECISIONS} sequential decisions on PostgreSQL (${new URL(serverUrl).host}): ${results['decisionMsPostgres'].toFixed(1)} ms each; ` +
      `embedded/PostgreSQL = ${ratio(results['decisionMsEmbedded'], results['decisionMsPostgres'])}`,
  );
} else {
  console.log('PostgreSQL part skipped: set BENCH_DATABASE_URL or TEST_DATABASE_URL.');
}

// 3. Signed trust. A decision signs its statement and its checkpoint; each server then
// verifies the statement of each entry (4 entries per 3 decisions here) and the checkpoint.
const crypto = await timeDecisionCrypto(2_000);
results['decisionSignMs'] = crypto.signMs;
results['decisionVerifyMsPerServer'] = crypto.verifyMs;
const cryptoMs = crypto.signMs + crypto.verifyMs;
console.log(
  `signing per decision ${(crypto.signMs * 1000).toFixed(0)} µs, verifying per server ${(crypto.verifyMs * 1000).toFixed(0)} µs: ` +
    `${((100 * cryptoMs) / results['decisionMsEmbedded']).toFixed(1)}% of a ${results['decisionMsEmbedded'].toFixed(1)} ms decision on the deciding server ` +
    `(decision / decision without them = ${ratio(results['decisionMsEmbedded'], results['decisionMsEmbedded'] - cryptoMs)})`,
);
const history = await onEmbeddedPostgres((server) => onDatabase(server.url, server.description, (db) => timeSignedHistory(db, HISTORY_ENTRIES)));
Object.assign(results, {
  historyEntries: history.entries,
  historyBuildMs: history.buildMs,
  historyVerifyMs: history.verifyMs,
  historyResumeMs: history.resumeMs,
  bundleBytes: history.bundleBytes,
  bundleExportMs: history.bundleExportMs,
  bundleVerifyMs: history.bundleVerifyMs,
  entryBundleMs: history.entryBundleMs,
});
console.log(
  `a history of ${history.entries} entries (built in ${seconds(history.buildMs)}): verified from its first entry in ${seconds(history.verifyMs)} ` +
    `(${((history.verifyMs * 1000) / history.entries).toFixed(0)} µs an entry), at a restart from the state kept in ${seconds(history.resumeMs)} ` +
    `(${(history.verifyMs / history.resumeMs).toFixed(1)}x faster); bundle of ${(history.bundleBytes / 1e6).toFixed(1)} MB exported in ${seconds(history.bundleExportMs)}, ` +
    `verified offline in ${seconds(history.bundleVerifyMs)}; one entry with its proof exported and verified in ${history.entryBundleMs.toFixed(0)} ms`,
);

// 4. Under load, against the ceilings.
const LOAD_MS = Number(process.env['BENCH_LOAD_SECONDS'] ?? 10) * 1000;
const FAN_OUT = (process.env['BENCH_FAN_OUT'] ?? '1000,5000,10000').split(',').map(Number);
/** Idle subscriptions for the memory figures: enough that V8's heap steps average out. */
const MEMORY_SUBSCRIBERS = 4_000;
const table: string[][] = [['what', 'peertrust', 'ceiling in the same run', 'ratio', 'goal']];
const rate = (r: { perSecond: number; p50Ms: number; p99Ms: number }) => `${r.perSecond.toFixed(0)}/s (p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms)`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/** Every figure of section 4 on one database; `label` names it in the table and the JSON. */
async function underLoad(label: string, databaseUrl: string) {
  const key = (name: string) => `${name}${label === 'PostgreSQL' ? 'Postgres' : 'Embedded'}`;
  const row = (what: string, value: string, ceiling: string, ratioValue: number, goal: string, name: string) => {
    table.push([`${what} (${label})`, value, ceiling, ratioValue.toFixed(3), goal]);
    results[key(name)] = ratioValue;
  };
  const cluster = await serveWithPeers(databaseUrl, 60);
  try {
    // First, while the process is fresh: V8 keeps what thousands of closed connections used.
    const memory = await subscriptionMemory(cluster, MEMORY_SUBSCRIBERS);
    const bareMemory = await graphqlWsMemory(MEMORY_SUBSCRIBERS);
    row(`memory per idle subscription (${MEMORY_SUBSCRIBERS})`, kb(memory.perSubscriptionBytes), `bare graphql-ws: ${kb(bareMemory.perSubscriptionBytes)}`, memory.perSubscriptionBytes / bareMemory.perSubscriptionBytes, '≤ 30 KB', 'subscriptionMemoryRatio');
    row('server RSS at idle', mb(memory.idleRssBytes), `bare graphql-ws: ${mb(bareMemory.idleRssBytes)}`, memory.idleRssBytes / bareMemory.idleRssBytes, '', 'idleRssRatio');
    results[key('subscriptionBytes')] = memory.perSubscriptionBytes;
    for (const clients of [16, 1]) {
      const decisions = await decisionsPerSecond(cluster, clients, LOAD_MS);
      const raw = await rawInsertTransactions(databaseUrl, clients, LOAD_MS);
      row(`decisions/s, ${clients} client${clients > 1 ? 's' : ''}`, rate(decisions), `raw INSERT transaction: ${rate(raw)}`, decisions.perSecond / raw.perSecond, clients > 1 ? '≥ 0.5' : '', `decisionRatio${clients}`);
    }
    const pages = await pagesPerSecond(cluster, 16, LOAD_MS);
    const hello = await yogaHelloWorld(16, LOAD_MS);
    row('peerTrusts(first: 50) req/s, 16 connections', rate(pages), `bare Yoga hello world: ${rate(hello)}`, pages.perSecond / hello.perSecond, '≥ 0.6', 'pageRatio');
    for (const subscribers of FAN_OUT) {
      const ours = await fanOut(cluster, subscribers);
      const bare = await wsBroadcast(subscribers, ours.message);
      const graphqlWs = await graphqlWsBroadcast(subscribers, ours.message);
      const figures = (of: { lastMs: number; p99Ms: number }) => `${of.lastMs.toFixed(0)} ms (p99 ${of.p99Ms.toFixed(0)} ms)`;
      row(
        `one decision to ${subscribers} idle subscribers, the last one`,
        figures(ours),
        `bare ws broadcast, same ${ours.message.length} bytes: ${bare.lastMs.toFixed(0)} ms`,
        ours.lastMs / bare.lastMs,
        subscribers >= 10_000 ? '≤ 2, p99 < 250 ms' : '',
        `fanOutRatio${subscribers}`,
      );
      // graphql-ws's own delivery, for the share of the above that is peertrust's.
      row(`  the same against graphql-ws's own broadcast`, figures(ours), `bare graphql-ws, same bytes: ${figures(graphqlWs)}`, ours.lastMs / graphqlWs.lastMs, '', `fanOutGraphqlWsRatio${subscribers}`);
    }
  } finally {
    await cluster.stop();
  }
}

await onEmbeddedPostgres((server) => underLoad('embedded', server.url));
if (serverUrl) await onPostgresDatabase(serverUrl, (url) => underLoad('PostgreSQL', url));
// The first page of every list at scale, against the same in a small cluster (10 servers:
// 9 pairs, so its peerTrusts and servers pages are not full) and in one of 60 servers
// (full pages: the same work but for the scale). All served at once, read in turns, so
// that the machine's noise and V8's warm-up fall on each alike.
const SCALES = [[10, 10_000], [60, 10_000], [1_000, 1_000_000]] as const;
const FIRST_PAGE_READS = 40;
type FirstPage = { ms: number; items: number };
const firstPages = await onEmbeddedPostgres((small) =>
  onEmbeddedPostgres((full) =>
    onEmbeddedPostgres(async (large) => {
      const servers = await Promise.all([small, full, large].map((server, i) => serveAtScale(server.url, SCALES[i]![0], SCALES[i]![1])));
      try {
        const reads = servers.map(() => new Map<List, { ms: number[]; items: number }>());
        for (let read = 0; read < FIRST_PAGE_READS; read++) {
          for (const [i, server] of servers.entries()) {
            for (const list of Object.keys(LISTS) as List[]) {
              const { ms, items } = await server.firstPage(list);
              reads[i]!.set(list, { ms: [...(reads[i]!.get(list)?.ms ?? []), ms], items });
            }
          }
        }
        return reads.map((byList) => new Map([...byList].map(([list, { ms, items }]) => [list, { ms: median(ms), items } satisfies FirstPage])));
      } finally {
        await Promise.all(servers.map((server) => server.stop()));
      }
    }),
  ),
);
for (const list of Object.keys(LISTS) as List[]) {
  const [small, full, large] = firstPages.map((byList) => byList.get(list)!) as [FirstPage, FirstPage, FirstPage];
  const page = (at: FirstPage) => `${at.ms.toFixed(1)} ms (${at.items} items)`;
  for (const [against, label, name] of [
    [small, '10 servers, 10k events', `${list}FirstPageRatio`],
    [full, '60 servers, 10k events', `${list}FullFirstPageRatio`],
  ] as const) {
    table.push([`${list}(first: 50) p50, 1,000 servers and 1M events (embedded)`, page(large), `${label}: ${page(against)}`, (large.ms / against.ms).toFixed(3), against === small ? '≤ 1.5' : '']);
    results[name] = large.ms / against.ms;
  }
}
table.push(['`npm start` restart to ready', seconds(results['npmStartRestartMs']!), `its database's own start: ${seconds(results['embeddedDatabaseRestartMs']!)}`, ratio(results['npmStartRestartMs']!, results['embeddedDatabaseRestartMs']!), '≤ 2']);
console.log(`\nUnder load (${LOAD_MS / 1000} s a rate), as ratios to the stack's own ceilings measured in this run:\n`);
console.log(table.map((cells, index) => `| ${cells.join(' | ')} |${index === 0 ? `\n|${' --- |'.repeat(cells.length)}` : ''}`).join('\n'));

const output = process.env['BENCH_OUTPUT'] ?? path.resolve(import.meta.dirname, 'results.json');
await writeFile(output, `${JSON.stringify({ at: new Date().toISOString(), results }, null, 2)}\n`);
console.log(`figures written to ${output}`);
