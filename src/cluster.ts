// `peertrust cluster`: several servers of one cluster on this host, each its own
// `peertrust serve` process, sharing one database (the embedded PostgreSQL under the
// data directory, which this process owns, or DATABASE_URL's). It is the production
// path, with every server a process and LISTEN/NOTIFY between them, for trying
// peertrust out. This process supervises: it starts the servers, restarts one that
// dies, and stops them all (then the database) on SIGINT or SIGTERM. If it is killed,
// the servers notice their IPC channel close and stop, and the database's lifeline
// stops the database.
import { fork, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiToken, revokeApiTokens, signApiTokens, stillIssued, tokenSigners } from './auth/tokens.js';
import { privateDir } from './data-dir.js';
import { openPostgresDatabase, type Database } from './db/client.js';
import { EmbeddedPostgres } from './db/embedded.js';
import { loadRootKey, type RootKeyPair } from './identity/root-key.js';
import type { Logger } from './logger.js';
import { OperatorError } from './operator-error.js';
import { packageRoot } from './paths.js';

/** What a server process tells its supervisor once it listens. */
export interface ServerSummary {
  name: string;
  /** The GraphQL endpoint. */
  url: string;
  id: string;
  fingerprint: string;
  addresses: string[];
  decommissioned: boolean;
}

export type ReadyMessage = { type: 'ready'; server: ServerSummary };
/** The supervisor asks a ready server whether it takes the kept token, as a request's (its keys, retired ones too). */
export type IssuedQuestion = { type: 'issued?'; token: string };
export type IssuedAnswer = { type: 'issued'; issued: boolean } | { type: 'issued'; error: string };

/** The user whose administrator token `peertrust cluster` prints. */
export const CLUSTER_USER = 'cluster-admin';
/** Where that token is kept between starts, so that open consoles keep working. */
const TOKEN_FILE = 'cluster-admin.token';
/** A server process that dies is started again after this long, doubling up to a minute. */
const RESTART_DELAY_MS = 1_000;

export interface ClusterConfig {
  names: string[];
  host: string;
  /** Port of the first server, the others follow; 0 lets each pick a free one. */
  port: number;
  dataDir: string;
  databaseUrl?: string | undefined;
  databasePoolSize?: number | undefined;
  logLevel: string;
  heartbeatSeconds: number;
  /** Settings of the servers' HTTP side: TLS is passed on as flags, the rest comes with the environment. */
  http: { tls?: { certFile: string; keyFile: string } | undefined };
}

export interface RunningCluster {
  servers: ServerSummary[];
  /** An administrator token, kept in the data directory until it is revoked. */
  token: string;
  /** Where the data is, for people. */
  description: string;
  stop(): Promise<void>;
}

/** A server process failed to start: its own one-line message says why. */
export class ClusterStartError extends OperatorError {}

/** `progress` hears each start-up step as it completes, for people watching a slow start. */
export async function runCluster(config: ClusterConfig, log: Logger, progress: (step: string) => void = () => {}): Promise<RunningCluster> {
  const dataDir = await privateDir(config.dataDir);
  const embedded = config.databaseUrl
    ? undefined
    : await EmbeddedPostgres.start(dataDir, { purpose: 'cluster', log: log.child({ component: 'embedded-postgres' }) });
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  const description = embedded?.description ?? `PostgreSQL (${databaseUrl.replace(/\/\/[^@]*@/, '//')})`;
  const processes: ServerProcess[] = [];
  let db: Database | undefined;
  try {
    // Migrated once, here, before the servers start.
    db = await openPostgresDatabase(databaseUrl, log);
    progress(`database ready, migrations applied (${description})`);
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: config.logLevel,
      PEERTRUST_HEARTBEAT_SECONDS: String(config.heartbeatSeconds),
      ...(config.databasePoolSize ? { DATABASE_POOL_SIZE: String(config.databasePoolSize) } : {}),
    };
    for (const [index, name] of config.names.entries()) {
      const args = ['serve', '--name', name, '--host', config.host, '--port', String(config.port === 0 ? 0 : config.port + index), '--data-dir', path.join(dataDir, name)];
      if (config.http.tls) args.push('--tls-cert', config.http.tls.certFile, '--tls-key', config.http.tls.keyFile);
      processes.push(new ServerProcess(name, args, env, log));
    }
    const start = (server: ServerProcess) =>
      server.start().then((summary) => {
        progress(`${summary.name} ready at ${summary.url}`);
        return summary;
      });
    // A server new to the cluster registers once the others run again: a new instance
    // that shares an address with a server that is not running is marked as its
    // possible replacement, and on this host every server has the same addresses.
    const known = await Promise.all(config.names.map((name) => loadRootKey(path.join(dataDir, name))));
    const restarted = await Promise.all(processes.map((server, i) => (known[i] ? start(server) : undefined)));
    const servers = await Promise.all(processes.map((server, i) => restarted[i] ?? start(server)));
    // Signed by every server's key, once each has registered it: every server accepts it.
    let token: string;
    try {
      const keys = await Promise.all(config.names.map((name, i) => known[i] ?? loadRootKey(path.join(dataDir, name))));
      token = await clusterToken(db, path.join(dataDir, TOKEN_FILE), processes, keys);
    } finally {
      await db.close();
      db = undefined;
    }
    return {
      servers,
      token,
      description,
      async stop() {
        await Promise.all(processes.map((server) => server.stop()));
        await embedded?.stop();
      },
    };
  } catch (error) {
    await Promise.all(processes.map((server) => server.stop()));
    await db?.close();
    await embedded?.stop();
    throw error;
  }
}

