/**
 * The mocker's paged KV block manager (vLLM-like): a fixed pool of blocks with reference
 * counts, a prefix cache from chained block hash to block, and LRU eviction of cached
 * blocks nobody uses. Cache changes are reported as KV events (stored when a full block
 * becomes reusable, removed when a cached block is evicted).
 *
 * Invariant: every block is in exactly one of three states — in use (refcount > 0),
 * free and uncached (in the free list), free and cached (in the LRU, evictable).
 *
 * @module
 */
import type { BlockHashes } from "../../src/kv/block_hash.ts";
import type { KvEventSink } from "../../src/engine/engine_services.ts";

/**
 * Blocks, reference counts and the prefix cache.
 *
 * @example
 * ```ts
 * import { BlockManager } from "./block_manager.ts";
 * const blocks = new BlockManager({ totalBlocks: 4 });
 * const id = blocks.allocate()!;
 * blocks.release(id);
 * console.assert(blocks.freeBlocks === 4);
 * ```
 */
export class BlockManager {
  readonly totalBlocks: number;
  readonly prefixCaching: boolean;
  /** Prefix-cache hits (blocks) and lookups (blocks asked for), for the hit rate. */
  hitBlocks = 0;
  queriedBlocks = 0;
  #refs: Int32Array;
  #hashOf: (string | undefined)[];
  #cache = new Map<string, number>();
  #free: number[] = [];
  /** Cached blocks with refcount 0, least recently used first (Map keeps insertion order). */
  #lru = new Map<number, true>();
  #sink: KvEventSink | undefined;

  constructor(options: { totalBlocks: number; prefixCaching?: boolean; sink?: KvEventSink }) {
    this.totalBlocks = options.totalBlocks;
    this.prefixCaching = options.prefixCaching ?? true;
    this.#refs = new Int32Array(options.totalBlocks);
    this.#hashOf = new Array(options.totalBlocks);
    for (let i = options.totalBlocks - 1; i >= 0; i--) this.#free.push(i);
    this.#sink = options.sink;
    this.#sink?.setSnapshotProvider(() => [...this.#cache.keys()]);
  }

  /** Blocks that can be allocated now (free, plus cached ones that may be evicted). */
  get freeBlocks(): number {
    return this.#free.length + this.#lru.size;
  }

  /** Blocks in use by at least one sequence. */
  get usedBlocks(): number {
    return this.totalBlocks - this.freeBlocks;
  }

  /** Blocks held in the prefix cache (in use or evictable). */
  get cachedBlocks(): number {
    return this.#cache.size;
  }

  /** Reference count of `block` (tests). */
  refCount(block: number): number {
    return this.#refs[block];
  }

  /** The cached block hashes (what a resync snapshot reports). */
  cachedHashes(): string[] {
    return [...this.#cache.keys()];
  }

  /** How many leading hashes of `hashes` are cached (at most `limit`). Nothing is acquired. */
  matchPrefix(hashes: readonly string[], limit: number): number {
    if (!this.prefixCaching) return 0;
    let n = 0;
    while (n < limit && n < hashes.length && this.#cache.has(hashes[n])) n++;
    return n;
  }

  /** Counts an admitted lookup for the hit rate: `hit` of `asked` blocks were cached. */
  recordLookup(hit: number, asked: number): void {
    this.hitBlocks += hit;
    this.queriedBlocks += asked;
  }

  /** Takes a reference on the cached block of `hash` (which MUST be cached). */
  acquireCached(hash: string): number {
    const block = this.#cache.get(hash);
    if (block === undefined) throw new Error(`block ${hash} is not cached`);
    if (this.#refs[block] === 0) this.#lru.delete(block);
    this.#refs[block]++;
    return block;
  }

  /**
   * A fresh block with refcount 1: from the free list, else by evicting the least recently
   * used cached block (reported removed). `undefined` when every block is in use.
   */
  allocate(): number | undefined {
    let block = this.#free.pop();
    if (block === undefined) {
      const oldest = this.#lru.keys().next();
      if (oldest.done) return undefined;
      block = oldest.value;
      this.#lru.delete(block);
      const hash = this.#hashOf[block]!;
      this.#cache.delete(hash);
      this.#hashOf[block] = undefined;
      this.#sink?.removed([hash]);
    }
    this.#refs[block] = 1;
    return block;
  }

  /** Drops one reference; at zero the block becomes evictable (cached) or free. */
  release(block: number): void {
    if (this.#refs[block] <= 0) throw new Error(`double free of block ${block}`);
    if (--this.#refs[block] > 0) return;
    if (this.#hashOf[block] !== undefined) this.#lru.set(block, true);
    else this.#free.push(block);
  }

  /**
   * Registers a block that just became full under its chained hash, reporting it stored.
   * Returns false (and leaves the block as it is) when prefix caching is off, the block is
   * already registered, or another block already holds the same content.
   */
  commit(block: number, hashes: BlockHashes, parentHash: string | null): boolean {
    if (!this.prefixCaching || this.#cache.has(hashes.block_hash)) return false;
    if (this.#hashOf[block] !== undefined) return false;
    this.#cache.set(hashes.block_hash, block);
    this.#hashOf[block] = hashes.block_hash;
    this.#sink?.stored(parentHash, [hashes]);
    return true;
  }

  /** Checks the three-state invariant; throws describing the first violation (tests). */
  checkInvariants(): void {
    const inFree = new Set(this.#free);
    if (inFree.size !== this.#free.length) throw new Error("a block is twice in the free list");
    for (let b = 0; b < this.totalBlocks; b++) {
      const states = Number(this.#refs[b] > 0) + Number(inFree.has(b)) + Number(this.#lru.has(b));
      if (states !== 1) throw new Error(`block ${b} is in ${states} states`);
      if (this.#refs[b] < 0) throw new Error(`block ${b} has a negative refcount`);
      const hash = this.#hashOf[b];
      if (inFree.has(b) && hash !== undefined) throw new Error(`free block ${b} is cached`);
      if (this.#lru.has(b) && hash === undefined) throw new Error(`LRU block ${b} is uncached`);
      if (hash !== undefined && this.#cache.get(hash) !== b) throw new Error(`cache of ${b}`);
    }
    if (this.#cache.size !== this.#hashOf.filter((h) => h !== undefined).length) {
      throw new Error("cache and block hashes disagree");
    }
  }
}
