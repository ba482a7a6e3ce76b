/**
 * The shared KV block hash, as Dynamo defines it so hashes match across runtimes:
 *
 * - `tokens_hash` of a full block = XXH3-64 with seed 1337 over the block's token ids as
 *   little-endian u32 bytes;
 * - `block_hash` chains the parent: the first block's is its `tokens_hash`; block i's is
 *   XXH3-64 (seed 1337) over `block_hash[i-1]` then `tokens_hash[i]`, each as little-endian
 *   u64 bytes. It is position-aware: equal tokens after different prefixes hash apart.
 *
 * Only full blocks are hashed. Hashes are 64-bit and travel as 16-digit lower-case hex
 * strings (never JS numbers, which lose precision above 2^53).
 *
 * @module
 */
import { createXXHash3, type IHasher } from "hash-wasm";

/** The XXH3 seed of Dynamo's KV block hash. */
export const KV_HASH_SEED = 1337;

/** One full block's hashes, as KV events carry them. */
export interface BlockHashes {
  /** Chained (position-aware) hash: the block's identity in caches and indexes. */
  block_hash: string;
  /** XXH3-64 (seed 1337) of the block's token ids alone. */
  tokens_hash: string;
}

/**
 * Synchronous block hashing over one WASM XXH3 instance. Create it once with
 * {@linkcode BlockHasher.create} (the only async step) and reuse it on the hot path.
 * Not re-entrant across `await`s: every method runs to completion synchronously.
 *
 * @example
 * ```ts
 * import { BlockHasher } from "./block_hash.ts";
 * const hasher = await BlockHasher.create();
 * const blocks = hasher.blockHashes([1, 2, 3, 4, 5], 2); // two full blocks; token 5 is left out
 * console.assert(blocks.length === 2);
 * ```
 */
export class BlockHasher {
  #xxh: IHasher;
  #bytes = new Uint8Array(4096);
  #view = new DataView(this.#bytes.buffer);
  #pair = new Uint8Array(16);

  private constructor(xxh: IHasher) {
    this.#xxh = xxh;
  }

  /** Instantiates the WASM hasher (XXH3-64, seed `seed`, default 1337). */
  static async create(seed: number = KV_HASH_SEED): Promise<BlockHasher> {
    return new BlockHasher(await createXXHash3(seed, 0));
  }

  /** XXH3-64 of raw bytes with this hasher's seed, as 16 hex digits. */
  hashBytes(bytes: Uint8Array): string {
    return toHex(this.#digest(bytes));
  }

  /** The canonical (big-endian) 8-byte digest of `bytes`. */
  #digest(bytes: Uint8Array): Uint8Array {
    this.#xxh.init();
    this.#xxh.update(bytes);
    return this.#xxh.digest("binary");
  }

  /** Big-endian digest of the token ids `tokens[start, end)` as little-endian u32 bytes. */
  #tokensDigest(tokens: readonly number[], start: number, end: number): Uint8Array {
    const n = end - start;
    if (this.#bytes.length < n * 4) {
      this.#bytes = new Uint8Array(n * 4);
      this.#view = new DataView(this.#bytes.buffer);
    }
    for (let i = 0; i < n; i++) this.#view.setUint32(i * 4, tokens[start + i] >>> 0, true);
    return this.#digest(this.#bytes.subarray(0, n * 4));
  }

  /** Big-endian digest of the chain of two big-endian digests (each written little-endian). */
  #chainDigest(parent: Uint8Array, tokens: Uint8Array): Uint8Array {
    const pair = this.#pair;
    for (let i = 0; i < 8; i++) {
      pair[i] = parent[7 - i];
      pair[8 + i] = tokens[7 - i];
    }
    return this.#digest(pair);
  }

  /** `tokens_hash` of `tokens[start, end)`: their ids as little-endian u32 bytes. */
  tokensHash(tokens: readonly number[], start = 0, end = tokens.length): string {
    return toHex(this.#tokensDigest(tokens, start, end));
  }

  /** `block_hash` of a block: its `tokens_hash` chained to the parent's `block_hash`. */
  chain(parent: string | undefined, tokensHash: string): string {
    if (parent === undefined) return tokensHash;
    return toHex(this.#chainDigest(fromHex(parent), fromHex(tokensHash)));
  }

  /**
   * The hashes of every full block of `tokens` (a trailing partial block is left out),
   * chained from `parent` (absent: the sequence starts at position 0).
   */
  blockHashes(tokens: readonly number[], blockSize: number, parent?: string): BlockHashes[] {
    const out: BlockHashes[] = [];
    const full = Math.floor(tokens.length / blockSize);
    let prev = parent === undefined ? undefined : fromHex(parent);
    for (let b = 0; b < full; b++) {
      const own = this.#tokensDigest(tokens, b * blockSize, (b + 1) * blockSize);
      const chained = prev === undefined ? own : this.#chainDigest(prev, own);
      out.push({ block_hash: toHex(chained), tokens_hash: toHex(own) });
      prev = chained;
    }
    return out;
  }

  /** The hashes of the one block `tokens[start, end)` following the block `parent`. */
  nextBlock(
    tokens: readonly number[],
    start: number,
    end: number,
    parent: string | undefined,
  ): BlockHashes {
    const own = this.#tokensDigest(tokens, start, end);
    const chained = parent === undefined ? own : this.#chainDigest(fromHex(parent), own);
    return { block_hash: toHex(chained), tokens_hash: toHex(own) };
  }

  /** The chained `block_hash` of every full block of `tokens` (what routers look up). */
  sequenceHashes(tokens: readonly number[], blockSize: number): string[] {
    return this.blockHashes(tokens, blockSize).map((b) => b.block_hash);
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** 16 lower-case hex digits of an 8-byte big-endian digest. */
function toHex(b: Uint8Array): string {
  return HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + HEX[b[4]] + HEX[b[5]] + HEX[b[6]] +
    HEX[b[7]];
}

/** The 8 big-endian bytes of a 16-hex-digit hash. */
function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(8);
  const hi = parseInt(hex.slice(0, 8), 16);
  const lo = parseInt(hex.slice(8, 16), 16);
  out[0] = hi >>> 24;
  out[1] = hi >>> 16;
  out[2] = hi >>> 8;
  out[3] = hi;
  out[4] = lo >>> 24;
  out[5] = lo >>> 16;
  out[6] = lo >>> 8;
  out[7] = lo;
  return out;
}
