// src/tlog/merkle.ts against Certificate Transparency's test vectors and RFC 6962's worked
// examples, and, by property, against RFC 6962's recursive definitions of PATH and PROOF.
//
// Vectors: the leaf inputs, node hashes and root hashes of the 0- to 8-leaf trees that
// CT's implementations share (certificate-transparency-go's merkle tests, now
// github.com/transparency-dev/merkle testonly/constants.go), its happy-path inclusion and
// consistency proofs (transparency-dev/merkle testdata/{inclusion,consistency}/*/happy-path.json),
// RFC 6962 section 2.1.3's audit paths and consistency proofs over its 7-leaf tree, and
// the leaf hash of "hello world" from golang.org/x/mod/sumdb/tlog's note_test.go.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  EMPTY_TREE_HASH,
  Frontier,
  MAX_TREE_SIZE,
  MemoryHashStore,
  ProofError,
  leafHash,
  merkleTreeHash,
  nodeHash,
  proveConsistency,
  proveInclusion,
  storedHashCount,
  storedHashIndex,
  storedHashesForLeaf,
  storedTreeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type HashReader,
} from '../src/tlog/merkle.js';

const hex = (text: string): Hash => new Uint8Array(Buffer.from(text, 'hex'));
const b64 = (text: string): Hash => new Uint8Array(Buffer.from(text, 'base64'));
const show = (hash: Hash) => Buffer.from(hash).toString('hex');
const showAll = (hashes: readonly Hash[]) => hashes.map(show);

const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);

/** NODE_HASHES[level][n]: the complete subtrees of the 8-leaf tree. */
const NODE_HASHES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];

/** ROOT_HASHES[n]: the root of the tree of the first n leaves. */
const ROOT_HASHES = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

interface InclusionVector {
  index: number;
  size: number;
  proof: string[];
}
const INCLUSION_VECTORS: InclusionVector[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      'lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=',
      'yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
      '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
    ],
  },
  { index: 2, size: 3, proof: ['+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU='] },
  {
    index: 1,
    size: 5,
    proof: [
      'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=',
    ],
  },
];

interface ConsistencyVector {
  size1: number;
  size2: number;
  proof: string[];
}
const CONSISTENCY_VECTORS: ConsistencyVector[] = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      'lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      'DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=',
      'yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
      '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
    ],
  },
  { size1: 2, size2: 5, proof: ['Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=', 'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms='] },
  {
    size1: 6,
    size2: 7,
    proof: [
      'DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=',
      'sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=',
      '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
    ],
  },
];

const LEAVES = LEAF_INPUTS.map(leafHash);
const ROOTS = ROOT_HASHES.map(hex);

async function storeOf(leaves: readonly Hash[]): Promise<MemoryHashStore> {
  const store = new MemoryHashStore();
  for (const leaf of leaves) await store.append(leaf);
  return store;
}

