/**
 * CPU references for sampling: argmax, and top-k / top-p sampling with the exact rule and
 * random draw of the GPU sampler (PCG hash of seed, step and row), so both pick the same id.
 *
 * @example
 * ```ts
 * import { argmaxRef } from "./sampling.ts";
 * console.assert(argmaxRef(new Float32Array([1, 3, 3, 2]), 4)[0] === 1);
 * ```
 *
 * @module
 */

/** Per-row argmax, ties to the lowest index. */
export function argmaxRef(logits: Float32Array, vocab: number): Uint32Array {
  const out = new Uint32Array(logits.length / vocab);
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[r * vocab + i] > logits[r * vocab + best]) best = i;
    out[r] = best;
  }
  return out;
}

/** The 32-bit PCG hash used for sampling draws (identical to the WGSL `pcg`). */
export function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** Sampling parameters of one row. */
export interface SamplingParams {
  /** Temperature; 0 means greedy. */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 means the sampler's cap. */
  readonly topK: number;
  /** Nucleus mass in (0, 1]. */
  readonly topP: number;
  /** Seed of the per-row random stream. */
  readonly seed: number;
}

/** The uniform draw in [0, 1) for (seed, step, row). */
export function samplingUniform(seed: number, step: number, row: number): number {
  return (pcgHash((seed ^ pcgHash((step ^ pcgHash(row)) >>> 0)) >>> 0) >>> 8) / 16777216;
}

/** Samples one row of logits with the GPU sampler's rule; `maxK` is its candidate cap. */
export function sampleRowRef(
  logits: Float32Array,
  params: SamplingParams,
  draw: { step: number; row: number },
  maxK: number,
): number {
  let k = params.topK === 0 ? maxK : params.topK;
  k = Math.min(k, maxK, logits.length);
  if (params.temperature <= 0) k = 1;
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, k);
  const invT = params.temperature > 0 ? 1 / params.temperature : 1;
  const weights = order.map((i) => Math.exp((logits[i] - logits[order[0]]) * invT));
  const total = weights.reduce((a, b) => a + b, 0);
  let keep = order.length, cum = 0;
  for (let i = 0; i < order.length; i++) {
    cum += weights[i];
    if (cum >= params.topP * total) {
      keep = i + 1;
      break;
    }
  }
  const r = samplingUniform(params.seed, draw.step, draw.row) * cum;
  let acc = 0;
  for (let i = 0; i < keep; i++) {
    acc += weights[i];
    if (acc > r) return order[i];
  }
  return order[keep - 1];
}
