/**
 * The paged KV cache's block allocator with prefix caching (vLLM's block manager in small):
 * blocks are reference-counted; a block that fills up with a sequence's tokens is registered
 * under the content hash of its tokens chained to its parent's hash, so a later prompt with
 * the same prefix reuses those blocks instead of recomputing them. Unreferenced hashed blocks
 * stay reusable until the allocator needs them back (least recently freed first). A block's key
 * holds its own tokens verbatim plus a 53-bit hash of its parent's key, so serving the wrong KV
 * needs two different prefixes whose chained hashes collide (about 2⁻⁵³ per pair).
 *
 * KV events: given a {@link KvEventSink} and a {@link BlockHasher}, a block is reported
 * stored (under Dynamo's shared chained block hash, `src/kv/block_hash.ts`) when it is
 * registered, and removed when the allocator evicts it, exactly as `engines/mocker` reports
 * its cache; the sink's snapshot provider lists the hashes of every registered block.
 *
 * @example
 * ```ts
 * import { BlockManager } from "./block_manager.ts";
 * const blocks = new BlockManager(8, 2);
 * const a = [blocks.allocate()!, blocks.allocate()!];
 * blocks.commit(a, [5, 6, 7, 8], 0);
 * blocks.release(a);
 * const hit = blocks.match([5, 6, 7, 8, 9]);
 * console.assert(hit.length === 2 && blocks.freeCount() === 8 - 2);
 * ```
 */

import type { BlockHasher, BlockHashes } from "../../src/kv/block_hash.ts";
import type { KvEventSink } from "../../src/engine/engine_services.ts";

interface BlockInfo {
  refs: number;
  /** Content key (parent key + tokens), set once the block is full and registered. */
  key?: string;
  /** Shared chained block hash, set with `key` when KV events are published. */
  hash?: string;
}

/** Where a block manager reports its cache (both or neither). */
export interface BlockEventOptions {
  readonly sink: KvEventSink;
  readonly hasher: BlockHasher;
}

/** Allocates KV blocks and shares full blocks by content. */
export class BlockManager {
  readonly numBlocks: number;
  readonly blockSize: number;
  #blocks: BlockInfo[];
  #free: number[];
  /** Unreferenced registered blocks, in the order they became unreferenced. */
  #evictable = new Set<number>();
  #byKey = new Map<string, number>();
  #hits = 0;
  #queries = 0;
  #events?: BlockEventOptions;

  /** `numBlocks` blocks of `blockSize` tokens; `events` publishes the cache's changes. */
  constructor(numBlocks: number, blockSize: number, events?: BlockEventOptions) {
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.#blocks = Array.from({ length: numBlocks }, () => ({ refs: 0 }));
    this.#free = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
    this.#events = events;
    events?.sink.setSnapshotProvider(() => this.cachedHashes());
  }

  /** Shared block hashes of every registered block (empty without KV events). */
  cachedHashes(): string[] {
    const out: string[] = [];
    for (const id of this.#byKey.values()) {
      const hash = this.#blocks[id].hash;
      if (hash !== undefined) out.push(hash);
    }
    return out;
  }

  /** Blocks a new allocation can take (free plus cached-but-unreferenced). */
  freeCount(): number {
    return this.#free.length + this.#evictable.size;
  }

  /** Fraction of matched prompt blocks over blocks looked up (prefix-cache hit rate). */
  hitRate(): number {
    return this.#queries ? this.#hits / this.#queries : 0;
  }

  /** Takes one block (reference count 1), evicting a cached one if needed; `undefined` if none. */
  allocate(): number | undefined {
    let id = this.#free.pop();
    if (id === undefined) {
      const oldest = this.#evictable.values().next();
      if (oldest.done) return undefined;
      id = oldest.value;
      this.#evictable.delete(id);
      const info = this.#blocks[id];
      if (info.key !== undefined && this.#byKey.get(info.key) === id) {
        this.#byKey.delete(info.key);
        if (info.hash !== undefined) this.#events?.sink.removed([info.hash]);
      }
      info.key = undefined;
      info.hash = undefined;
    }
    this.#blocks[id].refs = 1;
    return id;
  }

  /**
   * The longest run of cached full blocks holding the first tokens of `tokens`, each taken
   * (reference count +1). At least one token is always left uncomputed, so the caller still
   * runs the last prompt token for its logits.
   */
  match(tokens: readonly number[]): number[] {
    const out: number[] = [];
    const full = Math.floor((tokens.length - 1) / this.blockSize);
    let parent = "";
    for (let b = 0; b < full; b++) {
      this.#queries++;
      const key = blockKey(parent, tokens, b * this.blockSize, this.blockSize);
      const id = this.#byKey.get(key);
      if (id === undefined) break;
      this.#hits++;
      const info = this.#blocks[id];
      if (info.refs === 0) this.#evictable.delete(id);
      info.refs++;
      out.push(id);
      parent = key;
    }
    return out;
  }

  /**
   * Registers the full blocks of a sequence, from block index `from` on: `blocks[i]` holds
   * `tokens[i·blockSize, (i+1)·blockSize)`, whose KV MUST already be computed. A block whose
   * content another block already holds stays unregistered (it is freed plainly later).
   */
  commit(blocks: readonly number[], tokens: readonly number[], from: number): void {
    const bs = this.blockSize;
    const full = Math.min(blocks.length, Math.floor(tokens.length / bs));
    const shared = this.#events && full > from
      ? this.#events.hasher.blockHashes(tokens.slice(0, full * bs), bs)
      : undefined;
    let parent = "";
    for (let b = 0; b < full; b++) {
      const key = blockKey(parent, tokens, b * bs, bs);
      if (b >= from) {
        const info = this.#blocks[blocks[b]];
        if (info.key === undefined && !this.#byKey.has(key)) {
          info.key = key;
          this.#byKey.set(key, blocks[b]);
          if (shared) this.#stored(info, shared, b);
        }
      }
      parent = key;
    }
  }

  /** Reports block `b` of a sequence whose block hashes are `shared` stored. */
  #stored(info: BlockInfo, shared: readonly BlockHashes[], b: number): void {
    info.hash = shared[b].block_hash;
    this.#events!.sink.stored(b ? shared[b - 1].block_hash : null, [shared[b]]);
  }

  /** Drops one reference from each block; unreferenced blocks become free or evictable. */
  release(blocks: readonly number[]): void {
    for (const id of blocks) {
      const info = this.#blocks[id];
      if (info.refs <= 0) throw new RangeError(`Cannot release block ${id}: it is not allocated`);
      if (--info.refs === 0) {
        if (info.key !== undefined) this.#evictable.add(id);
        else this.#free.push(id);
      }
    }
  }
}

/** The content key of tokens `[start, start + size)` chained to `parent`. */
function blockKey(parent: string, tokens: readonly number[], start: number, size: number): string {
  return `${hash53(parent)}:${tokens.slice(start, start + size).join(",")}`;
}

/** cyrb53: a fast 53-bit string hash (only shortens the parent chain; keys hold the tokens). */
function hash53(text: string): number {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
