/**
 * Continuous batching with chunked prefill (vLLM's scheduler in small). Each step takes one
 * token from every decoding sequence, then fills the rest of the token budget with prefill
 * chunks of waiting and prefilling sequences (oldest first), allocates the KV blocks those
 * tokens reach, runs one forward pass over the mixed batch, samples the sequences whose last
 * token was computed, and hands each its token. Sequences join between any two steps and
 * leave the moment they finish or are cancelled: `remove` frees their blocks at once. When
 * blocks run out, the most recently admitted sequence is preempted (its blocks freed, its
 * tokens recomputed later), as vLLM's recompute preemption does.
 *
 * Multi-step decode: when a {@link LlamaMultiStepDecoder} is given, no request is waiting for
 * admission (or the batch is full), and every running sequence is decoding greedily, a step
 * runs K decode steps in one submit with the ids fed back on the GPU and one readback. K is at
 * most the decoder's `maxSteps` and each sequence's remaining `max_tokens` and context room,
 * so no sequence overruns its limits; a sequence that stops (EOS or a stop id) inside the
 * window keeps only its tokens up to the stop, and its KV blocks are committed only up to its
 * computed tokens (the surplus KV lies in blocks its removal frees). Arrivals, cancellations
 * and non-greedy requests take effect at the next window boundary.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { LlamaBatchRunner } from "../../src/gpu/llama/llama_batch_runner.ts";
import type { LlamaMultiStepDecoder } from "../../src/gpu/llama/llama_multi_step.ts";
import type { BlockManager } from "./block_manager.ts";
import type { Sequence } from "./sequence.ts";
import type { TopLogprob } from "../../src/engine/generate_chunk.ts";

/** Scheduler limits. */
export interface SchedulerLimits {
  /** Most sequences in one step. */
  readonly maxSeqs: number;
  /** Most tokens in one step. */
  readonly maxBatchedTokens: number;
  /** Block-table row length (blocks per sequence at most). */
  readonly maxBlocks: number;
}

/** What a scheduler drives. */
export interface SchedulerModel {
  /** Runs mixed prefill/decode steps (and every non-greedy sample). */
  readonly runner: LlamaBatchRunner;
  /** Runs K greedy decode steps per submit (absent: one step per submit always). */
  readonly multiStep?: LlamaMultiStepDecoder;
  /** Called after every step, and with `idle` true when the loop runs out of work. */
  readonly afterStep?: (idle: boolean) => void;
}

/** Drives a {@link LlamaBatchRunner} over the sequences it is given. */
export class Scheduler {
  readonly #runner: LlamaBatchRunner;
  readonly #multi?: LlamaMultiStepDecoder;
  readonly #afterStep?: (idle: boolean) => void;
  readonly #blocks: BlockManager;
  readonly #limits: SchedulerLimits;
  /** Admitted (running) sequences, in admission order. */
  #running: Sequence[] = [];
  /** Waiting sequences, in arrival order. */
  #waiting: Sequence[] = [];
  #loop?: Promise<void>;
  #steps = 0;
  #windows = 0;
  #maxWindow = Infinity;
  #closed = false;
  #promptTokens = 0;
  #cachedTokens = 0;

  constructor(model: SchedulerModel, blocks: BlockManager, limits: SchedulerLimits) {
    this.#runner = model.runner;
    this.#multi = model.multiStep;
    this.#afterStep = model.afterStep;
    this.#blocks = blocks;
    this.#limits = limits;
  }

  /** Forward steps run so far (a multi-step window of K counts K). */
  get steps(): number {
    return this.#steps;
  }

  /**
   * Most decode steps per multi-step window from the next step on (at most the decoder's
   * `maxSteps`; below 2 disables windows). For benchmarks comparing both paths in one run.
   */
  set maxWindow(steps: number) {
    this.#maxWindow = steps;
  }

  /** Multi-step windows run so far. */
  get windows(): number {
    return this.#windows;
  }

