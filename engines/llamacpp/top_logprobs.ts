/**
 * Logprobs of one sampled position from llama.cpp's distribution: the sampled token's logprob
 * and the top `k` alternatives, ranked.
 *
 * @module
 */
import type { TopLogprob } from "../../src/engine/generate_chunk.ts";

/** Natural log of `p`, clamped so that a probability of 0 gives a finite number. */
export function logOf(p: number): number {
  return Math.log(Math.max(p, Number.MIN_VALUE));
}

/**
 * The top `k` entries (rank 1 = most likely), with the sampled token always present.
 *
 * The result MUST hold at most `k` entries plus the sampled token when it is not among them
 * (ranked by its place in `probabilities`, or after all of them when it is absent). Without
 * `probabilities`, or with `k` 0, it MUST hold only the sampled token at rank 1.
 */
export function topLogprobs(
  token: number,
  confidence: number,
  probabilities: Map<number, number> | undefined,
  k: number,
): TopLogprob[] {
  if (probabilities === undefined || k === 0) {
    return [{ rank: 1, token_id: token, logprob: logOf(confidence) }];
  }
  const sorted = [...probabilities.entries()].sort((a, b) => b[1] - a[1]);
  const out: TopLogprob[] = sorted.slice(0, k).map(([id, p], i) => ({
    rank: i + 1,
    token_id: id,
    logprob: logOf(p),
  }));
  if (!out.some((e) => e.token_id === token)) {
    const rank = sorted.findIndex(([id]) => id === token) + 1;
    out.push({
      rank: rank > 0 ? rank : sorted.length + 1,
      token_id: token,
      logprob: logOf(confidence),
    });
  }
  return out;
}