/**
 * The administrator token of the cluster: the one kept in the data directory while it
 * is not revoked (stored hashed in the database like every other), signed by each server
 * that does not take it yet (one added since, or one whose key changed) so that open
 * consoles keep working; else a new one, and the kept one revoked. Each server is asked
 * whether it takes the token: it has Prisma loaded already, where this process would
 * load it for this one question (~0.45 s of a ~3 s restart). A server that cannot answer
 * is checked here, against its current key.
 */
async function clusterToken(db: Database, file: string, servers: ServerProcess[], keys: (RootKeyPair | undefined)[]): Promise<string> {
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  const signers = await tokenSigners(db.prisma, keys.filter((key): key is RootKeyPair => key !== undefined));
  const takenBy = () => Promise.all(servers.map((server, i) => server.issued(kept).catch(() => !!keys[i] && stillIssued(db.prisma, kept, [keys[i]]))));
  // Still an administrator's and not revoked, whoever signed it.
  if (kept && (await stillIssued(db.prisma, kept, []))) {
    if ((await takenBy()).every(Boolean)) return kept;
    // Each key signs it: those that signed it already add nothing.
    for (const signer of signers) await signApiTokens(db, CLUSTER_USER, signer);
    if ((await takenBy()).every(Boolean)) return kept;
  }
  // One cluster token at a time: the kept one ends before its replacement is issued,
  // rather than live on unseen.
  if (kept) await revokeApiTokens(db, CLUSTER_USER, signers[0]!, kept);
  const { token } = await createApiToken(db, { userName: CLUSTER_USER, role: 'ADMINISTRATOR' }, signers);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** One `peertrust serve` child: started, restarted when it dies, stopped. */
class ServerProcess {
  readonly #name: string;
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;

  constructor(name: string, args: string[], env: NodeJS.ProcessEnv, log: Logger) {
    this.#name = name;
    this.#args = args;
    this.#env = env;
    this.#log = log.child({ server: name });
  }

  /** Starts the process; resolves when it listens, rejects with its own message if it exits first. */
  start(): Promise<ServerSummary> {
    const child = fork(path.join(packageRoot, 'bin', 'peertrust.js'), this.#args, {
      env: this.#env,
      // Its summary goes to this process (IPC); its logs and errors to our stderr.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child = child;
    let lastLine = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      lastLine = chunk.trim().split('\n').at(-1) ?? lastLine;
    });
    return new Promise((resolve, reject) => {
      let ready = false;
      child.on('message', (message: ReadyMessage) => {
        if (message.type !== 'ready') return;
        ready = true;
        this.#restarts = 0;
        resolve(message.server);
      });
      child.once('exit', (code, signal) => {
        if (!ready) return reject(new ClusterStartError(lastLine.replace(/^peertrust: /, '') || `${this.#name} exited with ${signal ?? code}`));
        if (!this.#stopping) void this.#restart(signal ?? `exit code ${code}`);
      });
    });
  }

  /** Whether the server takes `token` as an administrator's, as a request would; rejects when it cannot tell. */
  issued(token: string): Promise<boolean> {
    const child = this.#child;
    if (!child?.connected) return Promise.reject(new Error(`${this.#name} is not running`));
    return new Promise((resolve, reject) => {
      const answered = (message: IssuedAnswer) => {
        if (message.type !== 'issued') return;
        child.off('exit', exited);
        child.off('message', answered);
        if ('error' in message) reject(new Error(message.error));
        else resolve(message.issued);
      };
      const exited = () => {
        child.off('message', answered);
        reject(new Error(`${this.#name} exited`));
      };
      child.on('message', answered);
      child.once('exit', exited);
      child.send({ type: 'issued?', token } satisfies IssuedQuestion, (error) => error && exited());
    });
  }

  /** Starts the process again after a delay that doubles with each try that fails, until one gets ready. */
  async #restart(reason: string): Promise<void> {
    const delay = Math.min(RESTART_DELAY_MS * 2 ** this.#restarts++, 60_000);
    this.#log.error({ reason, restartInMs: delay }, 'server process died; restarting it');
    await sleep(delay);
    if (this.#stopping) return;
    await this.start().catch((error: Error) => {
      if (!this.#stopping) void this.#restart(`it did not start again: ${error.message}`);
    });
  }

  /** SIGTERM, as an operator stops a server; SIGKILL if it takes more than 10 s. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    if ((await Promise.race([exited.then(() => true), sleep(10_000, false, { ref: false })])) === false) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}