  /** Sequences admitted or waiting. */
  get active(): number {
    return this.#running.length + this.#waiting.length;
  }

  /** Sequences admitted (being computed). */
  get running(): number {
    return this.#running.length;
  }

  /** Sequences waiting for admission. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Prompt tokens served from the prefix cache over all prompt tokens admitted (0 to 1). */
  get prefixHitRate(): number {
    return this.#promptTokens ? this.#cachedTokens / this.#promptTokens : 0;
  }

  /** Queues `seq`; it joins the batch at the next step. */
  add(seq: Sequence): void {
    if (this.#closed) throw new Error("Cannot schedule a sequence: the scheduler is closed");
    this.#waiting.push(seq);
    this.#kick();
  }

  /** Takes `seq` out and frees its blocks now (idempotent). */
  remove(seq: Sequence): void {
    seq.done = true;
    this.#running = this.#running.filter((s) => s !== seq);
    this.#waiting = this.#waiting.filter((s) => s !== seq);
    this.#free(seq);
  }

  /** Stops scheduling; resolves once the current step (if any) ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const s of [...this.#running, ...this.#waiting]) {
      s.push({ kind: "error", error: new Error("Cannot continue: the engine is shutting down") });
      this.remove(s);
    }
    await this.#loop;
  }

  #free(seq: Sequence): void {
    if (seq.blocks.length) this.#blocks.release(seq.blocks);
    seq.blocks = [];
    seq.computed = 0;
  }

  #kick(): void {
    if (this.#loop) return;
    this.#loop = (async () => {
      try {
        // Bounded by the work: each step computes ≥ 1 token of some sequence or fails them.
        while (!this.#closed && this.active) {
          // Yield to timers and I/O so arrivals, cancellations and readers run between steps
          // (`setImmediate`: a chained `setTimeout(0)` is clamped to 4 ms per step).
          await new Promise((resolve) => setImmediate(resolve));
          try {
            await this.#step();
          } catch (error) {
            // A broken invariant: fail every sequence rather than leave streams hanging.
            for (const s of [...this.#running, ...this.#waiting]) {
              s.push({ kind: "error", error: error as Error });
              this.remove(s);
            }
          }
          this.#afterStep?.(false);
        }
      } finally {
        this.#loop = undefined;
        this.#afterStep?.(true);
      }
    })();
  }

  /** Blocks needed to hold `tokens` tokens. */
  #blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.#blocks.blockSize);
  }

