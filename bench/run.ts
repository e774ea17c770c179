// npm run bench: figures that tests must not assert on a noisy machine. Prints times
// measured in this one run; compare them with each other (ratios), not across machines.
//   1. `peertrust cluster` from a fresh data directory to ready, and restarting it.
//   2. Sequential trust decisions through the API, embedded database vs PostgreSQL
//      (PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL is set).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ApproveTrustDocument, createPeertrustClient, RevokeTrustDocument } from '../client/index.js';
import { createApp } from '../src/app.js';
import { createApiToken } from '../src/auth/tokens.js';
import { openEmbeddedDatabase, openPostgresDatabase, type Database } from '../src/db/client.js';
import { createLogger } from '../src/logger.js';

const bin = path.resolve(import.meta.dirname, '../bin/peertrust.js');
const DECISIONS = 200;

async function timeClusterStart(dataDir: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [bin, 'cluster', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, DATABASE_URL: '' },
  });
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

/** Alternates approve and revoke between two servers: every call is a real change. */
async function timeDecisions(db: Database): Promise<number> {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(path.join(tmpdir(), 'peertrust-bench-'))));
  const apps = dirs.map((identityDir, i) =>
    createApp({
      name: `bench${i}`,
      host: '127.0.0.1',
      port: 0,
      identityDir,
      addresses: ['127.0.0.1'],
      database: db,
      logger: createLogger('silent'),
      heartbeatSeconds: 60,
    }),
  );
  for (const app of apps) await app.start();
  const { token } = await createApiToken(db.prisma, { userName: 'bench', role: 'ADMINISTRATOR' });
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
  return elapsed;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const dataDir = await mkdtemp(path.join(tmpdir(), 'peertrust-bench-'));
const fresh = await timeClusterStart(dataDir);
const restart = await timeClusterStart(dataDir);
await rm(dataDir, { recursive: true, force: true });
console.log(`peertrust cluster to ready: fresh data directory ${seconds(fresh)}, restart ${seconds(restart)}`);

const pglite = new PGlite();
const embedded = await openEmbeddedDatabase({ pglite });
const embeddedMs = await timeDecisions(embedded);
await embedded.close();
await pglite.close();
console.log(`${DECISIONS} sequential decisions, embedded: ${seconds(embeddedMs)} (${(embeddedMs / DECISIONS).toFixed(1)} ms each)`);

const serverUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'];
if (serverUrl) {
  const name = `peertrust_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const postgres = await openPostgresDatabase(url.toString());
  const postgresMs = await timeDecisions(postgres);
  await postgres.close();
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
  console.log(`${DECISIONS} sequential decisions, PostgreSQL: ${seconds(postgresMs)} (${(postgresMs / DECISIONS).toFixed(1)} ms each); embedded/PostgreSQL = ${(embeddedMs / postgresMs).toFixed(2)}`);
} else {
  console.log('PostgreSQL part skipped: set BENCH_DATABASE_URL or TEST_DATABASE_URL.');
}
