// Merkle trees over an append-only log, as Certificate Transparency defines them:
// hashing, tree hashes, inclusion and consistency proofs of RFC 6962 section 2.1
// (https://www.rfc-editor.org/rfc/rfc6962#section-2.1), verified with the algorithms of
// RFC 9162 sections 2.1.3.2 and 2.1.4.2 (https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3.2).
//
// A log kept in a database appends and proves from "stored hashes", the scheme of Go's
// golang.org/x/mod/sumdb/tlog (https://pkg.go.dev/golang.org/x/mod/sumdb/tlog), after
// Crosby and Wallach, "Efficient Data Structures for Tamper-Evident Logging", 3.3: the
// hash of every complete subtree is stored once, at an index of its own, when the leaf
// that completes it is appended. A subtree's hash never changes afterwards, so any tree
// size up to the current one is reachable, and a tree hash or a proof needs O(log n)
// stored hashes, read through a `HashReader` in one batch.
//
// Sizes and indexes are `number`s: tree sizes go up to 2^52 (MAX_TREE_SIZE), so that the
// stored hashes' indexes, which reach twice the tree size, stay exact integers below 2^53.
// Bitwise operators would truncate to 32 bits, so the arithmetic below divides instead.
import { createHash } from 'node:crypto';

/** A SHA-256 hash: of a leaf, of an interior node, or of a whole tree. */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;

/** The largest tree size (and so leaf count) this module handles. */
export const MAX_TREE_SIZE = 2 ** 52;

/** The hash of the empty tree: SHA-256 of nothing (RFC 6962 section 2.1). */
export const EMPTY_TREE_HASH: Hash = sha256();

