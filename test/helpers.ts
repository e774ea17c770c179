// Test harness: real servers on port 0 sharing a fresh database (a database of its own
// on the run's embedded PostgreSQL, or on TEST_DATABASE_URL's server), and typed
// clients that use them as any client would.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AnyVariables, OperationResult, TypedDocumentNode } from '@urql/core';
import pg from 'pg';
import { inject, onTestFinished } from 'vitest';
import { createPeertrustClient, type PeertrustClient } from '../client/index.js';
import { createApp, type App } from '../src/app.js';
import { createApiToken, signApiTokens, tokenSigners, type TokenSigner } from '../src/auth/tokens.js';
import { openPostgresDatabase, type Database, type PoolOptions } from '../src/db/client.js';
import { fingerprintOf } from '../src/identity/fingerprint.js';
import { loadOrCreateRootKey, loadRootKeysIn, type RootKeyPair } from '../src/identity/root-key.js';
import { silentLogger, type Logger } from '../src/logger.js';
import { TEMPLATE_DATABASE } from './global-setup.js';

export async function tempDir(prefix = 'peertrust-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  // Retried: a database a test's process ran there may still be writing as it stops.
  onTestFinished(() => rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 }));
  return dir;
}

export interface TestServer {
  app: App;
  name: string;
  id: string;
  fingerprint: string;
  identityDir: string;
  admin: PeertrustClient;
  reader: PeertrustClient;
  anonymous: PeertrustClient;
}

export interface TestCluster {
  db: Database;
  /** The database's URL, for commands run against it. */
  databaseUrl: string;
  adminToken: string;
  readerToken: string;
  servers: TestServer[];
  /** Starts one more server on the cluster's database (a new instance unless identityDir is reused). */
  addServer(name: string, identityDir?: string): Promise<TestServer>;
  /** Stops one server (and closes its clients). */
  stopServer(server: TestServer): Promise<void>;
  /** Stops every server and closes the database before the test ends (it is done then anyway). */
  close(): Promise<void>;
}

/** PostgreSQL for the PostgreSQL suite; unset, that suite is skipped. */
export const testDatabaseUrl = process.env['TEST_DATABASE_URL'] || undefined;

/**
 * A new database, dropped when the test ends: on TEST_DATABASE_URL's server with
 * `{ postgres: true }`, else on the run's embedded server. `migrated` copies the
 * migrated template (embedded only); otherwise it is empty.
 */
export async function freshDatabaseUrl(options: { postgres?: boolean; migrated?: boolean } = {}): Promise<string> {
  const serverUrl = options.postgres ? testDatabaseUrl : inject('embeddedServerUrl');
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `peertrust_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}${options.migrated && !options.postgres ? ` TEMPLATE ${TEMPLATE_DATABASE}` : ''}`);
  onTestFinished(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new, empty database on the TEST_DATABASE_URL server, dropped when the test ends. */
export function freshPostgresUrl(): Promise<string> {
  return freshDatabaseUrl({ postgres: true });
}

/**
 * Starts servers that share one fresh database (PostgreSQL with `{ postgres: true }`);
 * everything is stopped when the test ends.
 */
export async function startCluster(
  names: string[] = ['alpha', 'bravo'],
  options: { postgres?: boolean; pool?: PoolOptions; heartbeatSeconds?: number; logger?: Logger } = {},
): Promise<TestCluster> {
  const postgres = options.postgres ?? false;
  const databaseUrl = await freshDatabaseUrl({ postgres, migrated: !postgres });
  const db = await openPostgresDatabase(databaseUrl, silentLogger, options.pool);
  const running = new Set<TestServer>();
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      for (const server of running) await stopServer(server);
      await db.close();
    })());
  onTestFinished(close);
  // Tokens are signed by servers' keys: made by the first server, signed by each one after.
  let tokens: { adminToken: string; readerToken: string } | undefined;
  const issueTokens = async (signer: TokenSigner) => {
    if (tokens) {
      await signApiTokens(db, 'admin', signer);
      await signApiTokens(db, 'reader', signer);
      return tokens;
    }
    const { token: adminToken } = await createApiToken(db, { userName: 'admin', role: 'ADMINISTRATOR' }, [signer]);
    const { token: readerToken } = await createApiToken(db, { userName: 'reader', role: 'READ_ONLY' }, [signer]);
    return (tokens = { adminToken, readerToken });
  };

  async function stopServer(server: TestServer) {
    if (!running.delete(server)) return;
    await Promise.all([server.admin.close(), server.reader.close(), server.anonymous.close()]);
    await server.app.stop();
  }

  async function addServer(name: string, identityDir?: string): Promise<TestServer> {
    const dir = identityDir ?? (await tempDir());
    const rootKey = await loadOrCreateRootKey(dir);
    const app = createApp({
      name,
      host: '127.0.0.1',
      port: 0,
      rootKey,
      addresses: ['192.0.2.10'],
      database: db,
      logger: options.logger ?? silentLogger,
      heartbeatSeconds: options.heartbeatSeconds ?? 60,
    });
    await app.start();
    const { adminToken, readerToken } = await issueTokens({ serverId: app.serverId, key: rootKey });
    const server: TestServer = {
      app,
      name,
      id: app.serverId,
      fingerprint: app.fingerprint,
      identityDir: dir,
      admin: createPeertrustClient({ url: app.url, token: adminToken }),
      reader: createPeertrustClient({ url: app.url, token: readerToken }),
      anonymous: createPeertrustClient({ url: app.url }),
    };
    running.add(server);
    return server;
  }

  const servers: TestServer[] = [];
  for (const name of names) servers.push(await addServer(name));
  if (!tokens) throw new Error('a test cluster needs at least one server');
  return { db, databaseUrl, ...tokens, servers, addServer, stopServer, close };
}

