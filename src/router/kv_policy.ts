/**
 * KV-aware routing (`--router-mode kv`), as Dynamo's KV router decides: for each
 * worker, new prefill blocks = prompt blocks − blocks of the prompt it already caches
 * (from the {@linkcode KvIndexer}), and decode blocks = distinct blocks of the requests this
 * frontend has active on it once this request joins them (counted through the `routed` /
 * `released` hooks; requests that share a prefix share its blocks, as they share its KV, so
 * it counts once: joining requests of the same prefix adds only the new blocks);
 *
 *     cost = overlap_score_weight × new prefill blocks + decode blocks
 *
 * The lowest cost wins, ties broken uniformly at random; with a temperature > 0 the worker
 * is sampled with probability ∝ exp(−normalised cost / temperature). Workers that publish
 * no KV events (or advertise no block size) count as caching nothing, so among them the
 * choice is by load; when no candidate publishes KV events at all the policy is plain
 * least-loaded.
 *
 * @module
 */
import type { BlockHasher } from "../kv/block_hash.ts";
import type { KvIndexer } from "../kv/kv_indexer.ts";
import { PrefixHashCache } from "../kv/prefix_hash_cache.ts";
import { LeastLoadedPolicy } from "./least_loaded_policy.ts";
import type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";

/** Options for {@linkcode KvRoutingPolicy}. */
export interface KvRoutingPolicyOptions {
  /** Which worker caches which blocks. */
  indexer: KvIndexer;
  /** Hashes a request's prompt into blocks, as the workers do. */
  hasher: BlockHasher;
  /** Weight of new prefill blocks against decode blocks (Dynamo's default 1.0). */
  overlapScoreWeight?: number;
  /** 0 (default): lowest cost wins; > 0: softmax sampling over normalised costs. */
  temperature?: number;
  /** Numbers in `[0, 1)` for tie-breaking and sampling (default `Math.random`). */
  random?: () => number;
}

/** What one routing decision found, for tests and logs. */
export interface KvDecision {
  /** The chosen worker. */
  instanceId: string;
  /** Prompt blocks the worker already caches. */
  overlapBlocks: number;
  /** Full blocks in the prompt. */
  promptBlocks: number;
  /** The worker's cost (lower is better). */
  cost: number;
}

/** The KV-aware policy. */
export class KvRoutingPolicy implements RoutingPolicy {
  readonly name = "kv";
  /** Weight of new prefill blocks against decode blocks. */
  readonly overlapScoreWeight: number;
  /** Softmax sampling temperature (0: lowest cost). */
  readonly temperature: number;
  /** The last decision (for tests and debugging). */
  lastDecision: KvDecision | undefined;
  #indexer: KvIndexer;
  #hasher: BlockHasher;
  #random: () => number;
  #fallback = new LeastLoadedPolicy();
  /** Active blocks per worker: distinct blocks of requests routed and not yet released. */
  #active = new Map<string, ActiveBlocks>();
  /** What each routed request was charged, so `released` gives back exactly that. */
  #charged = new WeakMap<RouteRequest, { worker: string; keys: number[]; extra: number }>();
  #hashes = new WeakMap<readonly number[], { blockSize: number; keys: Uint32Array }>();
  #prefixes = new Map<number, PrefixHashCache>();
  /** Reused by every decision (read only within `select`). */
  #overlaps = new Map<string, number>();

  /** Creates the policy over an index and a block hasher. */
  constructor(options: KvRoutingPolicyOptions) {
    this.#indexer = options.indexer;
    this.#hasher = options.hasher;
    this.overlapScoreWeight = options.overlapScoreWeight ?? 1.0;
    this.temperature = options.temperature ?? 0;
    this.#random = options.random ?? Math.random;
  }

  /** The index the policy reads (fed by a `KvIndexFeed`). */
  get indexer(): KvIndexer {
    return this.#indexer;
  }

  /** Active blocks this frontend counts on `instanceId`. */
  activeBlocks(instanceId: string): number {
    return this.#active.get(instanceId)?.blocks ?? 0;
  }