/** A proof, or the sizes or hashes given with it, does not hold: the message says why. */
export class ProofError extends Error {
  override name = 'ProofError';
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** SHA-256(0x00 || entry): a leaf's hash, never equal to an interior node's. */
export function leafHash(entry: Uint8Array): Hash {
  return sha256(LEAF_PREFIX, entry);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  return sha256(NODE_PREFIX, left, right);
}

/** Plain Uint8Arrays, not Buffers: hashes compare equal to the ones callers decode. */
function sha256(...parts: Uint8Array[]): Hash {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  const digest = hash.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * The Merkle Tree Hash of leaves whose leaf hashes are given, computed from all of them:
 * for a verifier that holds every entry. O(n) hashes.
 */
export function merkleTreeHash(leafHashes: readonly Hash[]): Hash {
  if (leafHashes.length > MAX_TREE_SIZE) throw new RangeError(`more than 2^52 leaves`);
  leafHashes.forEach((hash, index) => {
    if (!isHash(hash)) throw new TypeError(`leaf hash ${index} is not ${HASH_SIZE} bytes`);
  });
  const hashOf = (start: number, end: number): Hash => {
    if (end - start === 1) return leafHashes[start]!;
    const split = start + largestPowerOfTwoBelow(end - start);
    return nodeHash(hashOf(start, split), hashOf(split, end));
  };
  return leafHashes.length === 0 ? EMPTY_TREE_HASH : hashOf(0, leafHashes.length);
}

/**
 * The right edge of a growing tree: one hash per complete subtree (the set bits of its
 * size), enough to append a leaf and to give the root, in O(log n) memory. For a
 * verifier that reads every entry once, in order, and keeps nothing else.
 */
export class Frontier {
  /** Complete subtrees from the largest (leftmost) to the smallest. */
  readonly #subtrees: { size: number; hash: Hash }[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  append(leaf: Hash): void {
    let subtree = { size: 1, hash: leaf };
    while (this.#subtrees.at(-1)?.size === subtree.size) {
      const left = this.#subtrees.pop()!;
      subtree = { size: left.size * 2, hash: nodeHash(left.hash, subtree.hash) };
    }
    this.#subtrees.push(subtree);
    this.#size++;
  }

  /** The Merkle Tree Hash of the leaves appended so far (RFC 6962 2.1). */
  root(): Hash {
    if (this.#size === 0) return EMPTY_TREE_HASH;
    let hash = this.#subtrees.at(-1)!.hash;
    for (let i = this.#subtrees.length - 2; i >= 0; i--) hash = nodeHash(this.#subtrees[i]!.hash, hash);
    return hash;
  }
}

/**
 * Checks that `proof` proves the leaf with hash `leaf` at `index` in the tree of `size`
 * leaves whose hash is `root`; throws ProofError if it does not. RFC 9162 2.1.3.2.
 */
export function verifyInclusion(index: number, size: number, leaf: Hash, proof: readonly Hash[], root: Hash): void {
  checkProofSize(size, 'tree size');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ProofError(`leaf index ${index} is not in a tree of ${size} leaves`);
  }
  checkProofHashes(leaf, root, proof);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new ProofError('the inclusion proof has more hashes than the path to the root');
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) throw new ProofError('the inclusion proof has fewer hashes than the path to the root');
  if (!sameHash(r, root)) throw new ProofError('the inclusion proof does not lead to the root hash');
}

/**
 * Checks that `proof` proves the tree of `size1` leaves with hash `root1` is a prefix of
 * the tree of `size2` leaves with hash `root2`; throws ProofError if it does not.
 * RFC 9162 2.1.4.2. Equal sizes need an empty proof and equal roots. Size 0 is refused,
 * as RFC 9162 defines no proof from the empty tree: every tree extends it.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Hash[], root1: Hash, root2: Hash): void {
  checkProofSize(size1, 'first tree size');
  checkProofSize(size2, 'second tree size');
  if (size1 === 0) throw new ProofError('there is no consistency proof from the empty tree');
  if (size1 > size2) throw new ProofError(`the first tree (${size1} leaves) is larger than the second (${size2})`);
  checkProofHashes(root1, root2, proof);
  if (size1 === size2) {
    if (proof.length > 0) throw new ProofError('a consistency proof between equal sizes must be empty');
    if (!sameHash(root1, root2)) throw new ProofError('two trees of the same size have different root hashes');
    return;
  }
  // The old tree's root is a node of the new tree when its size is a power of two; the
  // proof leaves it out, since the verifier has it.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  const [first, ...rest] = path;
  if (!first) throw new ProofError('the consistency proof is empty');
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = first;
  let sr = first;
  for (const c of rest) {
    if (sn === 0) throw new ProofError('the consistency proof has more hashes than the path to the root');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) throw new ProofError('the consistency proof has fewer hashes than the path to the root');
  if (!sameHash(fr, root1)) throw new ProofError('the consistency proof does not lead to the first root hash');
  if (!sameHash(sr, root2)) throw new ProofError('the consistency proof does not lead to the second root hash');
}

/**
 * Reads stored hashes. It is asked for distinct indexes in increasing order, and returns
 * one hash per index in the same order; it throws if one is missing.
 */
export type HashReader = (indexes: number[]) => Promise<Hash[]>;

/** A hash to store at an index. */
export interface StoredHash {
  index: number;
  hash: Hash;
}

/**
 * Where the hash of the `n`th node (from 0, left to right) of `level` (0 for leaves) is
 * stored. Hashes are stored in the order appends produce them: the leaf's, then those of
 * the subtrees it completes, lowest first. So a node is stored `level` places after its
 * rightmost leaf, and before leaf m come the hashes of every complete subtree of the
 * leaves before it: floor(m / 2^l) of each level l, 2m - popcount(m) in all.
 */
export function storedHashIndex(level: number, n: number): number {
  if (!Number.isSafeInteger(level) || level < 0 || !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`no node ${n} at level ${level}`);
  }
  const rightmostLeaf = (n + 1) * 2 ** level - 1;
  if (rightmostLeaf >= MAX_TREE_SIZE) throw new RangeError(`node ${n} at level ${level} is beyond 2^52 leaves`);
  return storedHashCount(rightmostLeaf) + level;
}

