/**
 * Element-wise kernels: residual add `out = a + b` and the SiLU-gated product
 * `out = silu(gate) · up` of the Llama MLP (its unfused form).
 *
 * @example
 * ```ts
 * import { elementwiseKernel } from "./elementwise.ts";
 * console.assert(elementwiseKernel("silu_mul").code.includes("exp(-g)"));
 * ```
 *
 * @module
 */
import { defineKernel, grid2d, type KernelSource } from "./kernel_source.ts";

/** The element-wise operations. */
export type ElementwiseOp = "add" | "silu_mul" | "silu_mul_halves";

/** Invocations per element-wise workgroup. */
export const ELEMENTWISE_WORKGROUP = 64;

/**
 * Bindings: 0 uniform `{n, half}`, 1 a (or gate), 2 b (or up), 3 out; `out` MUST NOT alias an
 * input. `silu_mul_halves` reads gate and up from the two halves of each `2·half`-long row of
 * `a` (the unfused form of the gate+up matmul) and ignores `b`'s contents.
 */
export function elementwiseKernel(op: ElementwiseOp): KernelSource {
  const expr = op === "add"
    ? "a[i] + b[i]"
    : op === "silu_mul"
    ? "g / (1.0 + exp(-g)) * b[i]"
    : "g / (1.0 + exp(-g)) * a[(i / params.half) * 2u * params.half + params.half + i % params.half] + 0.0 * b[0]";
  const code = `
struct Params { n: u32, half: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${ELEMENTWISE_WORKGROUP}u + lid;
  if (i >= params.n) { return; }
  ${
    op === "silu_mul"
      ? "let g = a[i];"
      : op === "silu_mul_halves"
      ? "let g = a[(i / params.half) * 2u * params.half + i % params.half];"
      : ""
  }
  out[i] = ${expr};
}
`;
  return defineKernel(`elementwise.${op}`, { op, wg: [ELEMENTWISE_WORKGROUP] }, code);
}

/** Grid covering `n` elements. */
export function elementwiseGrid(n: number): [number, number, number] {
  const [x, y] = grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP));
  return [x, y, 1];
}
