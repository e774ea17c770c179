// A PostgreSQL server of the test's own, for faults a shared server must not suffer:
// the test stops and starts it while its peertrust processes run. Built from the
// machine's PostgreSQL binaries (initdb, pg_ctl) in a temporary directory.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { onTestFinished } from 'vitest';

const exec = promisify(execFile);

/** The newest installed PostgreSQL's binaries, or undefined. */
export const postgresBinDir = (() => {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')));
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest ? path.join(root, newest, 'bin') : undefined;
})();

export interface PrivatePostgres {
  /** postgresql:// URL of its `postgres` database. */
  url: string;
  /** Stops the server the way a crash or a restart does: every connection is cut. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A TCP port nothing listens on now, for a process that must keep its port across restarts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
async function asPostgresUser(command: string, args: string[]) {
  const binary = path.join(postgresBinDir!, command);
  return process.getuid?.() === 0 ? exec('runuser', ['-u', 'postgres', '--', binary, ...args]) : exec(binary, args);
}

/** Who owns the server's files: the `postgres` user when we are root, else we. */
async function postgresOwner(): Promise<[number, number]> {
  if (process.getuid?.() !== 0) return [process.getuid?.() ?? 0, process.getgid?.() ?? 0];
  const [uid, gid] = await Promise.all(['-u', '-g'].map(async (flag) => Number((await exec('id', [flag, 'postgres'])).stdout.trim())));
  return [uid!, gid!];
}

/**
 * Initialises and starts a private server; it is stopped and deleted when the test ends.
 * With a password, TCP connections must give it (SCRAM); without, any connection is trusted.
 */
export async function startPrivatePostgres(options: { password?: string } = {}): Promise<PrivatePostgres> {
  if (!postgresBinDir) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const dir = await mkdtemp(path.join(tmpdir(), 'peertrust-pg-'));
  await chown(dir, ...(await postgresOwner()));
  const data = path.join(dir, 'data');
  const port = await freePort();
  const auth = ['-A', 'trust'];
  if (options.password !== undefined) {
    const passwordFile = path.join(dir, 'password');
    await writeFile(passwordFile, options.password);
    await chown(passwordFile, ...(await postgresOwner()));
    auth.push('--auth-host=scram-sha-256', `--pwfile=${passwordFile}`);
  }
  await asPostgresUser('initdb', ['-D', data, ...auth, '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => {
    await asPostgresUser('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-o', serverOptions, '-w', 'start']);
  };
  const stop = async () => {
    await asPostgresUser('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  };
  await start();
  onTestFinished(async () => {
    await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  const credentials = options.password === undefined ? 'postgres' : `postgres:${encodeURIComponent(options.password)}`;
  return { url: `postgresql://${credentials}@127.0.0.1:${port}/postgres`, start, stop };
}
