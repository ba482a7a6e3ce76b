import { test } from "node:test";
import assert from "node:assert/strict";
import { xxhash3 } from "hash-wasm";
import { BlockHasher, KV_HASH_SEED } from "../../src/kv/block_hash.ts";

const PRIME32 = 2654435761n;
const PRIME64 = 0x9E3779B185EBCA8Dn;

/** xxHash's sanity buffer (cli/xsum_sanity_check.c): byte i = top byte of PRIME32·PRIME64^i. */
function sanityBuffer(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    out[i] = Number(gen >> 56n);
    gen = (gen * PRIME64) & 0xFFFFFFFFFFFFFFFFn;
  }
  return out;
}

// XSUM_XXH3_testdata (XXH3_64bits) from xxHash v0.8.3 cli/xsum_sanity_check.c.
const VECTORS: [number, bigint, string][] = [
  [0, 0n, "2d06800538d394c2"],
  [0, PRIME64, "a8a6b918b2f0364a"],
  [1, 0n, "c44bdff4074eecdb"],
  [1, PRIME64, "032be332dd766ef8"],
  [6, 0n, "27b56a84cd2d7325"],
  [6, PRIME64, "84589c116ab59ab9"],
  [12, 0n, "a713daf0dfbb77e7"],
  [12, PRIME64, "e7303e1b2336de0e"],
  [24, 0n, "a3fe70bf9d3510eb"],
  [24, PRIME64, "850e80fc35bdd690"],
  [48, 0n, "397da259ecba1f11"],
  [48, PRIME64, "adc2cbaa44acc616"],
  [80, 0n, "bcdefbbb2c47c90a"],
  [80, PRIME64, "c6dd0cb699532e73"],
  [195, 0n, "cd94217ee362ec3a"],
  [195, PRIME64, "ba68003d370cb3d9"],
];

test("XXH3-64 matches xxHash's published sanity vectors", async () => {
  for (const [len, seed, want] of VECTORS) {
    const low = Number(seed & 0xFFFFFFFFn);
    const high = Number(seed >> 32n);
    assert.equal(await xxhash3(sanityBuffer(len), low, high), want, `len ${len} seed ${seed}`);
  }
  const unseeded = await BlockHasher.create(0);
  for (const [len, seed, want] of VECTORS) {
    if (seed === 0n) assert.equal(unseeded.hashBytes(sanityBuffer(len)), want, `len ${len}`);
  }
});

test("tokens_hash is XXH3-64 seed 1337 over little-endian u32 token ids", async () => {
  const hasher = await BlockHasher.create();
  assert.equal(KV_HASH_SEED, 1337);
  const tokens = [1, 2, 3, 0x01020304, 151643];
  const bytes = new Uint8Array(tokens.length * 4);
  const view = new DataView(bytes.buffer);
  tokens.forEach((t, i) => view.setUint32(i * 4, t, true));
  assert.equal(hasher.tokensHash(tokens), await xxhash3(bytes, 1337, 0));
  assert.equal(bytes[12], 0x04); // little-endian
});

test("block hashes: full blocks only, chained to the parent, position-aware", async () => {
  const hasher = await BlockHasher.create();
  const a = [5, 6, 7, 8];
  const b = [9, 10, 11, 12];
  const blocks = hasher.blockHashes([...a, ...b, 13, 14], 4);
  assert.equal(blocks.length, 2); // the 2-token tail is not hashed
  assert.equal(blocks[0].block_hash, blocks[0].tokens_hash);
  assert.equal(blocks[1].tokens_hash, hasher.tokensHash(b));
  // block_hash[1] = XXH3(seed 1337) over block_hash[0] then tokens_hash[1] as LE u64.
  const pair = new Uint8Array(16);
  const view = new DataView(pair.buffer);
  view.setBigUint64(0, BigInt("0x" + blocks[0].block_hash), true);
  view.setBigUint64(8, BigInt("0x" + blocks[1].tokens_hash), true);
  assert.equal(blocks[1].block_hash, await xxhash3(pair, 1337, 0));
  // The same block after another prefix hashes apart; its tokens_hash does not.
  const other = hasher.blockHashes([...b, ...b], 4);
  assert.equal(other[1].tokens_hash, blocks[1].tokens_hash);
  assert.notEqual(other[1].block_hash, blocks[1].block_hash);
  // Chaining from an explicit parent continues a sequence.
  const tail = hasher.blockHashes(b, 4, blocks[0].block_hash);
  assert.equal(tail[0].block_hash, blocks[1].block_hash);
  assert.deepEqual(hasher.sequenceHashes([...a, ...b], 4), blocks.map((x) => x.block_hash));
  for (const h of blocks) assert.match(h.block_hash, /^[0-9a-f]{16}$/);
});

test("the prefix hash cache returns exactly the hasher's hashes, hits or misses", async () => {
  const { PrefixHashCache } = await import("../../src/kv/prefix_hash_cache.ts");
  const hasher = await BlockHasher.create();
  const cache = new PrefixHashCache(hasher, 4, 40);
  let seed = 3;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 7;
  for (let i = 0; i < 300; i++) {
    // Few distinct token values: many shared prefixes and many digest-equal candidates.
    const tokens = Array.from({ length: 4 + next() * 3 }, () => next());
    const want = hasher.sequenceHashes(tokens, 4);
    assert.deepEqual(cache.sequenceHashes(tokens), want);
    const keys = cache.sequenceKeys(tokens);
    assert.deepEqual(
      Array.from(
        { length: keys.length / 2 },
        (_, b) =>
          keys[2 * b].toString(16).padStart(8, "0") + keys[2 * b + 1].toString(16).padStart(8, "0"),
      ),
      want,
    );
  }
  assert.ok(cache.size <= 40, "bounded");
  const block = hasher.nextBlock([1, 2, 3, 4, 5, 6, 7, 8], 4, 8, hasher.tokensHash([1, 2, 3, 4]));
  assert.deepEqual(block, hasher.blockHashes([1, 2, 3, 4, 5, 6, 7, 8], 4)[1]);
});
