/**
 * Greedy sampling on the GPU: `ids[row] = argmax(logits[row, :])`, ties to the lowest index.
 *
 * @example
 * ```ts
 * import { argmaxKernel } from "./argmax.ts";
 * console.assert(argmaxKernel({ vocab: 1000 }).code.includes("best_i"));
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource, positiveInt, powerOfTwo } from "./kernel_source.ts";

/** Template parameters of {@link argmaxKernel}. */
export interface ArgmaxOptions {
  /** Row length. */
  readonly vocab: number;
  /** Invocations per workgroup. Default 128. */
  readonly workgroupSize?: number;
}

/** Bindings: 0 uniform `{rows}`, 1 logits, 2 ids (u32, written). Grid `rowGrid(rows)`. */
export function argmaxKernel(options: ArgmaxOptions): KernelSource {
  const vocab = positiveInt(options.vocab, "vocab");
  const wg = powerOfTwo(options.workgroupSize ?? 128, "workgroupSize");
  const code = `
const V: u32 = ${vocab}u;
const WG: u32 = ${wg}u;
struct Params { rows: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let base = min(row, params.rows - 1u) * V;
  var bv = -3.0e38;
  var bi = 0xffffffffu;
  for (var i = lid; i < V; i += WG) {
    let v = logits[base + i];
    if (v > bv) { bv = v; bi = i; }
  }
  best_v[lid] = bv;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = best_v[lid + s];
      let oi = best_i[lid + s];
      if (ov > best_v[lid] || (ov == best_v[lid] && oi < best_i[lid])) { best_v[lid] = ov; best_i[lid] = oi; }
    }
    workgroupBarrier();
  }
  if (lid == 0u && row < params.rows) { ids[row] = best_i[0]; }
}
`;
  return defineKernel(`argmax.v${vocab}`, { vocab, wg: [wg] }, code);
}
