/**
 * A router-side cache of block hashes for prompts that share prefixes: a trie keyed by a
 * cheap 30-bit digest of each block's token ids (verified against a copy of the tokens, so
 * a digest collision can never return a wrong hash). Repeated prefixes cost a digest and a
 * comparison per block instead of two XXH3 calls; only new blocks are hashed. Bounded: past
 * `maxNodes` blocks the trie starts over.
 *
 * @module
 */
import type { BlockHasher } from "./block_hash.ts";
import { parseHash } from "./hash_table.ts";

interface Node {
  tokens: Int32Array;
  hash: string;
  hi: number;
  lo: number;
  children: Map<number, Node> | undefined;
}

/** Cached chained block hashes of token prefixes, for one block size. */
export class PrefixHashCache {
  readonly blockSize: number;
  #hasher: BlockHasher;
  #root = new Map<number, Node>();
  #nodes = 0;
  #maxNodes: number;

  constructor(hasher: BlockHasher, blockSize: number, maxNodes = 200_000) {
    this.#hasher = hasher;
    this.blockSize = blockSize;
    this.#maxNodes = maxNodes;
  }

  /** Blocks cached now. */
  get size(): number {
    return this.#nodes;
  }

  /**
   * The chained hashes of every full block of `tokens` as u32 halves, `[hi0, lo0, hi1, …]`
   * (what `KvIndexer.overlapsOfKeys` takes).
   */
  sequenceKeys(tokens: readonly number[]): Uint32Array {
    const full = Math.floor(tokens.length / this.blockSize);
    const keys = new Uint32Array(full * 2);
    this.#walk(tokens, (b, node) => {
      keys[2 * b] = node.hi;
      keys[2 * b + 1] = node.lo;
    });
    return keys;
  }

  /** The chained `block_hash` of every full block of `tokens` (as `BlockHasher.sequenceHashes`). */
  sequenceHashes(tokens: readonly number[]): string[] {
    const out = new Array<string>(Math.floor(tokens.length / this.blockSize));
    this.#walk(tokens, (b, node) => (out[b] = node.hash));
    return out;
  }

  #walk(tokens: readonly number[], visit: (block: number, node: Node) => void): void {
    const bs = this.blockSize;
    const full = Math.floor(tokens.length / bs);
    let level: Map<number, Node> = this.#root;
    let parent: string | undefined;
    for (let b = 0; b < full; b++) {
      const start = b * bs;
      let d = 0x811c9dc5;
      for (let i = start; i < start + bs; i++) d = Math.imul(d ^ tokens[i], 0x01000193);
      const key = (d >>> 2) & 0x3fffffff;
      let node = level.get(key);
      if (node === undefined || !same(node.tokens, tokens, start)) {
        const hash = this.#hasher.nextBlock(tokens, start, start + bs, parent).block_hash;
        const [hi, lo] = parseHash(hash);
        node = {
          tokens: Int32Array.from(tokens.slice(start, start + bs)),
          hash,
          hi,
          lo,
          children: undefined,
        };
        if (this.#nodes >= this.#maxNodes) {
          // Full: start over. This chain continues uncached (a fresh level per block).
          this.#root = new Map();
          this.#nodes = 0;
        } else {
          level.set(key, node);
          this.#nodes++;
        }
      }
      visit(b, node);
      parent = node.hash;
      level = node.children ??= new Map();
    }
  }
}

function same(cached: Int32Array, tokens: readonly number[], start: number): boolean {
  for (let i = 0; i < cached.length; i++) if (cached[i] !== (tokens[start + i] | 0)) return false;
  return true;
}
