/**
 * RMSNorm, `y = x / sqrt(mean(x²) + eps) · weight`, one workgroup per row; and the fused
 * residual variant `residual += x; y = rmsnorm(residual) · weight` that saves a pass over the
 * hidden state between transformer sub-blocks.
 *
 * @example
 * ```ts
 * import { rmsnormKernel } from "./rmsnorm.ts";
 * console.assert(rmsnormKernel({ dim: 96, eps: 1e-5, fusedResidual: true }).code.includes("residual"));
 * ```
 *
 * @module
 */
import {
  defineKernel,
  grid2d,
  type KernelSource,
  positiveInt,
  powerOfTwo,
  treeReduce,
} from "./kernel_source.ts";

/** Template parameters of {@link rmsnormKernel}. */
export interface RmsnormOptions {
  /** Row length (hidden size). */
  readonly dim: number;
  /** Epsilon added to the mean square. */
  readonly eps: number;
  /** Generate the fused `residual += x` variant (binding 4 is the residual, read-write). */
  readonly fusedResidual?: boolean;
  /** Invocations per workgroup (power of two). Default 64. */
  readonly workgroupSize?: number;
}

/** Bindings: 0 uniform `{rows}`, 1 x, 2 weight (f32), 3 y, 4 residual (fused only). */
export function rmsnormKernel(options: RmsnormOptions): KernelSource {
  const dim = positiveInt(options.dim, "dim");
  const wg = powerOfTwo(options.workgroupSize ?? 64, "workgroupSize");
  const fused = options.fusedResidual ?? false;
  const code = `
const D: u32 = ${dim}u;
const WG: u32 = ${wg}u;
const EPS: f32 = ${f32Literal(options.eps)};
struct Params { rows: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${fused ? "@group(0) @binding(4) var<storage, read_write> residual: array<f32>;" : ""}
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let in_range = row < params.rows;
  let base = min(row, params.rows - 1u) * D;
  var ss = 0.0;
  for (var i = lid; i < D; i += WG) {
    ${
    fused
      ? "let h = residual[base + i] + x[base + i];\n    if (in_range) { residual[base + i] = h; }"
      : "let h = x[base + i];"
  }
    ss += h * h;
  }
  red[lid] = ss;
  ${treeReduce(wg, "sum")}
  let inv = inverseSqrt(red[0] / f32(D) + EPS);
  for (var i = lid; i < D; i += WG) {
    ${
    fused
      ? "let h = residual[base + i] + select(x[base + i], 0.0, in_range);"
      : "let h = x[base + i];"
  }
    if (in_range) { y[base + i] = h * inv * weight[i]; }
  }
}
`;
  return defineKernel(`rmsnorm.d${dim}${fused ? ".residual" : ""}`, {
    dim,
    eps: options.eps,
    fused,
    wg: [wg],
  }, code);
}

/** Grid for a one-workgroup-per-row kernel. */
export function rowGrid(rows: number): [number, number, number] {
  const [x, y] = grid2d(rows);
  return [x, y, 1];
}

/** Formats a number as a WGSL f32 literal. */
export function f32Literal(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`Cannot emit WGSL literal for ${value}`);
  const s = value.toExponential(9);
  return `${s}f`;
}
