/**
 * Multi-step decode windows: when every running sequence decodes greedily and nobody
 * admissible waits, K decode steps run in one submit with the ids fed back on the GPU and one
 * readback. K is at most the decoder's `maxSteps`, the scheduler's window cap, and each
 * sequence's remaining `max_tokens` and context room, so no sequence overruns its limits; a
 * sequence that stops inside the window keeps only its tokens up to the stop, and its KV
 * blocks are committed only up to its computed tokens (the surplus KV lies in blocks its
 * removal frees).
 *
 * @module
 */
import type { LlamaMultiStepDecoder } from "../../src/gpu/llama/llama_multi_step.ts";
import type { SchedulerState } from "./scheduler_state.ts";
import type { Sequence } from "./sequence.ts";
import { acceptToken } from "./stop_rules.ts";

/** A window to run: its sequences (a snapshot of the running queue) and its step count K. */
export interface DecodeWindow {
  readonly seqs: Sequence[];
  readonly steps: number;
}

/**
 * The multi-step window to run now, its KV blocks grown: every running sequence decoding
 * greedily, nobody admissible waiting, K ≥ 2 (and at most `maxWindow`). `undefined`: run a
 * single step; then no block MUST stay taken for the window.
 */
export function pickWindow(
  state: SchedulerState,
  multi: LlamaMultiStepDecoder | undefined,
  maxWindow: number,
): DecodeWindow | undefined {
  const seqs = state.running;
  if (!multi || !seqs.length) return undefined;
  if (state.waiting.length && seqs.length < state.limits.maxSeqs) return undefined;
  const cap = state.capacity;
  let steps = Math.min(multi.maxSteps, maxWindow);
  for (const seq of seqs) {
    if (seq.done || seq.pending() !== 1 || !seq.sampler.greedy) return undefined;
    steps = Math.min(steps, seq.stop.maxTokens - seq.generated, cap - seq.tokens.length);
  }
  if (steps < 2) return undefined;
  // Blocks for every position the window writes; on a shortfall the blocks taken here go
  // back and single steps run (they preempt as needed).
  const had = seqs.map((seq) => seq.blocks.length);
  for (const seq of seqs) {
    if (state.grow(seq, seq.computed + steps)) continue;
    seqs.forEach((s, i) => state.blocks.release(s.blocks.splice(had[i])));
    return undefined;
  }
  return { seqs: [...seqs], steps };
}

/**
 * Runs `window`'s K greedy decode steps in one submit and hands out their tokens, step by
 * step as K single steps would. A decoder failure MUST fail and remove every window sequence.
 */
export async function runWindow(
  state: SchedulerState,
  multi: LlamaMultiStepDecoder,
  { seqs, steps }: DecodeWindow,
): Promise<void> {
  const { maxBlocks } = state.limits;
  const t = seqs.length;
  const ids = new Uint32Array(t), positions = new Uint32Array(t);
  const blockTable = new Uint32Array(t * maxBlocks);
  seqs.forEach((seq, row) => {
    ids[row] = seq.tokens[seq.computed];
    positions[row] = seq.computed;
    blockTable.set(seq.blocks, row * maxBlocks);
  });
  state.steps += steps;
  state.windows++;
  let sampled: Uint32Array;
  try {
    sampled = await multi.run({ ids, positions, blockTable }, steps);
  } catch (error) {
    state.fail(seqs, error as Error);
    return;
  }
  for (let k = 0; k < steps; k++) {
    // Step k as a single step would do it: KV of every sequence's input, then the samples.
    for (const seq of seqs) {
      if (!seq.done) state.advance(seq, 1);
    }
    seqs.forEach((seq, row) => {
      if (!seq.done) acceptToken(state, seq, sampled[k * t + row]);
    });
  }
}
