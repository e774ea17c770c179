// A server's data directory holds its root key and, with the embedded default, its
// database. Everything in it is private: directories 0700, files 0600. Problems with it
// are the operator's to fix, so each is one line that says what to do.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OperatorError } from './operator-error.js';

/** The data directory cannot be used as it is. */
export class DataDirError extends OperatorError {}

/** What the operator reads for the usual file system errors. */
function explain(error: NodeJS.ErrnoException, target: string): string {
  switch (error.code) {
    case 'EROFS':
      return `${target} is on a read-only file system`;
    case 'EACCES':
    case 'EPERM':
      return `${target} cannot be written by this user`;
    case 'ENOSPC':
      return `no space left on the device of ${target}`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `${target} is not a directory`;
    case 'ENOENT':
      return `${target} cannot be created: a directory above it is missing`;
    default:
      return `${target} cannot be used: ${error.message}`;
  }
}

/**
 * A recursive mkdir reports ENOENT for most failures (a read-only file system
 * included): creating the first missing directory by itself gives the real reason.
 */
async function whyMkdirFailed(dir: string, error: NodeJS.ErrnoException): Promise<NodeJS.ErrnoException> {
  if (error.code !== 'ENOENT') return error;
  let missing = dir;
  while (!existsSync(path.dirname(missing)) && path.dirname(missing) !== missing) missing = path.dirname(missing);
  return (await mkdir(missing, { mode: 0o700 }).then(() => undefined, (e: NodeJS.ErrnoException) => e)) ?? error;
}

export function isPrivate(mode: number): boolean {
  return process.platform === 'win32' || (mode & 0o077) === 0;
}

const octal = (mode: number) => (mode & 0o777).toString(8);

/**
 * Creates `dir` (0700) if it is missing and checks that it is a private, writable
 * directory. Returns it resolved.
 */
export async function privateDir(dir: string): Promise<string> {
  const resolved = path.resolve(dir);
  try {
    await mkdir(resolved, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new DataDirError(explain(await whyMkdirFailed(resolved, error as NodeJS.ErrnoException), resolved));
  }
  const info = await stat(resolved);
  if (!info.isDirectory()) throw new DataDirError(`${resolved} is not a directory`);
  if (!isPrivate(info.mode)) {
    throw new DataDirError(`${resolved} can be read by other users (mode ${octal(info.mode)}); run \`chmod 700 ${resolved}\``);
  }
  // Writing is what a server does first (its key, its database): find out now, in words.
  const probe = path.join(resolved, `.write-test-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new DataDirError(explain(error as NodeJS.ErrnoException, resolved));
  } finally {
    await rm(probe, { force: true });
  }
  return resolved;
}

/** Checks that a file of the data directory is private; one line when it is not. */
export async function checkPrivateFile(file: string): Promise<void> {
  const info = await stat(file);
  if (info.isDirectory()) throw new DataDirError(`${file} is a directory, not a file`);
  if (!isPrivate(info.mode)) {
    throw new DataDirError(`${file} can be read by other users (mode ${octal(info.mode)}); run \`chmod 600 ${file}\``);
  }
}
