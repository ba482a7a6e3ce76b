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
  /**
   * `true` when `sample` is exactly the argmax of the raw logits (lowest index on a tie) and
   * reports nothing else: temperature 0, no penalties, no logprobs. Only then MAY the engine
   * sample on the device instead (multi-step decode).
   */
  readonly greedy: boolean;
}

/** Creates a sampler; an absent seed draws one at random. */
export function createSampler(settings: SamplerSettings): TokenSampler {
  const next = mulberry32(settings.seed ?? Math.floor(Math.random() * 2 ** 32));
  const temperature = settings.temperature ?? 1;
  const rep = settings.repetitionPenalty ?? 1;
  const freq = settings.frequencyPenalty ?? 0, pres = settings.presencePenalty ?? 0;
  return {
    greedy: temperature <= 0 && rep === 1 && freq === 0 && pres === 0 &&
      settings.logprobs === undefined,
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

/** Indices of the `k` largest values, largest first (ties to the lower index); O(V·log k). */
export function topIndices(x: Float32Array, k: number): number[] {
  if (k >= x.length) return [...x.keys()].sort((a, b) => x[b] - x[a] || a - b);
  const top: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (top.length === k && !(x[i] > x[top[k - 1]])) continue;
    let lo = 0, hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x[top[mid]] >= x[i]) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, i);
    if (top.length > k) top.pop();
  }
  return top;
}

/** Temperature, top-k, top-p and min-p, then an inverse-CDF draw with `u` in [0, 1). */
function draw(x: Float32Array, temperature: number, s: SamplerSettings, u: number): number {
  const topK = s.topK === undefined || s.topK <= 0 ? x.length : Math.min(s.topK, x.length);
  const topP = s.topP ?? 1, minP = s.minP ?? 0;
  // Without top-k or top-p no order is needed: draw over the whole vocabulary in index order.
  let order: number[] | undefined = topK < x.length || topP < 1 ? topIndices(x, topK) : undefined;
  const ids = order ?? [...x.keys()];
  let max = -Infinity;
  for (const i of ids) if (x[i] > max) max = x[i];
  let weights = ids.map((i) => Math.exp((x[i] - max) / temperature));
  if (order && topP < 1) {
    const total = weights.reduce((a, b) => a + b, 0);
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
  let kept = order ?? ids;
  if (minP > 0) {
    // The most likely token has weight 1 (its logit is the max); drop those below min_p.
    const pairs = kept.map((id, i) => [id, weights[i]] as const).filter(([, w]) => w >= minP);
    kept = pairs.map(([id]) => id);
    weights = pairs.map(([, w]) => w);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  const r = u * total;
  for (let i = 0; i < kept.length; i++) {
    acc += weights[i];
    if (acc > r) return kept[i];
  }
  return kept[kept.length - 1];
}

/** Log-softmax entries: the sampled token's logprob and the top `k` (sampled one added). */
function logprobsOf(logits: Float32Array, token: number, k: number) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const lp = (i: number) => logits[i] - lse;
  const top: TopLogprob[] = topIndices(logits, k).map((id, r) => ({
    rank: r + 1,
    token_id: id,
    logprob: lp(id),
  }));
  if (!top.some((e) => e.token_id === token)) {
    let rank = 1;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i] > logits[token] || (logits[i] === logits[token] && i < token)) rank++;
    }
    top.push({ rank, token_id: token, logprob: lp(token) });
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
