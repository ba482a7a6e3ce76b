/**
 * Hands a sampled token to its sequence under the sequence's stop rules: EOS and stop ids
 * (after `min_tokens`) finish it without emitting the id, `max_tokens` or a full block-table
 * row finish it with `"length"` after emitting the token. A finished sequence is removed at
 * once, so its blocks are free before the next step.
 *
 * @module
 */
import type { TopLogprob } from "../../src/engine/generate_chunk.ts";
import type { SchedulerState } from "./scheduler_state.ts";
import type { Sequence } from "./sequence.ts";

/** Samples `seq`'s next token from its logits `row` and applies its stop rules. */
export function emitSampled(state: SchedulerState, seq: Sequence, row: Float32Array): void {
  const output = seq.tokens.slice(seq.promptLength);
  const s = seq.sampler.sample(row, seq.tokens.slice(0, seq.promptLength), output);
  acceptToken(state, seq, s.token, s.logprob, s.top);
}

/**
 * Applies `seq`'s stop rules to its next token `token` and hands it over. A stop or EOS id
 * MUST NOT be appended to the sequence's tokens; any other token MUST be.
 */
export function acceptToken(
  state: SchedulerState,
  seq: Sequence,
  token: number,
  logprob?: number,
  top?: TopLogprob[],
): void {
  const rules = seq.stop;
  const canStop = seq.generated >= rules.minTokens;
  if (canStop && rules.eos.has(token)) {
    seq.push({ kind: "finish", reason: "eos", stopToken: token });
    state.remove(seq);
    return;
  }
  if (canStop && rules.stop.has(token)) {
    seq.push({ kind: "finish", reason: "stop", stopToken: token });
    state.remove(seq);
    return;
  }
  seq.tokens.push(token);
  seq.generated++;
  seq.push({ kind: "token", token, logprob, top });
  const full = seq.tokens.length >= state.capacity;
  if (seq.generated >= rules.maxTokens || full) {
    seq.push({ kind: "finish", reason: "length" });
    state.remove(seq);
  }
}