  select<W extends RoutableWorker>(candidates: readonly W[], request: RouteRequest): W | undefined {
    const tokens = request.tokenIds;
    let blockSize: number | undefined;
    for (const c of candidates) {
      const bs = c.card?.kv_cache_block_size;
      if (bs !== undefined && this.#indexer.knows(c.instanceId)) {
        blockSize = bs;
        break;
      }
    }
    if (tokens === undefined || tokens.length === 0 || blockSize === undefined) {
      this.lastDecision = undefined;
      return this.#fallback.select(candidates, request);
    }
    const keys = this.#keysOf(tokens, blockSize);
    const overlaps = this.#indexer.overlapsInto(keys, keys.length / 2, this.#overlaps);
    const promptBlocks = Math.ceil(tokens.length / blockSize);
    const costs = new Float64Array(candidates.length);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      const sameBlocks = c.card?.kv_cache_block_size === blockSize;
      const overlap = sameBlocks ? overlaps.get(c.instanceId) ?? 0 : 0;
      const active = this.#active.get(c.instanceId);
      // Decode blocks once this request runs there: the active ones plus the request's own,
      // less the leading blocks it shares with requests already active there.
      const shared = active === undefined || !sameBlocks ? 0 : active.leading(keys);
      const cost = this.overlapScoreWeight * (promptBlocks - overlap) +
        (active?.blocks ?? 0) + (promptBlocks - shared);
      costs[i] = cost;
      if (cost < min) min = cost;
      if (cost > max) max = cost;
    }
    const at = this.temperature > 0 && max > min
      ? this.#sample(costs, min, max)
      : this.#fairMin(costs, min);
    const chosen = candidates[at];
    this.lastDecision = {
      instanceId: chosen.instanceId,
      overlapBlocks: overlaps.get(chosen.instanceId) ?? 0,
      promptBlocks,
      cost: costs[at],
    };
    return chosen;
  }

  routed(worker: RoutableWorker, request: RouteRequest): void {
    const tokens = request.tokenIds;
    if (tokens === undefined || this.#charged.has(request)) return;
    const cached = this.#hashes.get(tokens);
    // A worker without block-structured KV is charged in the block size the decision used,
    // so its load weighs in like the others'. Without either, the policy was least-loaded.
    const bs = worker.card?.kv_cache_block_size ?? cached?.blockSize;
    if (bs === undefined) return;
    const keys: number[] = [];
    if (
      cached !== undefined && cached.blockSize === bs && worker.card?.kv_cache_block_size === bs
    ) {
      for (let i = 0; i < cached.keys.length; i += 2) keys.push(blockKey(cached.keys, i));
    }
    const extra = Math.ceil(tokens.length / bs) - keys.length; // partial (or unhashed) blocks
    let active = this.#active.get(worker.instanceId);
    if (active === undefined) this.#active.set(worker.instanceId, active = new ActiveBlocks());
    for (const key of keys) active.add(key);
    active.blocks += extra;
    this.#charged.set(request, { worker: worker.instanceId, keys, extra });
  }

  released(_worker: RoutableWorker, request: RouteRequest): void {
    const charge = this.#charged.get(request);
    if (charge === undefined) return;
    this.#charged.delete(request);
    const active = this.#active.get(charge.worker);
    if (active === undefined) return;
    for (const key of charge.keys) active.remove(key);
    active.blocks -= charge.extra;
    if (active.blocks <= 0) this.#active.delete(charge.worker);
  }

  #keysOf(tokens: readonly number[], blockSize: number): Uint32Array {
    const cached = this.#hashes.get(tokens);
    if (cached !== undefined && cached.blockSize === blockSize) return cached.keys;
    let prefixes = this.#prefixes.get(blockSize);
    if (prefixes === undefined) {
      prefixes = new PrefixHashCache(this.#hasher, blockSize);
      this.#prefixes.set(blockSize, prefixes);
    }
    const keys = prefixes.sequenceKeys(tokens);
    this.#hashes.set(tokens, { blockSize, keys });
    return keys;
  }

  /** Index of a lowest cost, uniformly among ties. */
  #fairMin(costs: Float64Array, min: number): number {
    let ties = 0;
    for (const c of costs) if (c === min) ties++;
    let pick = Math.floor(this.#random() * ties);
    for (let i = 0; i < costs.length; i++) {
      if (costs[i] === min && pick-- === 0) return i;
    }
    return 0;
  }

  /** Softmax sampling over costs normalised to [0, 1]. */
  #sample(costs: Float64Array, min: number, max: number): number {
    const weights = new Float64Array(costs.length);
    let total = 0;
    for (let i = 0; i < costs.length; i++) {
      weights[i] = Math.exp(-(costs[i] - min) / (max - min) / this.temperature);
      total += weights[i];
    }
    let r = this.#random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

/** One number per block: 53 of its 64 hash bits, plenty to tell active blocks apart. */
function blockKey(keys: Uint32Array, at: number): number {
  return (keys[at] & 0x1fffff) * 4294967296 + keys[at + 1];
}

/** Distinct active blocks of one worker, with a reference count per block. */
class ActiveBlocks {
  blocks = 0;
  #refs = new Map<number, number>();

  /** How many leading blocks of `keys` (u32 halves) are active. */
  leading(keys: Uint32Array): number {
    let n = 0;
    while (2 * n < keys.length && this.#refs.has(blockKey(keys, 2 * n))) n++;
    return n;
  }

  add(key: number): void {
    const n = this.#refs.get(key) ?? 0;
    this.#refs.set(key, n + 1);
    if (n === 0) this.blocks++;
  }

  remove(key: number): void {
    const n = this.#refs.get(key);
    if (n === undefined) return;
    if (n > 1) {
      this.#refs.set(key, n - 1);
    } else {
      this.#refs.delete(key);
      this.blocks--;
    }
  }
}
