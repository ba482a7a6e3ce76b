/**
 * The mocker's continuous-batching scheduler (vLLM v1-like). Each iteration:
 *
 * 1. running sequences first, in admission order: a decode step (one token) or the next
 *    prefill chunk, within the token budget `max_num_batched_tokens`; when blocks run out,
 *    the most recently admitted running sequence is preempted (blocks freed, recomputed
 *    later from its prompt plus the tokens it already generated, so its stream continues
 *    with no token lost or repeated);
 * 2. then, unless something was preempted, waiting sequences in FIFO order while fewer than
 *    `max_num_seqs` run, the budget lasts and blocks remain above the watermark; each first
 *    takes the longest cached prefix (at most all but its last token, as vLLM).
 *
 * `schedule()` plans an iteration and allocates its blocks; `complete()` applies it after
 * the simulated time. Both are synchronous, so tests drive the scheduler without timers.
 *
 * @module
 */
import type { BlockHasher } from "../../src/kv/block_hash.ts";
import type { BlockManager } from "./block_manager.ts";
import type { Sequence } from "./sequence.ts";

/** Scheduler limits. */
export interface SchedulerConfig {
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  chunkedPrefill: boolean;
  /** Fraction of all blocks kept free when admitting a new sequence (vLLM's watermark). */
  watermark: number;
}

/** One sequence's share of an iteration. */
export interface PlannedWork {
  seq: Sequence;
  /** Tokens whose KV this iteration computes. */
  tokens: number;
  /** True for a decode step, false for (part of) a prefill. */
  decode: boolean;
}

/** A planned iteration. */
export interface IterationPlan {
  work: PlannedWork[];
  /** New prompt tokens computed (the prefill model's T). */
  prefillTokens: number;
  /** Sequences decoding one token. */
  decodes: number;
  /** Active KV tokens / total KV tokens after scheduling (the decode model's p). */
  occupancy: number;
}

/** A token produced by an iteration. */
export interface Emitted {
  seq: Sequence;
  token: number;
  /** True when the sequence reached its `max_tokens` (its blocks are already freed). */
  finished: boolean;
}

