// A server instance's root key pair. The private key is created once in the server's
// data directory with mode 0600 and never leaves it: not into the database, not into
// an API response, not into a log.
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fingerprintOf } from './fingerprint.js';
import { checkPrivateFile, privateDir } from '../data-dir.js';
import { OperatorError } from '../operator-error.js';

const PRIVATE_KEY_FILE = 'root-key.pem';

export interface RootKeyPair {
  /** SubjectPublicKeyInfo in PEM. */
  readonly publicKeyPem: string;
  readonly fingerprint: string;
}

/** The data directory's key is unusable: the operator must look at it. */
export class RootKeyError extends OperatorError {}

function fromPrivateKey(privateKey: KeyObject): RootKeyPair {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new RootKeyError(`the root key is ${privateKey.asymmetricKeyType}, not Ed25519`);
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    publicKeyPem,
    fingerprint: fingerprintOf(publicKeyPem),
  };
}

/** Reads the root key pair of the server whose data directory this is, if it has one. */
export async function loadRootKey(dataDir: string): Promise<RootKeyPair | undefined> {
  const file = path.join(dataDir, PRIVATE_KEY_FILE);
  let pem: string;
  try {
    await checkPrivateFile(file);
    pem = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return fromPrivateKey(createPrivateKey(pem));
  } catch (error) {
    if (error instanceof RootKeyError) throw error;
    throw new RootKeyError(`${file} is not a readable private key: ${(error as Error).message}`);
  }
}

/** The data directory's root key pair, created on first start. */
export async function loadOrCreateRootKey(dataDir: string): Promise<RootKeyPair> {
  await privateDir(dataDir);
  const existing = await loadRootKey(dataDir);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // 'wx': never overwrite a key another process created in the meantime.
  try {
    await writeFile(path.join(dataDir, PRIVATE_KEY_FILE), pem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateRootKey(dataDir);
    throw error;
  }
  return fromPrivateKey(privateKey);
}