/** A HashReader that records what it is asked for, and checks it asks as promised. */
function recording(read: HashReader) {
  const calls: number[][] = [];
  const reader: HashReader = async (indexes) => {
    expect(indexes).toEqual([...new Set(indexes)].sort((a, b) => a - b));
    calls.push(indexes);
    return read(indexes);
  };
  return { reader, calls };
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 2.1.1: PATH(m, D[n]), as written there. */
function referencePath(m: number, leaves: readonly Hash[]): Hash[] {
  if (leaves.length === 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  return m < k
    ? [...referencePath(m, leaves.slice(0, k)), merkleTreeHash(leaves.slice(k))]
    : [...referencePath(m - k, leaves.slice(k)), merkleTreeHash(leaves.slice(0, k))];
}

/** RFC 6962 2.1.2: PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as written there. */
function referenceProof(m: number, leaves: readonly Hash[], wholeOldTree = true): Hash[] {
  if (m === leaves.length) return wholeOldTree ? [] : [merkleTreeHash(leaves)];
  const k = largestPowerOfTwoBelow(leaves.length);
  return m <= k
    ? [...referenceProof(m, leaves.slice(0, k), wholeOldTree), merkleTreeHash(leaves.slice(k))]
    : [...referenceProof(m - k, leaves.slice(k), false), merkleTreeHash(leaves.slice(0, k))];
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << bit % 8;
  return copy;
}

describe('RFC 6962 hashing: CT vectors', () => {
  test('leaf hashes', () => {
    expect(showAll(LEAVES)).toEqual(NODE_HASHES[0]);
    expect(Buffer.from(leafHash(Buffer.from('hello world'))).toString('base64')).toBe('TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=');
  });

  test('roots of the trees of 0 to 8 leaves, from all leaves and from stored hashes', async () => {
    const store = await storeOf(LEAVES);
    for (let size = 0; size <= 8; size++) {
      expect(show(merkleTreeHash(LEAVES.slice(0, size)))).toBe(ROOT_HASHES[size]);
      expect(show(await storedTreeHash(size, store.read))).toBe(ROOT_HASHES[size]);
    }
    expect(show(EMPTY_TREE_HASH)).toBe(ROOT_HASHES[0]);
  });

  test('each complete subtree is stored at storedHashIndex(level, n)', async () => {
    const store = await storeOf(LEAVES);
    const indexes = NODE_HASHES.flatMap((level, l) => level.map((_, n) => storedHashIndex(l, n)));
    expect(indexes.sort((a, b) => a - b)).toEqual([...Array(storedHashCount(8)).keys()]);
    for (const [level, hashes] of NODE_HASHES.entries()) {
      const stored = await store.read(hashes.map((_, n) => storedHashIndex(level, n)));
      expect(showAll(stored)).toEqual(hashes);
    }
  });

  test("the stored hash layout of Go's sumdb/tlog", () => {
    const layout = [
      [0, 0],
      [0, 1],
      [1, 0],
      [0, 2],
      [0, 3],
      [1, 1],
      [2, 0],
      [0, 4],
    ];
    expect(layout.map(([level, n]) => storedHashIndex(level!, n!))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([0, 1, 2, 3, 4, 5, 7, 8].map(storedHashCount)).toEqual([0, 1, 3, 4, 7, 8, 11, 15]);
  });
});

describe('proofs: CT vectors', () => {
  test.each(INCLUSION_VECTORS)('inclusion of leaf $index in $size leaves', async ({ index, size, proof }) => {
    const store = await storeOf(LEAVES);
    const expected = proof.map(b64);
    expect(showAll(await proveInclusion(index, size, store.read))).toEqual(showAll(expected));
    expect(() => verifyInclusion(index, size, LEAVES[index]!, expected, ROOTS[size]!)).not.toThrow();
  });

  test.each(CONSISTENCY_VECTORS)('consistency of $size1 and $size2 leaves', async ({ size1, size2, proof }) => {
    const store = await storeOf(LEAVES);
    const expected = proof.map(b64);
    expect(showAll(await proveConsistency(size1, size2, store.read))).toEqual(showAll(expected));
    expect(() => verifyConsistency(size1, size2, expected, ROOTS[size1]!, ROOTS[size2]!)).not.toThrow();
  });

  // The kinds of corruption of transparency-dev/merkle's probes, applied to every vector.
  test.each(INCLUSION_VECTORS)('corrupted inclusion of leaf $index in $size leaves fails', ({ index, size, proof }) => {
    const good = proof.map(b64);
    const leaf = LEAVES[index]!;
    const root = ROOTS[size]!;
    const otherLeaf = LEAVES[(index + 1) % 8]!;
    const cases: [string, () => void][] = [
      ['wrong leaf', () => verifyInclusion(index, size, otherLeaf, good, root)],
      ['index + 1', () => verifyInclusion(index + 1, size, leaf, good, root)],
      ['index - 1', () => verifyInclusion(index - 1, size, leaf, good, root)],
      ['index ^ 2', () => verifyInclusion(index ^ 2, size, leaf, good, root)],
      ['size * 2', () => verifyInclusion(index, size * 2, leaf, good, root)],
      ['size / 2', () => verifyInclusion(index, Math.floor(size / 2), leaf, good, root)],
      ['empty root', () => verifyInclusion(index, size, leaf, good, EMPTY_TREE_HASH)],
      ['root of another size', () => verifyInclusion(index, size, leaf, good, ROOTS[size === 8 ? 7 : 8]!)],
      ['hash before the proof', () => verifyInclusion(index, size, leaf, [leaf, ...good], root)],
      ['hash after the proof', () => verifyInclusion(index, size, leaf, [...good, root], root)],
      ['proof without its first hash', () => verifyInclusion(index, size, leaf, good.slice(1), root)],
      ['proof without its last hash', () => verifyInclusion(index, size, leaf, good.slice(0, -1), root)],
      ['short hash', () => verifyInclusion(index, size, leaf, good, root.subarray(1))],
      ...good.map((_, i): [string, () => void] => [`bit flipped in proof[${i}]`, () => verifyInclusion(index, size, leaf, good.map((h, j) => (j === i ? flipBit(h, 77) : h)), root)]),
    ];
    for (const [name, verify] of cases) {
      if (name.endsWith('first hash') && good.length === 0) continue;
      if (name.endsWith('last hash') && good.length === 0) continue;
      expect(verify, name).toThrow(ProofError);
    }
  });

  test.each(CONSISTENCY_VECTORS)('corrupted consistency of $size1 and $size2 leaves fails', ({ size1, size2, proof }) => {
    const good = proof.map(b64);
    const [root1, root2] = [ROOTS[size1]!, ROOTS[size2]!];
    const cases: [string, () => void][] = [
      ...(size1 !== size2 ? ([['swapped roots', () => verifyConsistency(size1, size2, good, root2, root1)]] as [string, () => void][]) : []),
      ['wrong first root', () => verifyConsistency(size1, size2, good, ROOTS[size1 + 1]!, root2)],
      ['wrong second root', () => verifyConsistency(size1, size2, good, root1, ROOTS[size2 - 1]!)],
      ['size1 + 1', () => verifyConsistency(size1 + 1, size2, good, root1, root2)],
      ['size1 - 1', () => verifyConsistency(size1 - 1, size2, good, root1, root2)],
      ['size1 ^ 2', () => verifyConsistency(size1 ^ 2, size2, good, root1, root2)],
      ['size2 * 2', () => verifyConsistency(size1, size2 * 2, good, root1, root2)],
      ['size2 / 2', () => verifyConsistency(size1, Math.floor(size2 / 2), good, root1, root2)],
      ['hash before the proof', () => verifyConsistency(size1, size2, [root1, ...good], root1, root2)],
      ['hash after the proof', () => verifyConsistency(size1, size2, [...good, root2], root1, root2)],
      ...(good.length > 0
        ? ([
            ['empty proof', () => verifyConsistency(size1, size2, [], root1, root2)],
            ['truncated proof', () => verifyConsistency(size1, size2, good.slice(0, -1), root1, root2)],
          ] as [string, () => void][])
        : []),
      ...good.map((_, i): [string, () => void] => [`bit flipped in proof[${i}]`, () => verifyConsistency(size1, size2, good.map((h, j) => (j === i ? flipBit(h, 4) : h)), root1, root2)]),
    ];
    for (const [name, verify] of cases) expect(verify, name).toThrow(ProofError);
  });

  test('consistency edge cases', () => {
    const [root1, root2] = [ROOTS[1]!, ROOTS[2]!];
    expect(() => verifyConsistency(0, 0, [], EMPTY_TREE_HASH, EMPTY_TREE_HASH)).toThrow(/empty tree/);
    expect(() => verifyConsistency(0, 1, [], EMPTY_TREE_HASH, root1)).toThrow(/empty tree/);
    expect(() => verifyConsistency(2, 1, [], root2, root1)).toThrow(/larger/);
    expect(() => verifyConsistency(1, 1, [root1], root1, root1)).toThrow(/must be empty/);
    expect(() => verifyConsistency(1, 1, [], root1, root2)).toThrow(/different root/);
    expect(() => verifyConsistency(1, 2, [], root1, root2)).toThrow(ProofError);
    expect(() => verifyConsistency(1.5, 2, [], root1, root2)).toThrow(/not an integer/);
    expect(() => verifyConsistency(1, MAX_TREE_SIZE + 1, [], root1, root2)).toThrow(/not an integer/);
    expect(() => verifyInclusion(0, 0, LEAVES[0]!, [], EMPTY_TREE_HASH)).toThrow(/not in a tree of 0 leaves/);
  });
});

describe("RFC 6962 2.1.3's examples, over its 7-leaf tree", () => {
  const [a, b, c, d, e, f, j] = NODE_HASHES[0]!.map(hex);
  const [g, h, i] = NODE_HASHES[1]!.map(hex);
  const k = hex(NODE_HASHES[2]![0]!);
  const l = nodeHash(i!, j!);

  test('audit paths', async () => {
    const store = await storeOf(LEAVES.slice(0, 7));
    const paths: [number, Hash[]][] = [
      [0, [b!, h!, l]],
      [3, [c!, g!, l]],
      [4, [f!, j!, k]],
      [6, [i!, k]],
    ];
    for (const [index, path] of paths) expect(showAll(await proveInclusion(index, 7, store.read))).toEqual(showAll(path));
    expect(show(nodeHash(k, l))).toBe(ROOT_HASHES[7]);
    expect(show(a!)).toBe(NODE_HASHES[0]![0]);
    expect(show(e!)).toBe(NODE_HASHES[0]![4]);
  });

  test('consistency proofs', async () => {
    const store = await storeOf(LEAVES.slice(0, 7));
    expect(showAll(await proveConsistency(3, 7, store.read))).toEqual(showAll([c!, d!, g!, l]));
    expect(showAll(await proveConsistency(4, 7, store.read))).toEqual(showAll([l]));
    expect(showAll(await proveConsistency(6, 7, store.read))).toEqual(showAll([i!, j!, k]));
  });
});

describe('stored hashes against the recursive definitions', () => {
  const LEAF_COUNT = 40;
  const leaves = [...Array(LEAF_COUNT).keys()].map((n) => leafHash(Buffer.from(`leaf ${n}`)));

  test('every size, leaf and pair of sizes up to 40 leaves', async () => {
    const store = new MemoryHashStore();
    const written: number[] = [];
    for (let size = 0; size <= LEAF_COUNT; size++) {
      expect(storedHashCount(size)).toBe(written.length);
      const root = merkleTreeHash(leaves.slice(0, size));
      expect(show(await storedTreeHash(size, store.read))).toBe(show(root));
      for (let index = 0; index < size; index++) {
        const proof = await proveInclusion(index, size, store.read);
        expect(showAll(proof)).toEqual(showAll(referencePath(index, leaves.slice(0, size))));
        verifyInclusion(index, size, leaves[index]!, proof, root);
      }
      for (let size1 = 1; size1 <= size; size1++) {
        const proof = await proveConsistency(size1, size, store.read);
        expect(showAll(proof)).toEqual(showAll(referenceProof(size1, leaves.slice(0, size))));
        verifyConsistency(size1, size, proof, merkleTreeHash(leaves.slice(0, size1)), root);
      }
      if (size === LEAF_COUNT) break;
      // An append writes consecutive indexes from storedHashIndex(0, n), just past those already stored.
      const { reader, calls } = recording(store.read);
      const stored = await storedHashesForLeaf(size, leaves[size]!, reader);
      expect(stored.map(({ index }) => index)).toEqual(stored.map((_, i) => storedHashIndex(0, size) + i));
      expect(stored[0]!.index).toBe(written.length);
      expect(calls.flat()).toHaveLength(stored.length - 1);
      await store.append(leaves[size]!);
      written.push(...stored.map(({ index }) => index));
    }
  });

  test('a proof for an earlier size reads only hashes stored by then, in one batch', async () => {
    const store = await storeOf(leaves);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: LEAF_COUNT }), fc.integer({ min: 1, max: LEAF_COUNT }), fc.nat(), async (a, b, seed) => {
        const [size1, size2] = a <= b ? [a, b] : [b, a];
        const { reader, calls } = recording(async (indexes) => {
          expect(Math.max(...indexes)).toBeLessThan(storedHashCount(size2));
          return store.read(indexes);
        });
        await storedTreeHash(size2, reader);
        await proveInclusion(seed % size2, size2, reader);
        await proveConsistency(size1, size2, reader);
        expect(calls.length).toBeLessThanOrEqual(3);
      }),
    );
  });

  test('a HashReader that returns the wrong number or size of hashes is refused', async () => {
    const store = await storeOf(leaves.slice(0, 8));
    await expect(storedTreeHash(7, async (indexes) => (await store.read(indexes)).slice(1))).rejects.toThrow(/returned 2 hashes for 3 indexes/);
    await expect(storedTreeHash(7, async (indexes) => (await store.read(indexes)).map((hash) => hash.subarray(1)))).rejects.toThrow(/wrong size/);
    await expect(storedTreeHash(9, store.read)).rejects.toThrow(/no hash is stored/);
  });

  test('arguments out of range are refused', async () => {
    const store = await storeOf(leaves.slice(0, 8));
    await expect(proveInclusion(8, 8, store.read)).rejects.toThrow(RangeError);
    await expect(proveInclusion(-1, 8, store.read)).rejects.toThrow(RangeError);
    await expect(proveConsistency(0, 8, store.read)).rejects.toThrow(RangeError);
    await expect(proveConsistency(9, 8, store.read)).rejects.toThrow(RangeError);
    await expect(storedTreeHash(MAX_TREE_SIZE + 1, store.read)).rejects.toThrow(RangeError);
    await expect(storedHashesForLeaf(-1, leaves[0]!, store.read)).rejects.toThrow(RangeError);
    await expect(storedHashesForLeaf(8, leaves[0]!.subarray(1), store.read)).rejects.toThrow(TypeError);
    expect(() => storedHashIndex(1, 2 ** 51)).toThrow(RangeError);
    expect(() => storedHashIndex(0.5, 1)).toThrow(RangeError);
  });
});

