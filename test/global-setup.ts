// One embedded PostgreSQL for the whole run, started the way peertrust starts its own,
// with a migrated template database: each test gets a database of its own, copied from
// the template in milliseconds. Stopped when the run ends; if the run is killed, the
// embedded database's lifeline stops it anyway.
import { mkdtemp, rm } from 'node:fs/promises';
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
  }
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
  project.provide('embeddedServerUrl', serverUrl);
  return async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
