// src/tlog/note.ts against the vectors of golang.org/x/mod/sumdb/note's note_test.go (the
// PeterNeumann signing key, its signed text, the EnochRoot signature, the mangled
// verifier keys) and the example of the C2SP signed-note spec (example.com/foo).
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  MAX_SIGNATURES,
  NoteError,
  SignatureType,
  addSignatures,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  ed25519PublicKey,
  formatVerifierKey,
  openNote,
  parseNote,
  parseVerifierKey,
  rawEd25519PublicKey,
  signNote,
  type NoteVerifier,
} from '../src/tlog/note.js';
import { ed25519PrivateKey } from './tlog-helpers.js';

/** The verifier of a vkey of signature type 0x01. */
function noteVerifier(vkey: string): NoteVerifier {
  const { name, type, publicKey } = parseVerifierKey(vkey);
  expect(type).toBe(SignatureType.ed25519);
  return ed25519NoteVerifier(name, publicKey);
}

// Go's skey "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz":
// the seed is what follows the type byte 0x01.
const PETER_KEY = ed25519PrivateKey(Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1));
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

describe('golang.org/x/mod/sumdb/note vectors', () => {
  test('signing with a fixed key gives the expected note', () => {
    const signer = ed25519NoteSigner('PeterNeumann', PETER_KEY);
    expect(signer.keyId).toBe(0xc74f20a3);
    expect(signNote(TEXT, [signer])).toBe(`${TEXT}\n${PETER_SIG}`);
    expect(formatVerifierKey('PeterNeumann', SignatureType.ed25519, PETER_KEY)).toBe(PETER_VKEY);
  });

  test('a signature is replaced by a new one of the same key', () => {
    const signer = ed25519NoteSigner('PeterNeumann', PETER_KEY);
    const stale = `${TEXT}\n${PETER_SIG.replace('ZJku', 'ZJkv')}${ENOCH_SIG}`;
    expect(addSignatures(stale, [signer])).toBe(`${TEXT}\n${ENOCH_SIG}${PETER_SIG}`);
  });

  test('opening: known keys verify, unknown ones are ignored, none known is refused', () => {
    const [peter, enoch] = [noteVerifier(PETER_VKEY), noteVerifier(ENOCH_VKEY)];
    const message = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;

    const one = openNote(message, [peter]);
    expect(one.text).toBe(TEXT);
    expect(one.verified.map(({ name, keyId }) => [name, keyId])).toEqual([['PeterNeumann', 0xc74f20a3]]);
    expect(one.unknown.map(({ name, keyId }) => [name, keyId])).toEqual([['EnochRoot', 0xaf0cfe78]]);

    const both = openNote(message, [peter, enoch]);
    expect(both.verified.map(({ name }) => name)).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(both.unknown).toEqual([]);

    expect(() => openNote(message, [])).toThrow(new NoteError('the note has no signature from a known key (it is signed by PeterNeumann+c74f20a3, EnochRoot+af0cfe78)'));
  });

  test('a duplicated verifier is refused, a duplicated signature counts once', () => {
    const [peter, enoch] = [noteVerifier(PETER_VKEY), noteVerifier(ENOCH_VKEY)];
    expect(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch])).toThrow(/two verifiers have the key EnochRoot\+af0cfe78/);
    expect(openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}`, [peter]).verified).toHaveLength(1);
  });

  test('a known key whose signature does not verify rejects the note', () => {
    const [peter, enoch] = [noteVerifier(PETER_VKEY), noteVerifier(ENOCH_VKEY)];
    const corrupt = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(() => openNote(`${TEXT}\n${corrupt}`, [peter])).toThrow(/the signature of PeterNeumann\+c74f20a3 does not verify/);
    // Even beside a valid signature from another known key.
    expect(() => openNote(`${TEXT}\n${ENOCH_SIG}${corrupt}`, [peter, enoch])).toThrow(/does not verify/);
    // An unknown key's bad signature is ignored.
    const badEnoch = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
    expect(openNote(`${TEXT}\n${PETER_SIG}${badEnoch}`, [peter]).unknown).toHaveLength(1);
  });

  test('malformed notes are refused, each with its reason', () => {
    const peter = noteVerifier(PETER_VKEY);
    const bad: [string, RegExp][] = [
      [TEXT, /no blank line/],
      [`${TEXT}\n`, /does not end with a newline/],
      [`${TEXT}\n${PETER_SIG.slice(0, -1)}`, /does not end with a newline/],
      [`\x01${TEXT}\n${PETER_SIG}`, /control character/],
      [`\t${TEXT}\n${PETER_SIG}`, /control character/],
      [`\r\n${TEXT}\n${PETER_SIG}`, /control character/],
      [`\ud800${TEXT}\n${PETER_SIG}`, /lone surrogate/],
      [`${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`, /not "— <key name> <base64 signature>"/],
      [`${TEXT}\n${PETER_SIG}Unexpected line.\n`, /signature line 2 is not/],
      [`${TEXT}\n${PETER_SIG.replace('— ', '- ')}`, /signature line 1 is not/],
      [`${TEXT}\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`, /no valid key name/],
      [`${TEXT}\n— Peter\u00a0Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`, /no valid key name/],
      [`${TEXT}\n— PeterNeumann x08go/Z\n`, /not the base64 of a key ID and a signature/],
      [`${TEXT}\n— PeterNeumann x08gow==\n`, /not the base64 of a key ID and a signature/],
      [`${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n`, /not the base64/],
      [`${TEXT}\n${PETER_SIG.repeat(MAX_SIGNATURES + 1)}`, /more than 100 signatures/],
    ];
    for (const [message, reason] of bad) expect(() => openNote(message, [peter]), JSON.stringify(message)).toThrow(reason);
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(MAX_SIGNATURES)}`, [peter]).verified).toHaveLength(1);
  });

  test('verifier keys: the valid one parses, every substring and every one-character change is refused', () => {
    const { name, keyId, type, publicKey } = parseVerifierKey(PETER_VKEY);
    expect([name, keyId, type]).toEqual(['PeterNeumann', 0xc74f20a3, SignatureType.ed25519]);
    expect(formatVerifierKey(name, type, publicKey)).toBe(PETER_VKEY);
    for (let start = 0; start < PETER_VKEY.length; start++) {
      for (let end = start + 1; end <= PETER_VKEY.length; end++) {
        if (start === 0 && end === PETER_VKEY.length) continue;
        expect(() => parseVerifierKey(PETER_VKEY.slice(start, end))).toThrow(NoteError);
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const changed = PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      expect(() => parseVerifierKey(changed), changed).toThrow(NoteError);
    }
    expect(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow(NoteError);
    expect(() => parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==')).toThrow(/33 bytes, not 32/);
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(/type 0x65 is not supported/);
    expect(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(/lowercase hex/);
  });
});

describe('the C2SP signed-note example', () => {
  test('example.com/foo verifies its note', () => {
    const foo = noteVerifier('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
    const message = 'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
    expect(openNote(message, [foo]).text).toBe('This is an example message.\n');
  });

  test('the text ends at the last blank line, and may have blank lines of its own', () => {
    const signer = ed25519NoteSigner('example.com/foo', PETER_KEY);
    const text = 'one\n\ntwo\n\n';
    const message = signNote(text, [signer]);
    expect(parseNote(message).text).toBe(text);
    expect(openNote(message, [ed25519NoteVerifier('example.com/foo', PETER_KEY)]).text).toBe(text);
  });
});

describe('keys', () => {
  test('raw public keys from and to KeyObjects, private keys included', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = rawEd25519PublicKey(publicKey);
    expect(raw).toHaveLength(32);
    expect(Buffer.from(raw).equals(publicKey.export({ type: 'spki', format: 'der' }).subarray(-32))).toBe(true);
    expect(rawEd25519PublicKey(privateKey)).toEqual(raw);
    expect(ed25519PublicKey(raw).equals(publicKey)).toBe(true);
    expect(() => ed25519PublicKey(raw.subarray(1))).toThrow(/32 bytes/);
    expect(() => rawEd25519PublicKey(generateKeyPairSync('x25519').publicKey)).toThrow(/not an Ed25519 key/);
  });

  test('a signer needs a private key and a key name', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    expect(() => ed25519NoteSigner('a', publicKey)).toThrow(/private key/);
    for (const name of ['', 'a b', 'a+b', 'a\tb', 'a\u2003b', 'a\x01b']) {
      expect(() => ed25519NoteSigner(name, privateKey), JSON.stringify(name)).toThrow(/not a key name/);
    }
  });

  test('signatures by unknown keys that share a name or a key ID with a known one are ignored', () => {
    const known = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const verifier = ed25519NoteVerifier('log.example/a', known.publicKey);
    const sameName = ed25519NoteSigner('log.example/a', other.privateKey);
    const message = signNote('hello\n', [sameName, ed25519NoteSigner('log.example/a', known.privateKey)]);
    expect(openNote(message, [verifier]).unknown.map(({ name }) => name)).toEqual(['log.example/a']);
    // Same key ID, other name: the signature line's name differs, so it is another key.
    const renamed = signNote('hello\n', [ed25519NoteSigner('log.example/a', known.privateKey)]).replace('— log.example/a ', '— log.example/b ');
    expect(() => openNote(renamed, [verifier])).toThrow(/no signature from a known key/);
  });
});

describe('signing and tampering (property)', () => {
  const noteText = fc
    .array(fc.string({ unit: 'grapheme' }).map((line) => line.replace(/[\u0000-\u001f]/g, '')), { minLength: 1, maxLength: 5 })
    .map((lines) => `${lines.join('\n')}\n`);

  test('a signed note opens to its text; changing any one character of it is caught', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = ed25519NoteSigner('a.example/log', privateKey);
    const verifier = ed25519NoteVerifier('a.example/log', publicKey);
    fc.assert(
      fc.property(noteText, fc.nat(), fc.integer({ min: 1, max: 0xffff }), (text, at, delta) => {
        const message = signNote(text, [signer]);
        expect(openNote(message, [verifier]).text).toBe(text);
        const position = at % message.length;
        const changed = message.slice(0, position) + String.fromCharCode((message.charCodeAt(position) + delta) % 0x10000) + message.slice(position + 1);
        expect(() => openNote(changed, [verifier])).toThrow(NoteError);
      }),
      { numRuns: 1000 },
    );
  });

  test('flipping any bit of a signature is caught', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const verifier = ed25519NoteVerifier('a.example/log', publicKey);
    const message = signNote(TEXT, [ed25519NoteSigner('a.example/log', privateKey)]);
    const [signature] = parseNote(message).signatures;
    for (let bit = 0; bit < 8 * (4 + 64); bit++) {
      const bytes = Buffer.alloc(68);
      bytes.writeUInt32BE(signature!.keyId, 0);
      bytes.set(signature!.signature, 4);
      bytes[Math.floor(bit / 8)]! ^= 1 << bit % 8;
      const changed = `${TEXT}\n— a.example/log ${bytes.toString('base64')}\n`;
      expect(() => openNote(changed, [verifier])).toThrow(NoteError);
    }
  });
});
