// src/tlog/checkpoint.ts and src/tlog/cosignature.ts.
//
// Vectors: the tree note of golang.org/x/mod/sumdb/tlog's note_test.go, the checkpoint and
// cosignature line of the C2SP tlog-cosignature spec (its framing: the spec publishes no
// key), and a cosignature made outside node: `openssl pkeyutl -sign -rawin` with the
// RFC 8032 section 7.1 TEST 1 key over the spec's example message
// ("cosignature/v1\ntime 1679315147\n" + its checkpoint), framed by hand as
// key ID (SHA-256 of name, 0x0A, 0x04, key; openssl dgst) || 0x00000000641850CB || signature.
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CheckpointError, formatCheckpoint, openCheckpoint, parseCheckpoint, type Checkpoint } from '../src/tlog/checkpoint.js';
import { cosignatureSigner, cosignatureTime, cosignatureVerifier } from '../src/tlog/cosignature.js';
import { EMPTY_TREE_HASH, MAX_TREE_SIZE, leafHash } from '../src/tlog/merkle.js';
import {
  NoteError,
  SignatureType,
  addSignatures,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatVerifierKey,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
} from '../src/tlog/note.js';
import { ed25519PrivateKey } from './tlog-helpers.js';

const SPEC_CHECKPOINT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_COSIGNED =
  `${SPEC_CHECKPOINT}\n` +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';

