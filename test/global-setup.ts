// One embedded PostgreSQL for the whole run, started the way peertrust starts its own,
// with a migrated template database: each test gets a database of its own, copied from
// the template in milliseconds. Stopped when the run ends; if the run is killed, the
// embedded database's lifeline stops it anyway.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres, socketUrl } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgresql:// URL of the run's embedded server (its `postgres` database). */
    embeddedServerUrl: string;
    /** Tags the processes tests start (PEERTRUST_TEST_RUN), so the teardown finds any left. */
    testRunId: string;
  }
}

/** Processes whose environment carries this run's tag: test processes a dead worker left behind. */
async function taggedProcesses(runId: string): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [])).filter((name) => /^\d+$/.test(name)).map(Number);
  const tagged: number[] = [];
  for (const pid of pids) {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`PEERTRUST_TEST_RUN=${runId}`)) tagged.push(pid);
  }
  return tagged;
}

export const TEMPLATE_DATABASE = 'peertrust_template';

export default async function setup(project: TestProject) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'peertrust-tests-'));
  const server = await EmbeddedPostgres.start(dataDir, { purpose: 'vitest' });
  const serverUrl = server.url.replace(/\/peertrust\?/, '/postgres?');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  const template = new pg.Client({ connectionString: socketUrl(new URL(serverUrl).searchParams.get('host')!, TEMPLATE_DATABASE) });
  await template.connect();
  await migrate(template);
  await template.end();
  const runId = randomUUID();
  project.provide('embeddedServerUrl', serverUrl);
  project.provide('testRunId', runId);
  return async () => {
    const left = await taggedProcesses(runId);
    if (left.length) console.warn(`killing ${left.length} process(es) that tests left running: ${left.join(', ')}`);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
