import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { createPublicKey, createHash, generateKeyPairSync, sign } from 'node:crypto';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { canonicalFingerprint, fingerprintOf, formatFingerprint } from '../src/identity/fingerprint.js';
import { loadOrCreateRootKey, loadRootKey } from '../src/identity/root-key.js';
import { signStatement, verifyStatement } from '../src/identity/statements.js';
import { ThisServerDocument } from '../client/index.js';
import { run, startCluster, tempDir } from './helpers.js';

describe('fingerprints', () => {
  test('are SHA-256 of the DER SubjectPublicKeyInfo, 64 lowercase hex', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const expected = createHash('sha256').update(createPublicKey(pem).export({ type: 'spki', format: 'der' })).digest('hex');
    expect(fingerprintOf(pem)).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  test('are read in any case, with : or space separators and an optional SHA256: prefix', () => {
    const hex = 'ab'.repeat(32);
    for (const input of [hex, hex.toUpperCase(), `SHA256:${hex}`, `sha256:${hex}`, hex.match(/../g)!.join(':'), hex.match(/.{4}/g)!.join(' '), ` ${hex}\n`, formatFingerprint(hex)]) {
      expect(canonicalFingerprint(input)).toBe(hex);
    }
    for (const input of ['', 'ab', hex.slice(2), `${hex}ab`, `MD5:${hex}`, 'g'.repeat(64), `${hex.slice(0, 62)}-x`]) {
      expect(canonicalFingerprint(input)).toBeUndefined();
    }
  });
});

describe('statements', () => {
  test("a signature known to hold (made or verified here) is taken without a second look only for its own bytes and key", () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const signature = signStatement('{"a":1}', privateKey);
    expect(verifyStatement('{"a":2}', signature, publicKeyPem)).toBe(false);
    expect(verifyStatement('{"a":1}', signature, other)).toBe(false);
    expect(verifyStatement('{"a":1}', signature, publicKeyPem)).toBe(true);
    // Again: still known.
    expect(verifyStatement('{"a":1}', signature, publicKeyPem)).toBe(true);
    expect(verifyStatement('{"a":1}', Buffer.alloc(64).toString('base64'), publicKeyPem)).toBe(false);
    // Verified elsewhere (another key's), then its statement changed: not taken.
    const { privateKey: theirs } = generateKeyPairSync('ed25519');
    const theirPem = createPublicKey(theirs).export({ type: 'spki', format: 'pem' }).toString();
    const theirSignature = sign(null, Buffer.from('{"b":1}'), theirs).toString('base64');
    expect(verifyStatement('{"b":1}', theirSignature, theirPem)).toBe(true);
    expect(verifyStatement('{"b":2}', theirSignature, theirPem)).toBe(false);
  });
});

describe('root keys', () => {
  test('are created once with mode 0600 and loaded again', async () => {
    const dir = await tempDir();
    expect(await loadRootKey(dir)).toBeUndefined();
    const created = await loadOrCreateRootKey(dir);
    const file = path.join(dir, 'root-key.pem');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const loaded = await loadOrCreateRootKey(dir);
    expect(loaded.fingerprint).toBe(created.fingerprint);
    expect(loaded.publicKeyPem).toBe(created.publicKeyPem);
    expect(created.fingerprint).toBe(fingerprintOf(created.publicKeyPem));
  });

  test('a key readable by others, or not a key, is refused with a clear message', async () => {
    const dir = await tempDir();
    await loadOrCreateRootKey(dir);
    const file = path.join(dir, 'root-key.pem');
    await chmod(file, 0o644);
    await expect(loadRootKey(dir)).rejects.toThrow(/can be read by other users \(mode 644\); run `chmod 600/);
    await writeFile(file, 'garbage', { mode: 0o600 });
    await chmod(file, 0o600);
    await expect(loadRootKey(dir)).rejects.toThrow(/is not a readable private key/);
  });

  test('the private key never reaches the database or the API', async () => {
    const { db, servers: [alpha] } = await startCluster();
    const privatePem = await readFile(path.join(alpha!.identityDir, 'root-key.pem'), 'utf8');
    const secret = privatePem.split('\n')[1]!;
    const tables = await db.prisma.$queryRawUnsafe<{ name: string }[]>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    const dump: string[] = [];
    for (const { name } of tables) {
      const rows = await db.prisma.$queryRawUnsafe<{ row: string }[]>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
      dump.push(...rows.map((r) => r.row));
    }
    expect(dump.join()).toContain(alpha!.fingerprint);
    expect(JSON.stringify(dump)).not.toContain(secret);
    expect(JSON.stringify(dump)).not.toContain('PRIVATE KEY');
    const api = await run(alpha!.admin, ThisServerDocument, {});
    expect(JSON.stringify(api)).not.toContain(secret);
    expect(JSON.stringify(api)).not.toContain('PRIVATE KEY');
  });
});
