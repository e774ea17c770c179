// Shared by the tlog tests.
import { createPrivateKey, type KeyObject } from 'node:crypto';

/** An Ed25519 private KeyObject from its 32-byte RFC 8032 seed, as test vectors give keys. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' });
}
