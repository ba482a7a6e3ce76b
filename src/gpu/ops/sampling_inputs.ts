/**
 * The device-side inputs of the `sample` backend op: per-row sampling parameters packed as
 * u32 words (the layout the GPU sampler reads) and a state tensor whose first word is the step
 * of the random stream. Both live on the device so a recorded decode plan can advance the step
 * on the GPU and feed the sampled ids back without a readback.
 *
 * @example
 * ```ts
 * import { packSamplingParams, unpackSamplingParams } from "./sampling_inputs.ts";
 * const words = packSamplingParams([{ temperature: 0.5, topK: 40, topP: 0.9, seed: 7 }]);
 * console.assert(unpackSamplingParams(words, 0).topK === 40);
 * ```
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";
import type { SamplingParams } from "../reference/sampling.ts";
import { SAMPLE_PARAM_WORDS } from "../kernels/sample.ts";

/** What `Backend.sample` reads besides the logits. */
export interface SamplingInputs {
  /** u32 `[rows, 4]` from {@link packSamplingParams}. */
  readonly params: Tensor;
  /** u32 `[≥1]`; word 0 is the step mixed into every row's draw (advanced by the caller). */
  readonly state: Tensor;
}

/**
 * Packs one {@link SamplingParams} per row: temperature (f32 bits), topK, topP (f32 bits),
 * seed. Temperature and topP are rounded to f32, as every backend reads them.
 */
export function packSamplingParams(params: readonly SamplingParams[]): Uint32Array {
  const words = new Uint32Array(params.length * SAMPLE_PARAM_WORDS);
  const floats = new Float32Array(words.buffer);
  params.forEach((p, r) => {
    if (!(p.topP > 0 && p.topP <= 1) || !(p.temperature >= 0)) {
      throw new RangeError(
        `Cannot pack sampling params of row ${r}: need temperature ≥ 0 and topP in (0, 1]`,
      );
    }
    if (!Number.isInteger(p.topK) || p.topK < 0) {
      throw new RangeError(`Cannot pack sampling params of row ${r}: topK ${p.topK} < 0`);
    }
    floats[r * SAMPLE_PARAM_WORDS] = p.temperature;
    words[r * SAMPLE_PARAM_WORDS + 1] = p.topK;
    floats[r * SAMPLE_PARAM_WORDS + 2] = p.topP;
    words[r * SAMPLE_PARAM_WORDS + 3] = p.seed >>> 0;
  });
  return words;
}

/** Reads row `row` of packed params back (f32-rounded values). */
export function unpackSamplingParams(words: Uint32Array, row: number): SamplingParams {
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  const at = row * SAMPLE_PARAM_WORDS;
  return {
    temperature: floats[at],
    topK: words[at + 1],
    topP: floats[at + 2],
    seed: words[at + 3],
  };
}

/**
 * Checks the tensors of a `sample` op and returns its row count: `out` u32 `[rows]`,
 * `logits[rows, V]`, params u32 with `4·rows` words, state u32. Throws `RangeError`.
 */
export function samplingRows(out: Tensor, logits: Tensor, sampling: SamplingInputs): number {
  const rows = logits.shape.length > 1 ? logits.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const count = (t: Tensor) => t.shape.reduce((a, b) => a * b, 1);
  const problems = [
    out.kind !== "u32" || count(out) !== rows ? `out is not u32 [${rows}]` : "",
    sampling.params.kind !== "u32" || count(sampling.params) !== rows * SAMPLE_PARAM_WORDS
      ? `params is not u32 [${rows}, ${SAMPLE_PARAM_WORDS}]`
      : "",
    sampling.state.kind !== "u32" ? "state is not u32" : "",
  ].filter(Boolean);
  if (problems.length) throw new RangeError(`Cannot sample: ${problems.join("; ")}`);
  return rows;
}
