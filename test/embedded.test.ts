// The embedded default, as an operator runs it: a real PostgreSQL under the data
// directory that fsyncs, keeps its files private, has one owner, comes back by itself
// after a kill -9 however it happened, and says in one line what is wrong with a data
// directory it cannot use.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, onTestFinished, test } from 'vitest';
import { ApproveTrustDocument, RevokeTrustDocument, TrustHistoryDocument, ViewerDocument } from '../client/index.js';
import { socketUrl } from '../src/db/embedded.js';
import { clientOf, sql } from './ha-helpers.js';
import { bearer, postGraphQL, run, tempDir } from './helpers.js';
import { mountTmpfs } from './mounts.js';
import { peertrust, serve, startProcess, stopProcess } from './processes.js';

const exec = promisify(execFile);

/** Every directory and file under `dir` with access for group or others, with its mode. */
async function notPrivate(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    // A file written beside its final name (ledger.json.<pid>) may be renamed away between
    // the listing and this look; it keeps its mode, checked under its final name.
    const mode = (await stat(file).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error))))?.mode;
    if (mode !== undefined && mode & 0o077) found.push(`${file} ${(mode & 0o777).toString(8)}`);
  }
  return found;
}

/** The pids of the embedded database under `dataDir`: its lifeline shell and its postmaster. */
async function databaseProcesses(dataDir: string): Promise<{ shell?: number; postmaster?: number }> {
  const pgdata = path.join(dataDir, 'postgres');
  const found: { shell?: number; postmaster?: number } = {};
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number)) {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args[args.indexOf('-D') + 1] !== pgdata) continue;
    if (args.includes('peertrust-postgres')) found.shell = pid;
    else if (path.basename(args[0] ?? '') === 'postgres') found.postmaster = pid;
  }
  return found;
}

const alive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const CLUSTER_READY = /ptk_\S+\n/;

/** `peertrust cluster` (two servers, embedded database) and its first server's client. */
async function startTryOut(dataDir: string) {
  const cluster = await startProcess(['cluster', '--port', '0', '--data-dir', dataDir], CLUSTER_READY);
  const token = cluster.output.trim().split('\n').at(-1)!;
  const urls = [...cluster.output.matchAll(/GraphiQL\s+(http\S+)/g)].map((m) => m[1]!);
  const ids = [...cluster.output.matchAll(/ id\s+(\S+)/g)].map((m) => m[1]!);
  const fingerprints = [...cluster.output.matchAll(/fingerprint\s+(\S+)/g)].map((m) => m[1]!);
  return { cluster, token, alpha: clientOf(urls[0]!, token), bravo: { id: ids[1]!, fingerprint: fingerprints[1]! } };
}

describe('the embedded default', () => {
  test('is a real PostgreSQL that fsyncs, private on disk, with one owner; tokens can be made while it runs', async () => {
    const dataDir = await tempDir();
    const alpha = await serve('alpha', '', { dataDir });
    const [settings] = await sql<{ fsync: string; synchronous_commit: string; data_directory: string; version: string }>(
      socketUrl(path.join(dataDir, 'run')),
      `SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit,
              current_setting('data_directory') AS data_directory, version()`,
    );
    expect(settings).toMatchObject({ fsync: 'on', synchronous_commit: 'on', data_directory: path.join(dataDir, 'postgres') });
    expect(settings!.version).toMatch(/^PostgreSQL 18\./);
    expect(alpha.output).toContain(`embedded PostgreSQL 18.4 in ${path.join(dataDir, 'postgres')}`);

    // Nothing for other users: not the key, not the WAL, not the catalogs, not the socket.
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(await notPrivate(dataDir)).toEqual([]);

    // A second owner is refused at once, saying who owns it.
    const second = await peertrust(['serve', '--name', 'other', '--port', '0', '--data-dir', dataDir]);
    expect(second.code).toBe(2);
    expect(second.stderr.trim()).toBe(
      `peertrust: the embedded database in ${dataDir} is in use by peertrust serve alpha (pid ${alpha.child.pid}): stop it first, ` +
        'or run several servers on it with `peertrust cluster`, or share PostgreSQL through DATABASE_URL',
    );

    const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const viewer = await run(clientOf(alpha.url, created.stdout.trim().split('\n').at(-1)!), ViewerDocument, {});
    expect(viewer.viewer).toMatchObject({ name: 'ops', role: 'ADMINISTRATOR' });
  });

  test.each([
    ['peertrust alone', 'alone'],
    ['its whole process group', 'group'],
    ['peertrust and the shell that watches the database, leaving the database running', 'leave-database'],
  ] as const)('kill -9 of %s: the next start comes back by itself, with every acknowledged decision', async (_what, how) => {
    const dataDir = await tempDir();
    const first = await startTryOut(dataDir);
    // Acknowledged decisions: each answered before the kill.
    for (let i = 0; i < 5; i++) {
      await run(first.alpha, ApproveTrustDocument, { input: { peerId: first.bravo.id, fingerprint: first.bravo.fingerprint } });
      await run(first.alpha, RevokeTrustDocument, { input: { peerId: first.bravo.id } });
    }
    await run(first.alpha, ApproveTrustDocument, { input: { peerId: first.bravo.id, fingerprint: first.bravo.fingerprint } });
    const before = (await run(first.alpha, TrustHistoryDocument, { first: 200 })).trustHistory.edges.map((e) => e.node);
    expect(before).toHaveLength(11);

    const database = await databaseProcesses(dataDir);
    expect(alive(database.postmaster)).toBe(true);
    const exited = new Promise((resolve) => first.cluster.child.once('exit', resolve));
    if (how === 'group') process.kill(-first.cluster.child.pid!, 'SIGKILL');
    else first.cluster.child.kill('SIGKILL');
    if (how === 'leave-database') process.kill(database.shell!, 'SIGKILL');
    await exited;
    if (how === 'leave-database') expect(alive(database.postmaster)).toBe(true);

    const again = await startTryOut(dataDir);
    expect(again.token).toBe(first.token);
    const after = (await run(again.alpha, TrustHistoryDocument, { first: 200 })).trustHistory.edges.map((e) => e.node);
    expect(after).toEqual(before);
    expect(alive(database.postmaster)).toBe(false);
    await stopProcess(again.cluster.child);
    // A clean stop leaves no database process behind.
    expect(await databaseProcesses(dataDir)).toEqual({});
  });
});