/** How many hashes are stored for a tree of `size` leaves: those at indexes 0 to count - 1. */
export function storedHashCount(size: number): number {
  checkSize(size, 'tree size');
  return 2 * size - popcount(size);
}

/**
 * The hashes to store when appending leaf `n` (from 0) whose leaf hash is `leaf`, after
 * leaves 0 to n - 1 are stored: the leaf's own, and one per subtree it completes (one per
 * trailing 1 bit of n). They go at consecutive indexes from storedHashIndex(0, n), one to
 * 1 + log2(n + 1) of them, two on average. Reads the left siblings of the completed
 * subtrees: as many hashes as the new ones beyond the first, none when n is even.
 */
export async function storedHashesForLeaf(n: number, leaf: Hash, read: HashReader): Promise<StoredHash[]> {
  if (!Number.isSafeInteger(n) || n < 0 || n >= MAX_TREE_SIZE) throw new RangeError(`cannot append leaf ${n}`);
  if (!isHash(leaf)) throw new TypeError(`the leaf hash is not ${HASH_SIZE} bytes`);
  let completed = 0;
  while (isOdd(Math.floor(n / 2 ** completed))) completed++;
  // Highest level first: their indexes increase.
  const siblings: number[] = [];
  for (let level = completed - 1; level >= 0; level--) {
    siblings.push(storedHashIndex(level, Math.floor(n / 2 ** level) - 1));
  }
  const siblingHashes = siblings.length === 0 ? new Map<number, Hash>() : await readHashes(read, siblings);
  const stored: StoredHash[] = [{ index: storedHashIndex(0, n), hash: leaf }];
  let hash = leaf;
  for (let level = 1; level <= completed; level++) {
    hash = nodeHash(siblingHashes.get(siblings[completed - level]!)!, hash);
    stored.push({ index: storedHashIndex(level, Math.floor(n / 2 ** level)), hash });
  }
  return stored;
}

/** The root hash of the tree of the first `size` leaves, from one stored hash per 1 bit of size. */
export async function storedTreeHash(size: number, read: HashReader): Promise<Hash> {
  checkSize(size, 'tree size');
  if (size === 0) return EMPTY_TREE_HASH;
  const [root] = await rangeHashes([[0, size]], read);
  return root!;
}

/**
 * The inclusion proof (RFC 6962 audit path, lowest sibling first) of leaf `index` in the
 * tree of the first `size` leaves, from at most about 2 log2(size) stored hashes.
 */