const RFC8032_TEST1_KEY = ed25519PrivateKey(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'));
const WITNESS_VKEY = 'witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea';
const WITNESS_LINE = '— witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n';

describe('checkpoints', () => {
  test("Go sumdb/tlog's tree note", () => {
    const text = 'go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n';
    const checkpoint = { origin: 'go.sum database tree', size: 123456789012, rootHash: leafHash(Buffer.from('hello world')) };
    expect(formatCheckpoint(checkpoint)).toBe(text);
    expect(parseCheckpoint(text)).toEqual({ ...checkpoint, extensions: [] });
  });

  test("the C2SP spec's checkpoint, and extension lines", () => {
    const parsed = parseCheckpoint(SPEC_CHECKPOINT);
    expect(parsed.origin).toBe('example.com/behind-the-sofa');
    expect(parsed.size).toBe(20852163);
    expect(Buffer.from(parsed.rootHash).toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    const extended = `${SPEC_CHECKPOINT}one\ntwo three\n`;
    expect(parseCheckpoint(extended).extensions).toEqual(['one', 'two three']);
    expect(formatCheckpoint(parseCheckpoint(extended))).toBe(extended);
  });

  test('the empty tree', () => {
    const empty = { origin: 'peertrust/cluster', size: 0, rootHash: EMPTY_TREE_HASH };
    expect(parseCheckpoint(formatCheckpoint(empty)).size).toBe(0);
    expect(() => formatCheckpoint({ ...empty, rootHash: leafHash(new Uint8Array()) })).toThrow(/empty but its root hash/);
  });

  test('malformed checkpoints are refused, each with its reason', () => {
    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    const bad: [string, RegExp][] = [
      ['example.com/log\n5\n' + root, /ends with a newline/],
      ['\n5\n' + root + '\n', /no origin/],
      ['example.com/log\n' + root + '\n', /tree size/],
      ['example.com/log\n5\n', /root hash "" is not/],
      ['example.com/log\n0xabcdef\n' + root + '\n', /not a decimal number/],
      ['example.com/log\n05\n' + root + '\n', /without leading zeros/],
      ['example.com/log\n-5\n' + root + '\n', /not a decimal number/],
      ['example.com/log\n+5\n' + root + '\n', /not a decimal number/],
      ['example.com/log\n5 \n' + root + '\n', /not a decimal number/],
      [`example.com/log\n${MAX_TREE_SIZE + 1}\n${root}\n`, /larger than 2\^52/],
      ['example.com/log\n5\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n', /root hash/],
      ['example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n', /root hash/],
      ['example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n', /root hash/],
      ['example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n', /root hash/],
      ['example.com/log\n0\n' + root + '\n', /empty but its root hash/],
      ['example.com/log\n5\n' + root + '\n\n', /empty extension line/],
      ['example.com/log\n5\n' + root + '\nextension\n\n', /empty extension line/],
    ];
    for (const [text, reason] of bad) expect(() => parseCheckpoint(text), JSON.stringify(text)).toThrow(reason);
    for (const [text] of bad) expect(() => parseCheckpoint(text)).toThrow(CheckpointError);
  });

  test('formatting refuses what it could not write back', () => {
    const good: Checkpoint = { origin: 'example.com/log', size: 5, rootHash: leafHash(new Uint8Array()) };
    expect(() => formatCheckpoint({ ...good, origin: '' })).toThrow(/no origin/);
    expect(() => formatCheckpoint({ ...good, origin: 'a\n0' })).toThrow(/newline/);
    expect(() => formatCheckpoint({ ...good, extensions: ['x\ny'] })).toThrow(/newline/);
    expect(() => formatCheckpoint({ ...good, size: 1.5 })).toThrow(/not a decimal number/);
    expect(() => formatCheckpoint({ ...good, size: -1 })).toThrow(/not a decimal number/);
    expect(() => formatCheckpoint({ ...good, rootHash: new Uint8Array(31) })).toThrow(/root hash/);
  });

  test('a checkpoint round-trips (property)', () => {
    const line = fc.string({ minLength: 1, unit: 'grapheme' }).filter((text) => !text.includes('\n'));
    const checkpoint = fc.record({
      origin: line,
      size: fc.integer({ min: 1, max: MAX_TREE_SIZE }),
      rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      extensions: fc.array(line, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(checkpoint, (value) => {
        expect(parseCheckpoint(formatCheckpoint(value))).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });
});

describe('cosignatures (tlog-cosignature, Ed25519 cosignature/v1)', () => {
  test('a cosignature made with openssl: the same line is made, and it verifies', () => {
    const signer = cosignatureSigner('witness.example.com/w1', RFC8032_TEST1_KEY, () => 1679315147);
    expect(signer.keyId).toBe(0x7e6f4aaa);
    expect(formatVerifierKey('witness.example.com/w1', SignatureType.cosignatureV1, RFC8032_TEST1_KEY)).toBe(WITNESS_VKEY);
    expect(signNote(SPEC_CHECKPOINT, [signer])).toBe(`${SPEC_CHECKPOINT}\n${WITNESS_LINE}`);

    const vkey = parseVerifierKey(WITNESS_VKEY);
    expect(vkey.type).toBe(SignatureType.cosignatureV1);
    const opened = openNote(`${SPEC_CHECKPOINT}\n${WITNESS_LINE}`, [cosignatureVerifier(vkey.name, vkey.publicKey)]);
    expect(opened.verified.map(cosignatureTime)).toEqual([1679315147]);
  });

  test("the spec's example line: key ID, then the timestamp of its signed-message example", () => {
    const [, witness] = parseNote(SPEC_COSIGNED).signatures;
    expect(witness!.name).toBe('witness.example.com/w1');
    expect(witness!.keyId).toBe(0x8d66cf3f);
    expect(cosignatureTime(witness!)).toBe(1679315147);
  });

  test('a cosignature is not a note signature of the same key, nor the reverse', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const cosigned = signNote(SPEC_CHECKPOINT, [cosignatureSigner('w.example', privateKey, () => 1)]);
    const signed = signNote(SPEC_CHECKPOINT, [ed25519NoteSigner('w.example', privateKey)]);
    expect(() => openNote(cosigned, [ed25519NoteVerifier('w.example', publicKey)])).toThrow(/no signature from a known key/);
    expect(() => openNote(signed, [cosignatureVerifier('w.example', publicKey)])).toThrow(/no signature from a known key/);
    // The same bytes under the other type's key ID do not verify either.
    const relabelled = cosigned.replace(
      /— w\.example (\S+)/,
      (_, b64: string) => `— w.example ${Buffer.concat([Buffer.from(parseNote(signed).signatures[0]!.keyId.toString(16).padStart(8, '0'), 'hex'), Buffer.from(b64, 'base64').subarray(4)]).toString('base64')}`,
    );
    expect(() => openNote(relabelled, [ed25519NoteVerifier('w.example', publicKey)])).toThrow(/does not verify/);
  });

  test('the timestamp is signed, and times past 2^53 - 1 are refused', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const verifier = cosignatureVerifier('w.example', publicKey);
    const [cosignature] = parseNote(signNote(SPEC_CHECKPOINT, [cosignatureSigner('w.example', privateKey, () => 1700000000)])).signatures;
    expect(verifier.verify(SPEC_CHECKPOINT, cosignature!.signature)).toBe(true);
    const later = Buffer.from(cosignature!.signature);
    later.writeBigUInt64BE(1700000001n, 0);
    expect(verifier.verify(SPEC_CHECKPOINT, later)).toBe(false);
    later.writeBigUInt64BE(2n ** 53n, 0);
    expect(verifier.verify(SPEC_CHECKPOINT, later)).toBe(false);
    expect(verifier.verify(SPEC_CHECKPOINT, cosignature!.signature.subarray(1))).toBe(false);
    expect(() => cosignatureSigner('w.example', privateKey, () => -1).sign(SPEC_CHECKPOINT)).toThrow(/not POSIX seconds/);
    expect(() => cosignatureSigner('w.example', publicKey)).toThrow(/private key/);
    expect(() => cosignatureSigner('w example', privateKey)).toThrow(/not a key name/);
    expect(() => cosignatureVerifier('w+example', publicKey)).toThrow(/not a key name/);
  });
});

describe('opening a signed, cosigned checkpoint', () => {
  const origin = 'peertrust/cluster-1';
  const server = generateKeyPairSync('ed25519');
  const otherServer = generateKeyPairSync('ed25519');
  const peers = [generateKeyPairSync('ed25519'), generateKeyPairSync('ed25519'), generateKeyPairSync('ed25519')];
  const log = ed25519NoteVerifier(`${origin}/server-a`, server.publicKey);
  const witnesses = peers.map(({ publicKey }, i) => cosignatureVerifier(`peertrust/server-${i}`, publicKey));
  const cosigners = peers.map(({ privateKey }, i) => cosignatureSigner(`peertrust/server-${i}`, privateKey, () => 1700000000 + i));
  const checkpoint: Checkpoint = { origin, size: 42, rootHash: leafHash(Buffer.from('root')) };
  const signed = signNote(formatCheckpoint(checkpoint), [ed25519NoteSigner(`${origin}/server-a`, server.privateKey)]);
  // Each witness checks the log's signature, then adds its cosignature.
  const cosigned = cosigners.slice(0, 2).reduce((message, cosigner) => {
    openCheckpoint(message, origin, [log]);
    return addSignatures(message, [cosigner]);
  }, signed);

  test('the log signature and the known witnesses, with their times', () => {
    const opened = openCheckpoint(cosigned, origin, [log], witnesses);
    expect(opened.checkpoint).toEqual({ ...checkpoint, extensions: [] });
    expect(opened.logSignatures.map(({ name }) => name)).toEqual([`${origin}/server-a`]);
    expect(opened.cosignatures.map(({ name, time }) => [name, time])).toEqual([
      ['peertrust/server-0', 1700000000],
      ['peertrust/server-1', 1700000001],
    ]);
    // A witness the reader does not know is ignored.
    expect(openCheckpoint(cosigned, origin, [log], witnesses.slice(1)).cosignatures).toHaveLength(1);
  });

  test('without a signature from a log key, witnesses are not enough', () => {
    const otherLog = ed25519NoteVerifier(`${origin}/server-b`, otherServer.publicKey);
    expect(() => openCheckpoint(cosigned, origin, [otherLog], witnesses)).toThrow(new CheckpointError(`the checkpoint is not signed by a key of the log ${origin}`));
    expect(() => openCheckpoint(cosigned, origin, [], witnesses)).toThrow(CheckpointError);
  });

  test("another log's checkpoint is refused", () => {
    expect(() => openCheckpoint(cosigned, 'peertrust/cluster-2', [log], witnesses)).toThrow(/of the log "peertrust\/cluster-1", not "peertrust\/cluster-2"/);
  });

  test("a cosignature moved onto another checkpoint does not verify", () => {
    const other = signNote(formatCheckpoint({ ...checkpoint, size: 43 }), [ed25519NoteSigner(`${origin}/server-a`, server.privateKey)]);
    const cosignatureLine = cosigned.split('\n').find((line) => line.startsWith('— peertrust/server-0 '))!;
    expect(() => openCheckpoint(`${other}${cosignatureLine}\n`, origin, [log], witnesses)).toThrow(/peertrust\/server-0\+[0-9a-f]{8} does not verify/);
  });

  test('changing any one character of the cosigned checkpoint is caught (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 0xffff }), (at, delta) => {
        const position = at % cosigned.length;
        const changed = cosigned.slice(0, position) + String.fromCharCode((cosigned.charCodeAt(position) + delta) % 0x10000) + cosigned.slice(position + 1);
        // Either it is refused, or the changed line now belongs to an unknown key and is ignored.
        let opened;
        try {
          opened = openCheckpoint(changed, origin, [log], witnesses);
        } catch (error) {
          expect(error).toSatisfy((e) => e instanceof NoteError || e instanceof CheckpointError);
          return;
        }
        expect(opened.checkpoint).toEqual({ ...checkpoint, extensions: [] });
        expect(opened.cosignatures.length).toBeLessThan(2);
      }),
      { numRuns: 1000 },
    );
  });
});
