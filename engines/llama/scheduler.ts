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
 * This file holds the loop and the public surface; planning is in `step_plan.ts`, the mixed
 * step in `batch_step.ts`, windows in `multi_step_window.ts`, stop rules in `stop_rules.ts`,
 * queues, blocks and preemption in `scheduler_state.ts`.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { LlamaBatchRunner } from "../../src/gpu/llama/llama_batch_runner.ts";
import type { LlamaMultiStepDecoder } from "../../src/gpu/llama/llama_multi_step.ts";
import type { BlockManager } from "./block_manager.ts";
import type { Sequence } from "./sequence.ts";
import { type SchedulerLimits, SchedulerState } from "./scheduler_state.ts";
import { planStep } from "./step_plan.ts";
import { runBatchStep } from "./batch_step.ts";
import { pickWindow, runWindow } from "./multi_step_window.ts";

export type { SchedulerLimits } from "./scheduler_state.ts";

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
  readonly #state: SchedulerState;
  #loop?: Promise<void>;
  #maxWindow = Infinity;
  #closed = false;

  constructor(model: SchedulerModel, blocks: BlockManager, limits: SchedulerLimits) {
    this.#runner = model.runner;
    this.#multi = model.multiStep;
    this.#afterStep = model.afterStep;
    this.#state = new SchedulerState(blocks, limits);
  }

  /** Forward steps run so far (a multi-step window of K counts K). */
  get steps(): number {
    return this.#state.steps;
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
    return this.#state.windows;
  }

  /** Sequences admitted or waiting. */
  get active(): number {
    return this.#state.running.length + this.#state.waiting.length;
  }

  /** Sequences admitted (being computed). */
  get running(): number {
    return this.#state.running.length;
  }

  /** Sequences waiting for admission. */
  get waiting(): number {
    return this.#state.waiting.length;
  }

  /** Prompt tokens served from the prefix cache over all prompt tokens admitted (0 to 1). */
  get prefixHitRate(): number {
    const s = this.#state;
    return s.promptTokens ? s.cachedTokens / s.promptTokens : 0;
  }

  /** Queues `seq`; it joins the batch at the next step. */
  add(seq: Sequence): void {
    if (this.#closed) throw new Error("Cannot schedule a sequence: the scheduler is closed");
    this.#state.waiting.push(seq);
    this.#kick();
  }

  /** Takes `seq` out and frees its blocks now (idempotent). */
  remove(seq: Sequence): void {
    this.#state.remove(seq);
  }

  /** Stops scheduling; resolves once the current step (if any) ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new Error("Cannot continue: the engine is shutting down"));
    await this.#loop;
  }

  /** Fails and removes every running and waiting sequence. */
  #failAll(error: Error): void {
    this.#state.fail([...this.#state.running, ...this.#state.waiting], error);
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
            this.#failAll(error as Error);
          }
          this.#afterStep?.(false);
        }
      } finally {
        this.#loop = undefined;
        this.#afterStep?.(true);
      }
    })();
  }

  /** One step: a multi-step window when one fits, else a planned mixed step. */
  async #step(): Promise<void> {
    const window = pickWindow(this.#state, this.#multi, this.#maxWindow);
    if (window) return await runWindow(this.#state, this.#multi!, window);
    const plan = planStep(this.#state);
    if (plan.length) await runBatchStep(this.#state, this.#runner, plan);
  }
}