/** A root key pair held only in memory: a server registered by a test, or a key an attacker made. */
export function keyPairInMemory(): RootKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { publicKeyPem, fingerprint: fingerprintOf(publicKeyPem), privateKey, dataDir: '' };
}

/** The token signer of the server whose data directory this is (it must have registered). */
export async function signerIn(db: Database, dataDir: string): Promise<TokenSigner> {
  const [signer] = await tokenSigners(db.prisma, await loadRootKeysIn(dataDir));
  if (!signer) throw new Error(`no registered server's key in ${dataDir}`);
  return signer;
}

/** Runs a query or mutation; fails the test on a transport or GraphQL error. */
export async function run<Data, Variables extends AnyVariables>(
  client: PeertrustClient,
  document: TypedDocumentNode<Data, Variables>,
  variables: Variables,
): Promise<Data> {
  const result = await request(client, document, variables);
  if (result.error) throw result.error;
  if (!result.data) throw new Error('no data');
  return result.data;
}

/** A GraphQL request as raw HTTP, for what the typed client hides: statuses, headers, malformed bodies. */
export function postGraphQL(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Runs a query or mutation and returns the whole result, errors included. */
export function request<Data, Variables extends AnyVariables>(
  client: PeertrustClient,
  document: TypedDocumentNode<Data, Variables>,
  variables: Variables,
): Promise<OperationResult<Data, Variables>> {
  const isMutation = document.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'mutation');
  return (isMutation ? client.urql.mutation(document, variables) : client.urql.query(document, variables)).toPromise();
}

/** A live subscription whose results a test awaits one at a time. */
export interface Subscription<Data> {
  next(timeoutMs?: number): Promise<OperationResult<Data>>;
  /** Resolves when nothing arrives within the window; fails if something does. */
  expectSilence(ms: number): Promise<void>;
  unsubscribe(): void;
}

export function subscribe<Data, Variables extends AnyVariables>(
  client: PeertrustClient,
  document: TypedDocumentNode<Data, Variables>,
  variables: Variables,
): Subscription<Data> {
  const queue: OperationResult<Data>[] = [];
  const waiting: ((result: OperationResult<Data>) => void)[] = [];
  const { unsubscribe } = client.urql.subscription(document, variables).subscribe((result) => {
    const waiter = waiting.shift();
    if (waiter) waiter(result);
    else queue.push(result);
  });
  onTestFinished(unsubscribe);
  return {
    next(timeoutMs = 10_000) {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(deliver), 1);
          reject(new Error(`no subscription result within ${timeoutMs} ms`));
        }, timeoutMs);
        const deliver = (result: OperationResult<Data>) => {
          clearTimeout(timer);
          resolve(result);
        };
        waiting.push(deliver);
      });
    },
    async expectSilence(ms) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (queue.length) throw new Error(`unexpected subscription result: ${JSON.stringify(queue[0]?.data)}`);
    },
    unsubscribe,
  };
}