/** Waiting and running sequences over a {@linkcode BlockManager}. */
export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  /** Preemptions so far. */
  preemptions = 0;
  #config: SchedulerConfig;
  #blocks: BlockManager;
  #hasher: BlockHasher;

  constructor(config: SchedulerConfig, blocks: BlockManager, hasher: BlockHasher) {
    this.#config = config;
    this.#blocks = blocks;
    this.#hasher = hasher;
  }

  /** True when nothing waits or runs. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0;
  }

  /** Queues a new sequence. */
  add(seq: Sequence): void {
    seq.state = "waiting";
    this.waiting.push(seq);
  }

  /** Removes a sequence wherever it is and frees its blocks at once. Idempotent. */
  cancel(seq: Sequence): void {
    if (seq.state === "finished") return;
    const list = seq.state === "waiting" ? this.waiting : this.running;
    const at = list.indexOf(seq);
    if (at !== -1) list.splice(at, 1);
    this.#free(seq);
    seq.state = "finished";
  }

  /** Plans one iteration (allocating its blocks). Empty when there is nothing to do. */
  schedule(): IterationPlan {
    const { blockSize, maxNumBatchedTokens, chunkedPrefill } = this.#config;
    const work: PlannedWork[] = [];
    let budget = maxNumBatchedTokens;
    let preempted = false;
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i];
      const n = Math.min(seq.tokens.length - seq.computed, budget);
      if (n <= 0) continue;
      let self = false;
      while (!this.#grow(seq, seq.computed + n, 0)) {
        const victim = this.running.pop()!;
        this.#preempt(victim);
        preempted = true;
        if (victim === seq) {
          self = true;
          break;
        }
      }
      if (self) break;
      work.push({ seq, tokens: n, decode: seq.prefilled });
      budget -= n;
    }
    while (
      !preempted && this.waiting.length > 0 && budget > 0 &&
      this.running.length < this.#config.maxNumSeqs
    ) {
      const seq = this.waiting[0];
      const length = seq.tokens.length;
      const hashes = seq.hashesUpTo(this.#hasher, blockSize, Math.floor(length / blockSize));
      const limit = Math.floor((length - 1) / blockSize);
      const hit = this.#blocks.matchPrefix(hashes.map((h) => h.block_hash), limit);
      const need = length - hit * blockSize;
      if (!chunkedPrefill && need > budget) break;
      const n = Math.min(need, budget);
      for (let b = 0; b < hit; b++) {
        seq.blocks.push(this.#blocks.acquireCached(hashes[b].block_hash));
      }
      const reserve = this.running.length > 0
        ? Math.ceil(this.#config.watermark * this.#blocks.totalBlocks)
        : 0;
      if (!this.#grow(seq, hit * blockSize + n, reserve)) {
        this.#free(seq);
        break;
      }
      this.#blocks.recordLookup(hit, limit);
      this.waiting.shift();
      seq.state = "running";
      seq.computed = hit * blockSize;
      seq.committed = hit;
      seq.cachedTokens ??= Math.min(seq.computed, seq.promptLength);
      this.running.push(seq);
      work.push({ seq, tokens: n, decode: false });
      budget -= n;
    }
    let prefillTokens = 0;
    let decodes = 0;
    for (const w of work) {
      if (w.decode) decodes++;
      else prefillTokens += w.tokens;
    }
    let active = 0;
    for (const seq of this.running) active += seq.computed;
    for (const w of work) active += w.tokens;
    const capacity = this.#blocks.totalBlocks * blockSize;
    return { work, prefillTokens, decodes, occupancy: capacity > 0 ? active / capacity : 0 };
  }

  /** Applies a planned iteration: KV computed, full blocks cached, tokens generated. */
  complete(plan: IterationPlan): Emitted[] {
    const emitted: Emitted[] = [];
    const bs = this.#config.blockSize;
    for (const { seq, tokens } of plan.work) {
      if (seq.state !== "running") continue; // cancelled or preempted meanwhile
      seq.computed += tokens;
      const full = Math.floor(seq.computed / bs);
      if (full > seq.committed) {
        const hashes = seq.hashesUpTo(this.#hasher, bs, full);
        for (let b = seq.committed; b < full; b++) {
          this.#blocks.commit(seq.blocks[b], hashes[b], b === 0 ? null : hashes[b - 1].block_hash);
        }
        seq.committed = full;
      }
      if (seq.computed < seq.tokens.length) continue; // more prefill chunks to go
      seq.prefilled = true;
      const token = seq.nextToken();
      seq.tokens.push(token);
      seq.generated++;
      const finished = seq.generated >= seq.maxTokens;
      if (finished) this.cancel(seq);
      emitted.push({ seq, token, finished });
    }
    return emitted;
  }

  /** Makes `seq` hold blocks for `tokens` tokens, leaving `reserve` free; false if it cannot. */
  #grow(seq: Sequence, tokens: number, reserve: number): boolean {
    const need = Math.ceil(tokens / this.#config.blockSize) - seq.blocks.length;
    if (need <= 0) return true;
    if (this.#blocks.freeBlocks - need < reserve) return false;
    for (let i = 0; i < need; i++) seq.blocks.push(this.#blocks.allocate()!);
    return true;
  }

  #preempt(seq: Sequence): void {
    this.#free(seq);
    seq.preemptions++;
    this.preemptions++;
    seq.state = "waiting";
    this.waiting.unshift(seq);
  }

  /** Frees a sequence's blocks, last first (so its tail is evicted before its prefix). */
  #free(seq: Sequence): void {
    for (let b = seq.blocks.length - 1; b >= 0; b--) this.#blocks.release(seq.blocks[b]);
    seq.blocks = [];
    seq.computed = 0;
    seq.committed = 0;
    seq.prefilled = false;
  }
}
