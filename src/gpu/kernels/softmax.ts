/**
 * Row-wise numerically stable softmax, one workgroup per row.
 *
 * @example
 * ```ts
 * import { softmaxKernel } from "./softmax.ts";
 * console.assert(softmaxKernel({ cols: 10 }).code.includes("exp("));
 * ```
 *
 * @module
 */
import {
  defineKernel,
  type KernelSource,
  positiveInt,
  powerOfTwo,
  treeReduce,
} from "./kernel_source.ts";

/** Template parameters of {@link softmaxKernel}. */
export interface SoftmaxOptions {
  /** Row length. */
  readonly cols: number;
  /** Invocations per workgroup. Default 64. */
  readonly workgroupSize?: number;
}

/** Bindings: 0 uniform `{rows}`, 1 x, 2 y. Dispatch with `rowGrid(rows)`. */
export function softmaxKernel(options: SoftmaxOptions): KernelSource {
  const cols = positiveInt(options.cols, "cols");
  const wg = powerOfTwo(options.workgroupSize ?? 64, "workgroupSize");
  const code = `
const C: u32 = ${cols}u;
const WG: u32 = ${wg}u;
struct Params { rows: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let in_range = row < params.rows;
  let base = min(row, params.rows - 1u) * C;
  var mx = -3.0e38;
  for (var i = lid; i < C; i += WG) { mx = max(mx, x[base + i]); }
  red[lid] = mx;
  ${treeReduce(wg, "max")}
  let m = red[0];
  workgroupBarrier();
  var s = 0.0;
  for (var i = lid; i < C; i += WG) { s += exp(x[base + i] - m); }
  red[lid] = s;
  ${treeReduce(wg, "sum")}
  let inv = 1.0 / red[0];
  for (var i = lid; i < C; i += WG) {
    if (in_range) { y[base + i] = exp(x[base + i] - m) * inv; }
  }
}
`;
  return defineKernel(`softmax.c${cols}`, { cols, wg: [wg] }, code);
}
