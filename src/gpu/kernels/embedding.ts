/**
 * Embedding gather `out[t, :] = table[ids[t], :]` from an f32, f16, Q8_0 or Q4_0 table.
 * Token ids come from a GPU buffer, so a decode plan can feed the sampled id straight back.
 *
 * @example
 * ```ts
 * import { embeddingKernel } from "./embedding.ts";
 * console.assert(embeddingKernel({ dtype: "q8_0", dim: 64 }).code.includes("load_w"));
 * ```
 *
 * @module
 */
import {
  defineKernel,
  type KernelSource,
  positiveInt,
  weightBindings,
  type WeightDType,
} from "./kernel_source.ts";

/** Invocations per embedding workgroup. */
export const EMBEDDING_WORKGROUP = 64;

/** Template parameters of {@link embeddingKernel}. */
export interface EmbeddingOptions {
  /** Table storage type. */
  readonly dtype: WeightDType;
  /** Row length (hidden size); a multiple of 32 for quantised tables. */
  readonly dim: number;
}

/** Bindings: 0 uniform `{tokens}`, 1 ids (u32), 2 table, 3 scales (quantised), 4 out. */
export function embeddingKernel(options: EmbeddingOptions): KernelSource {
  const dim = positiveInt(options.dim, "dim");
  const code = `
const D: u32 = ${dim}u;
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
${weightBindings(options.dtype, 2, 3)}
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${EMBEDDING_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d = wid.x * ${EMBEDDING_WORKGROUP}u + lid;
  let t = wid.y;
  if (d >= D || t >= params.tokens) { return; }
  out[t * D + d] = load_w(ids[t] * D + d);
}
`;
  return defineKernel(`embedding.${options.dtype}.d${dim}`, {
    dtype: options.dtype,
    dim,
    wg: [EMBEDDING_WORKGROUP],
  }, code);
}

/** Grid for {@link embeddingKernel}. */
export function embeddingGrid(dim: number, tokens: number): [number, number, number] {
  return [Math.ceil(dim / EMBEDDING_WORKGROUP), tokens, 1];
}
