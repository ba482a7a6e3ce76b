/**
 * The scheduler's shared state: its running and waiting queues, the block manager, its limits
 * and counters, and the queue and block operations every step kind uses (remove, free, grow a
 * block list, commit computed KV, and vLLM-style recompute preemption).
 *
 * @module
 */
import type { BlockManager } from "./block_manager.ts";
import type { Sequence } from "./sequence.ts";

/** Scheduler limits. */
export interface SchedulerLimits {
  /** Most sequences in one step. */
  readonly maxSeqs: number;
  /** Most tokens in one step. */
  readonly maxBatchedTokens: number;
  /** Block-table row length (blocks per sequence at most). */
  readonly maxBlocks: number;
}

/** Queues, blocks and counters of one scheduler. */
export class SchedulerState {
  readonly blocks: BlockManager;
  readonly limits: SchedulerLimits;
  /** Admitted (running) sequences, in admission order. */
  running: Sequence[] = [];
  /** Waiting sequences, in arrival order. */
  waiting: Sequence[] = [];
  /** Forward steps run so far (a multi-step window of K counts K). */
  steps = 0;
  /** Multi-step windows run so far. */
  windows = 0;
  /** Prompt tokens admitted (first admissions only). */
  promptTokens = 0;
  /** Of {@link promptTokens}, those served from the prefix cache. */
  cachedTokens = 0;

  constructor(blocks: BlockManager, limits: SchedulerLimits) {
    this.blocks = blocks;
    this.limits = limits;
  }

  /** Tokens one sequence can hold at most (its block-table row, full). */
  get capacity(): number {
    return this.limits.maxBlocks * this.blocks.blockSize;
  }

  /** Takes `seq` out of both queues and frees its blocks now (idempotent). */
  remove(seq: Sequence): void {
    seq.done = true;
    this.running = this.running.filter((s) => s !== seq);
    this.waiting = this.waiting.filter((s) => s !== seq);
    this.free(seq);
  }

  /** Pushes `error` to `seqs` and removes each; a failed step MUST leave no stream hanging. */
  fail(seqs: readonly Sequence[], error: Error): void {
    for (const seq of seqs) {
      seq.push({ kind: "error", error });
      this.remove(seq);
    }
  }

  /** Releases `seq`'s blocks; its KV MUST be recomputed before it is sampled again. */
  free(seq: Sequence): void {
    if (seq.blocks.length) this.blocks.release(seq.blocks);
    seq.blocks = [];
    seq.computed = 0;
  }

  /** Grows `seq`'s block list to cover `upTo` tokens; false when blocks ran out. */
  grow(seq: Sequence, upTo: number): boolean {
    const needed = Math.ceil(upTo / this.blocks.blockSize);
    while (seq.blocks.length < needed) {
      const id = this.blocks.allocate();
      if (id === undefined) return false;
      seq.blocks.push(id);
    }
    return true;
  }

  /**
   * Marks `count` more of `seq`'s tokens computed and commits every block that filled up to
   * the prefix cache (only blocks whose every token's KV is written).
   */
  advance(seq: Sequence, count: number): void {
    const bs = this.blocks.blockSize, before = Math.floor(seq.computed / bs);
    seq.computed += count;
    if (Math.floor(seq.computed / bs) > before) {
      this.blocks.commit(seq.blocks, seq.tokens.slice(0, seq.computed), before);
    }
  }

  /**
   * Frees the latest-admitted running sequence other than `seq` and those in `plan` (it goes
   * back to the head of the waiting queue and is recomputed later); false if none.
   */
  preemptFor(seq: Sequence, plan: readonly { seq: Sequence }[]): boolean {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const victim = this.running[i];
      if (victim === seq || plan.some((p) => p.seq === victim)) continue;
      this.running.splice(i, 1);
      this.free(victim);
      victim.matched = false;
      this.waiting.unshift(victim);
      return true;
    }
    return false;
  }
}
