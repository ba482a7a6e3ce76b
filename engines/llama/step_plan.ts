/**
 * Plans one mixed prefill/decode step (vLLM's continuous batching with chunked prefill): one
 * token of every decoding sequence first, then prefill chunks of prefilling sequences, then
 * admissions from the waiting queue (with a prefix-cache lookup on admission), all within the
 * step's token budget and sequence limit. KV blocks for every planned token are allocated
 * here; when they run out, running sequences are preempted (recompute) or, when nothing runs,
 * a request that can never fit fails with a `RangeError`.
 *
 * @module
 */
import type { SchedulerState } from "./scheduler_state.ts";
import type { Sequence } from "./sequence.ts";

/** One sequence's share of a step: its next `count` uncomputed tokens. */
export interface PlannedChunk {
  readonly seq: Sequence;
  readonly count: number;
}

/**
 * Plans the next step; every planned token's KV block MUST be allocated on return. Empty:
 * nothing can run now.
 */
export function planStep(state: SchedulerState): PlannedChunk[] {
  const { maxSeqs, maxBatchedTokens } = state.limits;
  let budget = maxBatchedTokens;
  const plan: PlannedChunk[] = [];
  // Decoding sequences first (one token each), then prefill chunks, oldest first.
  const order = [...state.running].sort((a, b) =>
    Number(a.pending() > 1) - Number(b.pending() > 1)
  );
  for (const seq of order) {
    // A sequence preempted earlier in this loop is back in the waiting queue.
    if (seq.done || budget <= 0 || !state.running.includes(seq)) continue;
    const count = Math.min(seq.pending(), budget);
    if (!state.grow(seq, seq.computed + count)) {
      if (!state.preemptFor(seq, plan)) continue;
      if (!state.grow(seq, seq.computed + count)) continue;
    }
    plan.push({ seq, count });
    budget -= count;
  }
  while (state.waiting.length && state.running.length < maxSeqs && budget > 0) {
    const seq = state.waiting[0];
    if (!seq.matched) matchPrefix(state, seq);
    const count = Math.min(seq.pending(), budget);
    if (!state.grow(seq, seq.computed + count)) {
      state.free(seq);
      seq.matched = false;
      seq.cachedTokens = 0;
      if (!state.running.length) {
        state.waiting.shift();
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
    state.waiting.shift();
    state.running.push(seq);
    plan.push({ seq, count });
    budget -= count;
  }
  return plan;
}

/**
 * Looks `seq`'s tokens up in the prefix cache on admission; only a first admission's hit
 * counts toward the prefix-cache hit rate (a recompute after preemption does not).
 */
function matchPrefix(state: SchedulerState, seq: Sequence): void {
  seq.matched = true;
  if (seq.blocks.length) throw new Error("Cannot admit a sequence that still holds blocks");
  seq.blocks = state.blocks.match(seq.tokens);
  seq.computed = seq.blocks.length * state.blocks.blockSize;
  if (seq.generated === 0 && !seq.counted) {
    seq.counted = true;
    seq.cachedTokens = seq.computed;
    state.promptTokens += seq.promptLength;
    state.cachedTokens += seq.computed;
  }
}
