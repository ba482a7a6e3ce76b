/**
 * Host-side sampling of one row of logits, in vLLM's order: repetition penalty (prompt and
 * output tokens), frequency and presence penalties (output tokens), then temperature
 * (0 = greedy), top-k, top-p, min-p, and a draw from the sequence's seeded stream. Logprobs
 * are those of the model's raw distribution (log-softmax of the unprocessed logits), as
 * vLLM reports by default; the sampled token is always among the reported entries.
 *
 * @example
 * ```ts
 * import { createSampler } from "./token_sampler.ts";
 * const s = createSampler({ temperature: 0 });
 * console.assert(s.sample(new Float32Array([0, 2, 1]), [], []).token === 1);
 * ```
 */
import type { TopLogprob } from "../../src/engine/generate_chunk.ts";

/** Sampling settings of one request (validated by the request schema). */
export interface SamplerSettings {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  readonly seed?: number;
  readonly repetitionPenalty?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Top entries to report per token (undefined = no logprobs). */
  readonly logprobs?: number;
}

/** What one draw produced. */
export interface SampledToken {
  readonly token: number;
  /** Log-probability of `token` under the raw distribution (when logprobs were asked). */
  readonly logprob?: number;
  /** The top entries, rank 1 first, the sampled token included. */
  readonly top?: TopLogprob[];
}

/** A per-sequence sampler (owns the seeded random stream). */
export interface TokenSampler {
  /**
   * Picks the next token from `logits[vocab]`; `prompt` and `output` are the sequence's
   * tokens so far (for the penalties). Does not modify `logits`.
   */
  sample(logits: Float32Array, prompt: readonly number[], output: readonly number[]): SampledToken;
}

/** Creates a sampler; an absent seed draws one at random. */
export function createSampler(settings: SamplerSettings): TokenSampler {
  const next = mulberry32(settings.seed ?? Math.floor(Math.random() * 2 ** 32));
  const temperature = settings.temperature ?? 1;
  const rep = settings.repetitionPenalty ?? 1;
  const freq = settings.frequencyPenalty ?? 0, pres = settings.presencePenalty ?? 0;
  return {
    sample(logits, prompt, output) {
      const x = logits.slice();
      if (rep !== 1) {
        for (const t of new Set([...prompt, ...output])) x[t] = x[t] > 0 ? x[t] / rep : x[t] * rep;
      }
      if (freq !== 0 || pres !== 0) {
        const counts = new Map<number, number>();
        for (const t of output) counts.set(t, (counts.get(t) ?? 0) + 1);
        for (const [t, n] of counts) x[t] -= freq * n + pres;
      }
      const token = temperature <= 0 ? argmax(x) : draw(x, temperature, settings, next());
      if (settings.logprobs === undefined) return { token };
      return { token, ...logprobsOf(logits, token, settings.logprobs) };
    },
  };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Temperature, top-k, top-p and min-p, then an inverse-CDF draw with `u` in [0, 1). */
function draw(x: Float32Array, temperature: number, s: SamplerSettings, u: number): number {
  const topK = s.topK === undefined || s.topK < 0 || s.topK === 0 ? x.length : s.topK;
  let order = [...x.keys()].sort((a, b) => x[b] - x[a] || a - b);
  if (topK < order.length) order = order.slice(0, topK);
  const max = x[order[0]];
  let weights = order.map((i) => Math.exp((x[i] - max) / temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  const topP = s.topP ?? 1;
  if (topP < 1) {
    let cum = 0, keep = order.length;
    for (let i = 0; i < order.length; i++) {
      cum += weights[i] / total;
      if (cum >= topP) {
        keep = i + 1;
        break;
      }
    }
    order = order.slice(0, keep);
    weights = weights.slice(0, keep);
  }
  const minP = s.minP ?? 0;
  if (minP > 0) {
    // weights[0] is the most likely token's weight; drop those below min_p of it.
    const floor = minP * weights[0];
    const keep = weights.findIndex((w) => w < floor);
    if (keep > 0) {
      order = order.slice(0, keep);
      weights = weights.slice(0, keep);
    }
  }
  total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  const r = u * total;
  for (let i = 0; i < order.length; i++) {
    acc += weights[i];
    if (acc > r) return order[i];
  }
  return order[order.length - 1];
}

/** Log-softmax entries: the sampled token's logprob and the top `k` (sampled one added). */
function logprobsOf(logits: Float32Array, token: number, k: number) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const lp = (i: number) => logits[i] - lse;
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  const top: TopLogprob[] = order.slice(0, k).map((id, r) => ({
    rank: r + 1,
    token_id: id,
    logprob: lp(id),
  }));
  if (!top.some((e) => e.token_id === token)) {
    top.push({ rank: order.indexOf(token) + 1, token_id: token, logprob: lp(token) });
  }
  return { logprob: lp(token), top };
}

/** A 32-bit seeded uniform stream in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