  /** Grows `seq`'s block list to cover `upTo` tokens; false when blocks ran out. */
  #grow(seq: Sequence, upTo: number): boolean {
    while (seq.blocks.length < this.#blocksFor(upTo)) {
      const id = this.#blocks.allocate();
      if (id === undefined) return false;
      seq.blocks.push(id);
    }
    return true;
  }

  async #step(): Promise<void> {
    const window = this.#window();
    if (window) return await this.#multiStep(window);
    const { maxSeqs, maxBatchedTokens, maxBlocks } = this.#limits;
    let budget = maxBatchedTokens;
    const plan: { seq: Sequence; count: number }[] = [];
    // Decoding sequences first (one token each), then prefill chunks, oldest first.
    const order = [...this.#running].sort((a, b) =>
      Number(a.pending() > 1) - Number(b.pending() > 1)
    );
    for (const seq of order) {
      // A sequence preempted earlier in this loop is back in the waiting queue.
      if (seq.done || budget <= 0 || !this.#running.includes(seq)) continue;
      const count = Math.min(seq.pending(), budget);
      if (!this.#grow(seq, seq.computed + count)) {
        if (!this.#preemptFor(seq, plan)) continue;
        if (!this.#grow(seq, seq.computed + count)) continue;
      }
      plan.push({ seq, count });
      budget -= count;
    }
    while (this.#waiting.length && this.#running.length < maxSeqs && budget > 0) {
      const seq = this.#waiting[0];
      if (!seq.matched) {
        seq.matched = true;
        if (seq.blocks.length) throw new Error("Cannot admit a sequence that still holds blocks");
        seq.blocks = this.#blocks.match(seq.tokens);
        seq.computed = seq.blocks.length * this.#blocks.blockSize;
        // Only a first admission's hit is the prompt's cached tokens (not a recompute).
        if (seq.generated === 0 && !seq.counted) {
          seq.counted = true;
          seq.cachedTokens = seq.computed;
          this.#promptTokens += seq.promptLength;
          this.#cachedTokens += seq.computed;
        }
      }
      const count = Math.min(seq.pending(), budget);
      if (!this.#grow(seq, seq.computed + count)) {
        this.#free(seq);
        seq.matched = false;
        seq.cachedTokens = 0;
        if (!this.#running.length) {
          this.#waiting.shift();
          seq.done = true;
          seq.push({
            kind: "error",
            error: new RangeError(
              "Cannot schedule the request: it needs more KV blocks than exist",
            ),
          });
        }
        break;
      }
      this.#waiting.shift();
      this.#running.push(seq);
      plan.push({ seq, count });
      budget -= count;
    }
    if (!plan.length) return;
    const tokens = plan.reduce((a, p) => a + p.count, 0);
    const ids = new Uint32Array(tokens), positions = new Uint32Array(tokens);
    const tokenSeq = new Uint32Array(tokens);
    const blockTable = new Uint32Array(plan.length * maxBlocks);
    const logitRows: number[] = [], sampled: Sequence[] = [];
    let t = 0;
    plan.forEach(({ seq, count }, row) => {
      blockTable.set(seq.blocks, row * maxBlocks);
      for (let i = 0; i < count; i++, t++) {
        const pos = seq.computed + i;
        ids[t] = seq.tokens[pos];
        positions[t] = pos;
        tokenSeq[t] = row;
      }
      if (seq.computed + count === seq.tokens.length) {
        logitRows.push(t - 1);
        sampled.push(seq);
      }
    });
    this.#steps++;
    let logits: Float32Array | undefined;
    try {
      if (logitRows.length) {
        logits = await this.#runner.run({ ids, positions, tokenSeq, blockTable, logitRows });
      } else {
        // A step of prefill chunks only: the runner still needs one row; its logits are unused.
        await this.#runner.run({ ids, positions, tokenSeq, blockTable, logitRows: [tokens - 1] });
      }
    } catch (error) {
      for (const { seq } of plan) {
        seq.push({ kind: "error", error: error as Error });
        this.remove(seq);
      }
      return;
    }
    for (const { seq, count } of plan) {
      if (seq.done) continue;
      const bs = this.#blocks.blockSize, before = Math.floor(seq.computed / bs);
      seq.computed += count;
      if (Math.floor(seq.computed / bs) > before) {
        this.#blocks.commit(seq.blocks, seq.tokens.slice(0, seq.computed), before);
      }
    }
    if (!logits) return;
    const vocab = logits.length / logitRows.length;
    sampled.forEach((seq, i) => {
      if (seq.done) return;
      const row = logits!.subarray(i * vocab, (i + 1) * vocab);
      this.#emit(seq, row);
    });
  }

  /** Samples `seq`'s next token from `row` and applies its stop rules. */
  #emit(seq: Sequence, row: Float32Array): void {
    const output = seq.tokens.slice(seq.promptLength);
    const s = seq.sampler.sample(row, seq.tokens.slice(0, seq.promptLength), output);
    this.#accept(seq, s.token, s.logprob, s.top);
  }

  /** Applies `seq`'s stop rules to its next token `token` and hands it over. */
  #accept(seq: Sequence, token: number, logprob?: number, top?: TopLogprob[]): void {
    const rules = seq.stop;
    const canStop = seq.generated >= rules.minTokens;
    if (canStop && rules.eos.has(token)) {
      seq.push({ kind: "finish", reason: "eos", stopToken: token });
      this.remove(seq);
      return;
    }
    if (canStop && rules.stop.has(token)) {
      seq.push({ kind: "finish", reason: "stop", stopToken: token });
      this.remove(seq);
      return;
    }
    seq.tokens.push(token);
    seq.generated++;
    seq.push({ kind: "token", token, logprob, top });
    const full = seq.tokens.length >= this.#limits.maxBlocks * this.#blocks.blockSize;
    if (seq.generated >= rules.maxTokens || full) {
      seq.push({ kind: "finish", reason: "length" });
      this.remove(seq);
    }
  }

  /**
   * The multi-step window to run now, its KV blocks grown: every running sequence decoding
   * greedily, nobody admissible waiting, K ≥ 2. `undefined`: run a single step.
   */
  #window(): { seqs: Sequence[]; steps: number } | undefined {
    const multi = this.#multi;
    const seqs = this.#running;
    if (!multi || !seqs.length) return undefined;
    if (this.#waiting.length && seqs.length < this.#limits.maxSeqs) return undefined;
    const cap = this.#limits.maxBlocks * this.#blocks.blockSize;
    let steps = Math.min(multi.maxSteps, this.#maxWindow);
    for (const seq of seqs) {
      if (seq.done || seq.pending() !== 1 || !seq.sampler.greedy) return undefined;
      steps = Math.min(steps, seq.stop.maxTokens - seq.generated, cap - seq.tokens.length);
    }
    if (steps < 2) return undefined;
    // Blocks for every position the window writes; on a shortfall the blocks taken here go
    // back and single steps run (they preempt as needed).
    const had = seqs.map((seq) => seq.blocks.length);
    for (const seq of seqs) {
      if (this.#grow(seq, seq.computed + steps)) continue;
      seqs.forEach((s, i) => this.#blocks.release(s.blocks.splice(had[i])));
      return undefined;
    }
    return { seqs: [...seqs], steps };
  }

  /** Runs K greedy decode steps of `seqs` in one submit and hands out their tokens. */
  async #multiStep({ seqs, steps }: { seqs: Sequence[]; steps: number }): Promise<void> {
    const { maxBlocks } = this.#limits;
    const t = seqs.length;
    const ids = new Uint32Array(t), positions = new Uint32Array(t);
    const blockTable = new Uint32Array(t * maxBlocks);
    seqs.forEach((seq, row) => {
      ids[row] = seq.tokens[seq.computed];
      positions[row] = seq.computed;
      blockTable.set(seq.blocks, row * maxBlocks);
    });
    this.#steps += steps;
    this.#windows++;
    let sampled: Uint32Array;
    try {
      sampled = await this.#multi!.run({ ids, positions, blockTable }, steps);
    } catch (error) {
      for (const seq of seqs) {
        seq.push({ kind: "error", error: error as Error });
        this.remove(seq);
      }
      return;
    }
    const bs = this.#blocks.blockSize;
    for (let k = 0; k < steps; k++) {
      // Step k as a single step would do it: KV of every sequence's input, then the samples.
      for (const seq of seqs) {
        if (seq.done) continue;
        const before = Math.floor(seq.computed / bs);
        seq.computed++;
        if (Math.floor(seq.computed / bs) > before) {
          this.#blocks.commit(seq.blocks, seq.tokens.slice(0, seq.computed), before);
        }
      }
      seqs.forEach((seq, row) => {
        if (!seq.done) this.#accept(seq, sampled[k * t + row]);
      });
    }
  }

  /** Frees the latest-admitted other sequence's blocks (recomputed later); false if none. */
  #preemptFor(seq: Sequence, plan: readonly { seq: Sequence }[]): boolean {
    for (let i = this.#running.length - 1; i >= 0; i--) {
      const victim = this.#running[i];
      if (victim === seq || plan.some((p) => p.seq === victim)) continue;
      this.#running.splice(i, 1);
      this.#free(victim);
      victim.matched = false;
      this.#waiting.unshift(victim);
      return true;
    }
    return false;
  }
}
