/**
 * Runs one planned mixed prefill/decode step: lays the planned chunks out as the batch
 * runner's flat token rows and block table, runs one forward pass, commits the KV blocks the
 * step filled, and samples every sequence whose last token was computed.
 *
 * @module
 */
import type { LlamaBatchRunner } from "../../src/gpu/llama/llama_batch_runner.ts";
import type { SchedulerState } from "./scheduler_state.ts";
import type { Sequence } from "./sequence.ts";
import type { PlannedChunk } from "./step_plan.ts";
import { emitSampled } from "./stop_rules.ts";

/**
 * Runs `plan` (non-empty) as one step. A runner failure MUST fail and remove every planned
 * sequence; a sequence removed while the step ran MUST NOT be advanced or sampled.
 */
export async function runBatchStep(
  state: SchedulerState,
  runner: LlamaBatchRunner,
  plan: readonly PlannedChunk[],
): Promise<void> {
  const { maxBlocks } = state.limits;
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
  state.steps++;
  let logits: Float32Array | undefined;
  try {
    if (logitRows.length) {
      logits = await runner.run({ ids, positions, tokenSeq, blockTable, logitRows });
    } else {
      // A step of prefill chunks only: the runner still needs one row; its logits are unused.
      await runner.run({ ids, positions, tokenSeq, blockTable, logitRows: [tokens - 1] });
    }
  } catch (error) {
    state.fail(plan.map((p) => p.seq), error as Error);
    return;
  }
  for (const { seq, count } of plan) {
    if (!seq.done) state.advance(seq, count);
  }
  if (!logits) return;
  const vocab = logits.length / logitRows.length;
  sampled.forEach((seq, i) => {
    if (seq.done) return;
    emitSampled(state, seq, logits!.subarray(i * vocab, (i + 1) * vocab));
  });
}
