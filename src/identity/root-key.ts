// A server instance's root key pair. The private key is created in the server's data
// directory with mode 0600 and never leaves it: not into the database, not into an API
// response, not into a log. The server signs with it (statements.ts), and it is the
// server's identity: what the server says of itself comes from the key it holds.
//
// A rotation writes the next key beside the current one (root-key.next.pem) before the
// database records it, and renames it over the current one after: a crash in between
// leaves both files, and the next start keeps whichever key the database committed.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fingerprintOf } from './fingerprint.js';
import { checkPrivateFile, privateDir } from '../data-dir.js';
import { OperatorError } from '../operator-error.js';

const PRIVATE_KEY_FILE = 'root-key.pem';
const NEXT_KEY_FILE = 'root-key.next.pem';

export interface RootKeyPair {
  /** SubjectPublicKeyInfo in PEM. */
  readonly publicKeyPem: string;
  readonly fingerprint: string;
  /** For signing; never serialised. */
  readonly privateKey: KeyObject;
  /** The server's data directory, where the key file is. */
  readonly dataDir: string;
}

/** The data directory's key is unusable: the operator must look at it. */
export class RootKeyError extends OperatorError {}

function fromPrivateKey(privateKey: KeyObject, dataDir: string): RootKeyPair {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new RootKeyError(`the root key is ${privateKey.asymmetricKeyType}, not Ed25519`);
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { publicKeyPem, fingerprint: fingerprintOf(publicKeyPem), privateKey, dataDir };
}

async function loadKeyFile(dataDir: string, name: string): Promise<RootKeyPair | undefined> {
  const file = path.join(dataDir, name);
  let pem: string;
  try {
    await checkPrivateFile(file);
    pem = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return fromPrivateKey(createPrivateKey(pem), dataDir);
  } catch (error) {
    if (error instanceof RootKeyError) throw error;
    throw new RootKeyError(`${file} is not a readable private key: ${(error as Error).message}`);
  }
}

/** Reads the root key pair of the server whose data directory this is, if it has one. */
export function loadRootKey(dataDir: string): Promise<RootKeyPair | undefined> {
  return loadKeyFile(dataDir, PRIVATE_KEY_FILE);
}

/**
 * The root keys a data directory holds: its own (a server's), or else those of the
 * servers in its subdirectories (a `peertrust cluster` data directory).
 */
export async function loadRootKeysIn(dir: string): Promise<RootKeyPair[]> {
  const own = await loadRootKey(dir);
  return own ? [own] : (await loadClusterKeys(dir)).map(({ key }) => key);
}

/** The root keys of the servers in a `peertrust cluster` data directory, by server (directory) name. */
export async function loadClusterKeys(dir: string): Promise<{ name: string; key: RootKeyPair }[]> {
  const entries = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name));
  const keys = await Promise.all(entries.map(async (e) => ({ name: e.name, key: await loadRootKey(path.join(dir, e.name)) })));
  return keys.filter((server): server is { name: string; key: RootKeyPair } => server.key !== undefined);
}

const newKey = () => generateKeyPairSync('ed25519').privateKey;
const pemOf = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** A server's root key pair, if its data directory has one; a directory other users can read is refused first. */
export async function loadServerRootKey(dataDir: string): Promise<RootKeyPair | undefined> {
  await privateDir(dataDir);
  return loadRootKey(dataDir);
}

/** The data directory's root key pair, created on first start. */
export async function loadOrCreateRootKey(dataDir: string): Promise<RootKeyPair> {
  const existing = await loadServerRootKey(dataDir);
  if (existing) return existing;
  const privateKey = newKey();
  // 'wx': never overwrite a key another process created in the meantime.
  try {
    await writeFile(path.join(dataDir, PRIVATE_KEY_FILE), pemOf(privateKey), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateRootKey(dataDir);
    throw error;
  }
  return fromPrivateKey(privateKey, dataDir);
}

/** A next key written beside the current one, for a rotation the database has yet to record. */
export interface PendingRotation {
  readonly next: RootKeyPair;
  /** The database recorded it: it becomes the key in the data directory. */
  commit(): Promise<void>;
  /** The database did not record it: it is forgotten. */
  abandon(): Promise<void>;
}

function pending(next: RootKeyPair): PendingRotation {
  return {
    next,
    commit: () => rename(path.join(next.dataDir, NEXT_KEY_FILE), path.join(next.dataDir, PRIVATE_KEY_FILE)),
    abandon: () => rm(path.join(next.dataDir, NEXT_KEY_FILE), { force: true }),
  };
}

/** Creates the next key of a rotation (refused while one is under way). */
export async function prepareRotation(dataDir: string): Promise<PendingRotation> {
  const privateKey = newKey();
  try {
    await writeFile(path.join(dataDir, NEXT_KEY_FILE), pemOf(privateKey), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new RootKeyError(`a key rotation is already under way in ${dataDir}`);
    throw error;
  }
  return pending(fromPrivateKey(privateKey, dataDir));
}

/** A rotation a crash interrupted, to be committed or abandoned by what the database says. */
export async function interruptedRotation(dataDir: string): Promise<PendingRotation | undefined> {
  const next = await loadKeyFile(dataDir, NEXT_KEY_FILE);
  return next && pending(next);
}