describe('a data directory that cannot be used is one line and exit code 2', () => {
  const oneLine = async (dataDir: string, message: RegExp) => {
    const result = await peertrust(['serve', '--name', 'alpha', '--port', '0', '--data-dir', dataDir]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at |RuntimeError|Aborted/);
  };

  test('a file where the directory should be, a root key that is a directory, a directory others can read', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'file'), '');
    await oneLine(path.join(dir, 'file'), /^peertrust: .*\/file is not a directory$/m);
    await mkdir(path.join(dir, 'keydir', 'root-key.pem'), { recursive: true, mode: 0o700 });
    await oneLine(path.join(dir, 'keydir'), /root-key\.pem is a directory, not a file/);
    await mkdir(path.join(dir, 'open'), { mode: 0o755 });
    await exec('chmod', ['755', path.join(dir, 'open')]);
    await oneLine(path.join(dir, 'open'), /can be read by other users \(mode 755\); run `chmod 700 /);
  });

  test('an unusable embedded database: damaged, foreign, or a PGlite database of an earlier version', async () => {
    const dataDir = await tempDir();
    const alpha = await serve('alpha', '', { dataDir });
    await stopProcess(alpha.child);
    await writeFile(path.join(dataDir, 'postgres', 'PG_VERSION'), '9\n');
    await oneLine(dataDir, /^peertrust: the embedded database in .*postgres is unusable: /);

    const foreign = await tempDir();
    await mkdir(path.join(foreign, 'postgres'));
    await writeFile(path.join(foreign, 'postgres', 'notes.txt'), 'not a database');
    await oneLine(foreign, /is not empty but holds no database \(no PG_VERSION\); move it aside/);

    const upgraded = await tempDir();
    await mkdir(path.join(upgraded, 'db'));
    await writeFile(path.join(upgraded, 'db', 'PG_VERSION'), '18\n');
    await oneLine(upgraded, /holds the PGlite database of an earlier peertrust; `npm run import-pglite -- --data-dir /);
  });

  test('a read-only data directory, new or existing', async () => {
    const readOnly = await mountTmpfs({ sizeMb: 1, readOnly: true });
    if (!readOnly) return console.warn('read-only data directory test SKIPPED: cannot mount a tmpfs here');
    await oneLine(path.join(readOnly.dir, 'data'), /is on a read-only file system$/);

    const later = await mountTmpfs({ sizeMb: 200 });
    await stopProcess((await serve('alpha', '', { dataDir: later!.dir })).child);
    await later!.remount({ readOnly: true });
    await oneLine(later!.dir, /is on a read-only file system$/);
  });
});

test('a full disk: decisions get STORAGE_FULL (507) and change nothing, the server stays up and recovers when space is freed', async () => {
  const disk = await mountTmpfs({ sizeMb: 160 });
  if (!disk) return console.warn('disk-full test SKIPPED: cannot mount a tmpfs here');
  const dataDir = disk.dir;
  const alpha = await serve('alpha', '', { dataDir });
  const bravo = await serve('bravo', socketUrl(path.join(dataDir, 'run')));
  const token = (await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', '--data-dir', dataDir])).stdout.trim().split('\n').at(-1)!;
  const client = clientOf(alpha.url, token);
  const approve = () => client.urql.mutation(ApproveTrustDocument, { input: { peerId: bravo.id, fingerprint: bravo.fingerprint } }).toPromise();

  const filler = path.join(disk.dir, 'filler');
  await exec('sh', ['-c', `dd if=/dev/zero of=${filler} bs=1M 2>/dev/null; true`]);
  onTestFinished(() => rm(filler, { force: true }));
  const full = await approve();
  expect(full.error?.graphQLErrors[0]?.extensions).toMatchObject({ code: 'STORAGE_FULL' });
  expect(full.error?.graphQLErrors[0]?.message).toMatch(/^storage full: /);
  const raw = await postGraphQL(alpha.url, { query: `mutation { revokeTrust(input: { peerId: "${bravo.id}" }) { __typename } }` }, bearer(token));
  expect(raw.status).toBe(507);
  expect(alpha.child.exitCode).toBeNull();

  await rm(filler);
  const afterwards = await approve();
  expect(afterwards.data?.approveTrust.__typename).toBe('ApproveTrustSuccess');
  const history = (await run(client, TrustHistoryDocument, {})).trustHistory.edges.map((e) => e.node.kind);
  expect(history).toEqual(['TRUST_APPROVED']);
});