describe('proofs agree with the recursive definitions, and any change fails verification (property)', () => {
  const LEAF_COUNT = 300;
  const entries = [...Array(LEAF_COUNT).keys()].map((n) => Buffer.from(`entry ${n}`));
  const leaves = entries.map(leafHash);
  const storePromise = storeOf(leaves);
  const roots = leaves.map((_, size) => merkleTreeHash(leaves.slice(0, size))).concat([merkleTreeHash(leaves)]);
  const tree = fc
    .integer({ min: 1, max: LEAF_COUNT })
    .chain((size) => fc.record({ size: fc.constant(size), index: fc.nat({ max: size - 1 }), size1: fc.integer({ min: 1, max: size }) }));

  test('inclusion: the proof verifies, and no single bit of the entry, a proof hash, the root or the index can change', async () => {
    const store = await storePromise;
    await fc.assert(
      fc.asyncProperty(tree, fc.nat(), async ({ size, index }, bit) => {
        const proof = await proveInclusion(index, size, store.read);
        expect(showAll(proof)).toEqual(showAll(referencePath(index, leaves.slice(0, size))));
        const root = roots[size]!;
        verifyInclusion(index, size, leaves[index]!, proof, root);
        expect(() => verifyInclusion(index, size, leafHash(flipBit(entries[index]!, bit)), proof, root)).toThrow(ProofError);
        expect(() => verifyInclusion(index, size, flipBit(leaves[index]!, bit), proof, root)).toThrow(ProofError);
        expect(() => verifyInclusion(index, size, leaves[index]!, proof, flipBit(root, bit))).toThrow(ProofError);
        proof.forEach((_, i) => {
          const changed = proof.map((hash, j) => (j === i ? flipBit(hash, bit) : hash));
          expect(() => verifyInclusion(index, size, leaves[index]!, changed, root)).toThrow(ProofError);
        });
        for (let b = 0; b < 10; b++) {
          expect(() => verifyInclusion(index ^ (1 << b), size, leaves[index]!, proof, root)).toThrow(ProofError);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('inclusion: a proof for one tree size does not verify against the root of another', async () => {
    const store = await storePromise;
    await fc.assert(
      fc.asyncProperty(tree, async ({ size, index }) => {
        const proof = await proveInclusion(index, size, store.read);
        for (let b = 0; b < 10; b++) {
          const other = size ^ (1 << b);
          if (other > index && other <= LEAF_COUNT) {
            expect(() => verifyInclusion(index, other, leaves[index]!, proof, roots[other]!)).toThrow(ProofError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('consistency: the proof verifies, and no single bit of a proof hash, a root or a size can change', async () => {
    const store = await storePromise;
    await fc.assert(
      fc.asyncProperty(tree, fc.nat(), async ({ size, size1 }, bit) => {
        const proof = await proveConsistency(size1, size, store.read);
        expect(showAll(proof)).toEqual(showAll(referenceProof(size1, leaves.slice(0, size))));
        const [root1, root2] = [roots[size1]!, roots[size]!];
        verifyConsistency(size1, size, proof, root1, root2);
        expect(() => verifyConsistency(size1, size, proof, flipBit(root1, bit), root2)).toThrow(ProofError);
        expect(() => verifyConsistency(size1, size, proof, root1, flipBit(root2, bit))).toThrow(ProofError);
        proof.forEach((_, i) => {
          const changed = proof.map((hash, j) => (j === i ? flipBit(hash, bit) : hash));
          expect(() => verifyConsistency(size1, size, changed, root1, root2)).toThrow(ProofError);
        });
        for (let b = 0; b < 10; b++) {
          // Each size with its own tree's root: a proof between two trees proves nothing of others.
          const other1 = size1 ^ (1 << b);
          if (other1 >= 1 && other1 <= size) {
            expect(() => verifyConsistency(other1, size, proof, roots[other1]!, root2)).toThrow(ProofError);
          }
          const other2 = size ^ (1 << b);
          if (other2 >= size1 && other2 <= LEAF_COUNT) {
            expect(() => verifyConsistency(size1, other2, proof, root1, roots[other2]!)).toThrow(ProofError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a proof alone does not bind the tree size: the signed checkpoint does', async () => {
    // Leaf 0's path has the same shape in trees of 5 and 6 leaves, so the verifier combines
    // the same hashes the same way: a claimed size of 6 with the 5-leaf tree's root and
    // proof passes. Size and root are only meaningful together, as a checkpoint signs them.
    const store = await storePromise;
    verifyInclusion(0, 6, leaves[0]!, await proveInclusion(0, 5, store.read), roots[5]!);
    verifyConsistency(1, 6, await proveConsistency(1, 5, store.read), roots[1]!, roots[5]!);
  });
});

describe('trees up to 2^52 leaves: no 32-bit arithmetic', () => {
  // A tree whose leaves are all the same entry: a complete subtree's hash depends only on
  // its level, so the stored hashes of any size are known without storing anything.
  const leaf = leafHash(Buffer.from('same'));
  const levelHashes = [leaf];
  for (let level = 1; level <= 52; level++) levelHashes.push(nodeHash(levelHashes[level - 1]!, levelHashes[level - 1]!));
  const rootMemo = new Map<number, Hash>();
  const root = (size: number): Hash => {
    if (largestPowerOfTwoBelow(size + 1) === size) return levelHashes[Math.log2(size)]!;
    const k = largestPowerOfTwoBelow(size);
    let hash = rootMemo.get(size);
    if (!hash) {
      hash = nodeHash(root(k), root(size - k));
      rootMemo.set(size, hash);
    }
    return hash;
  };
  const path = (m: number, size: number): Hash[] => {
    if (size === 1) return [];
    const k = largestPowerOfTwoBelow(size);
    return m < k ? [...path(m, k), root(size - k)] : [...path(m - k, size - k), root(k)];
  };
  /** The level of the node stored at `index`: the leaf whose append stored it, by bisection. */
  const read: HashReader = async (indexes) =>
    indexes.map((index) => {
      let [low, high] = [0, MAX_TREE_SIZE];
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        if (storedHashCount(middle) <= index) low = middle;
        else high = middle;
      }
      return levelHashes[index - storedHashCount(low)]!;
    });
  const bigSize = fc.oneof(fc.integer({ min: 2 ** 31, max: MAX_TREE_SIZE }), fc.constantFrom(2 ** 32 + 1, 2 ** 52 - 1, MAX_TREE_SIZE));

  test('tree hashes, inclusion and consistency proofs', async () => {
    await fc.assert(
      fc.asyncProperty(bigSize, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), async (size, fraction) => {
        const index = Math.floor(fraction * size);
        expect(show(await storedTreeHash(size, read))).toBe(show(root(size)));
        const proof = await proveInclusion(index, size, read);
        expect(showAll(proof)).toEqual(showAll(path(index, size)));
        verifyInclusion(index, size, leaf, proof, root(size));
        expect(() => verifyInclusion(index, size, leaf, proof.slice(1), root(size))).toThrow(ProofError);
        const size1 = Math.max(1, index);
        verifyConsistency(size1, size, await proveConsistency(size1, size, read), root(size1), root(size));
      }),
      { numRuns: 100 },
    );
  });

  test('appending the last leaf of 2^52 completes 52 subtrees', async () => {
    const n = MAX_TREE_SIZE - 1;
    const stored = await storedHashesForLeaf(n, leaf, read);
    expect(stored).toHaveLength(53);
    expect(stored.map(({ index }) => index)).toEqual(stored.map((_, i) => storedHashIndex(0, n) + i));
    expect(stored.at(-1)!.index).toBe(storedHashCount(MAX_TREE_SIZE) - 1);
    expect(Number.isSafeInteger(storedHashCount(MAX_TREE_SIZE))).toBe(true);
    expect(show(stored.at(-1)!.hash)).toBe(show(root(MAX_TREE_SIZE)));
  });
});

test('a Frontier gives the Merkle Tree Hash of every size it grows through, in O(log n) memory', () => {
  const frontier = new Frontier();
  const leaves: Uint8Array[] = [];
  expect(frontier.root()).toEqual(merkleTreeHash([]));
  for (let n = 1; n <= 300; n++) {
    const leaf = leafHash(Buffer.from(`entry ${n}`));
    leaves.push(leaf);
    frontier.append(leaf);
    expect(frontier.size).toBe(n);
    expect(frontier.root()).toEqual(merkleTreeHash(leaves));
  }
});
