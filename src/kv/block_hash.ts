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
    this.#xxh.init();
    this.#xxh.update(bytes);
    return this.#xxh.digest("hex");
  }

  /** `tokens_hash` of `tokens[start, end)`: their ids as little-endian u32 bytes. */
  tokensHash(tokens: readonly number[], start = 0, end = tokens.length): string {
    const n = end - start;
    if (this.#bytes.length < n * 4) {
      this.#bytes = new Uint8Array(n * 4);
      this.#view = new DataView(this.#bytes.buffer);
    }
    for (let i = 0; i < n; i++) this.#view.setUint32(i * 4, tokens[start + i] >>> 0, true);
    return this.hashBytes(this.#bytes.subarray(0, n * 4));
  }

  /** `block_hash` of a block: its `tokens_hash` chained to the parent's `block_hash`. */
  chain(parent: string | undefined, tokensHash: string): string {
    if (parent === undefined) return tokensHash;
    writeU64LE(this.#pair, 0, parent);
    writeU64LE(this.#pair, 8, tokensHash);
    return this.hashBytes(this.#pair);
  }

  /**
   * The hashes of every full block of `tokens` (a trailing partial block is left out),
   * chained from `parent` (absent: the sequence starts at position 0).
   */
  blockHashes(tokens: readonly number[], blockSize: number, parent?: string): BlockHashes[] {
    const out: BlockHashes[] = [];
    const full = Math.floor(tokens.length / blockSize);
    let prev = parent;
    for (let b = 0; b < full; b++) {
      const tokens_hash = this.tokensHash(tokens, b * blockSize, (b + 1) * blockSize);
      const block_hash = this.chain(prev, tokens_hash);
      out.push({ block_hash, tokens_hash });
      prev = block_hash;
    }
    return out;
  }

  /** The chained `block_hash` of every full block of `tokens` (what routers look up). */
  sequenceHashes(tokens: readonly number[], blockSize: number): string[] {
    return this.blockHashes(tokens, blockSize).map((b) => b.block_hash);
  }
}

/** Writes the 64-bit value of 16-hex-digit `hex` at `offset` as little-endian bytes. */
function writeU64LE(out: Uint8Array, offset: number, hex: string): void {
  for (let i = 0; i < 8; i++) {
    out[offset + i] = parseInt(hex.slice(14 - 2 * i, 16 - 2 * i), 16);
  }
}