export async function proveInclusion(index: number, size: number, read: HashReader): Promise<Hash[]> {
  checkSize(size, 'tree size');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${index} is not in a tree of ${size} leaves`);
  }
  // RFC 6962 2.1.1 PATH, walked from the root down: the subtree not taken at each
  // split is a sibling on the path.
  const siblings: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const split = start + largestPowerOfTwoBelow(end - start);
    if (index < split) {
      siblings.push([split, end]);
      end = split;
    } else {
      siblings.push([start, split]);
      start = split;
    }
  }
  return rangeHashes(siblings.reverse(), read);
}

/**
 * The consistency proof (RFC 6962 2.1.2) that the tree of the first `size1` leaves is a
 * prefix of the tree of the first `size2`, for 1 <= size1 <= size2.
 */
export async function proveConsistency(size1: number, size2: number, read: HashReader): Promise<Hash[]> {
  checkSize(size2, 'second tree size');
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > size2) {
    throw new RangeError(`no consistency proof from ${size1} to ${size2} leaves`);
  }
  // RFC 6962 SUBPROOF(m, D[n], b), walked from the root down to the node that is the old
  // tree's last complete subtree; b says whether that node is the whole old tree, which
  // the verifier already has.
  const proof: LeafRange[] = [];
  let start = 0;
  let end = size2;
  let wholeOldTree = true;
  while (end !== size1) {
    const split = start + largestPowerOfTwoBelow(end - start);
    if (size1 <= split) {
      proof.push([split, end]);
      end = split;
    } else {
      proof.push([start, split]);
      start = split;
      wholeOldTree = false;
    }
  }
  if (!wholeOldTree) proof.push([start, end]);
  return rangeHashes(proof.reverse(), read);
}

/**
 * Stored hashes in memory: for a verifier that rebuilds a tree from all its entries and
 * checks several sizes of it, in O(log n) each.
 */
export class MemoryHashStore {
  readonly #hashes: Hash[] = [];
  #size = 0;

  /** The number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  async append(leaf: Hash): Promise<void> {
    for (const { index, hash } of await storedHashesForLeaf(this.#size, leaf, this.read)) this.#hashes[index] = hash;
    this.#size++;
  }

  readonly read: HashReader = async (indexes) =>
    indexes.map((index) => {
      const hash = this.#hashes[index];
      if (!hash) throw new RangeError(`no hash is stored at index ${index}`);
      return hash;
    });
}

/** The leaves [start, end) of a subtree whose hash a proof needs. */
type LeafRange = readonly [start: number, end: number];

/** The hashes of `ranges`, in order, from one read of the stored hashes they are made of. */
async function rangeHashes(ranges: readonly LeafRange[], read: HashReader): Promise<Hash[]> {
  if (ranges.length === 0) return [];
  const pieces = ranges.map(([start, end]) => completeSubtrees(start, end));
  const hashes = await readHashes(read, [...new Set(pieces.flat())].sort((a, b) => a - b));
  return pieces.map((piece) =>
    piece.map((index) => hashes.get(index)!).reduceRight((right, left) => nodeHash(left, right)),
  );
}

/**
 * The stored-hash indexes of the complete subtrees that make up the leaves [start, end),
 * largest (leftmost) first. Proofs only ask for ranges that start at a multiple of their
 * largest complete subtree, so the pieces line up with stored nodes.
 */
function completeSubtrees(start: number, end: number): number[] {
  const indexes: number[] = [];
  while (start < end) {
    let level = 0;
    while (2 ** (level + 1) <= end - start) level++;
    indexes.push(storedHashIndex(level, start / 2 ** level));
    start += 2 ** level;
  }
  return indexes;
}

async function readHashes(read: HashReader, indexes: number[]): Promise<Map<number, Hash>> {
  const hashes = await read(indexes);
  if (hashes.length !== indexes.length) {
    throw new Error(`the hash reader returned ${hashes.length} hashes for ${indexes.length} indexes`);
  }
  return new Map(
    indexes.map((index, i) => {
      const hash = hashes[i];
      if (!isHash(hash)) throw new Error(`the hash reader returned a hash of the wrong size for index ${index}`);
      return [index, hash];
    }),
  );
}

/** The largest power of two smaller than n, for n >= 2: RFC 6962's k. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && largestPowerOfTwoBelow(n + 1) === n;
}

function popcount(n: number): number {
  let count = 0;
  for (let rest = n; rest > 0; rest = half(rest)) count += rest % 2;
  return count;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isTreeSize(size: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && size <= MAX_TREE_SIZE;
}

function checkSize(size: number, what: string): void {
  if (!isTreeSize(size)) throw new RangeError(`${what} ${size} is not an integer from 0 to 2^52`);
}

function checkProofSize(size: number, what: string): void {
  if (!isTreeSize(size)) throw new ProofError(`${what} ${size} is not an integer from 0 to 2^52`);
}

function checkProofHashes(first: Hash, second: Hash, proof: readonly Hash[]): void {
  if (!isHash(first) || !isHash(second) || !proof.every(isHash)) {
    throw new ProofError(`a hash is not ${HASH_SIZE} bytes`);
  }
}

function isHash(value: unknown): value is Hash {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function sameHash(a: Hash, b: Hash): boolean {
  return Buffer.compare(a, b) === 0;
}
