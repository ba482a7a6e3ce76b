/**
 * Element-wise kernels: residual add `out = a + b` and the SiLU-gated product
 * `out = silu(gate) · up` of the Llama MLP (its unfused form).
 *
 * @example
 * ```ts
 * import { elementwiseKernel } from "./elementwise.ts";
 * console.assert(elementwiseKernel("silu_mul").code.includes("exp(-g)"));
 * ```
 */
import { defineKernel, grid2d, type KernelSource } from "./kernel_source.ts";

/** The element-wise operations. */
export type ElementwiseOp = "add" | "silu_mul";

/** Invocations per element-wise workgroup. */
export const ELEMENTWISE_WORKGROUP = 64;

/** Bindings: 0 uniform `{n}`, 1 a (or gate), 2 b (or up), 3 out. `out` may not alias inputs. */
export function elementwiseKernel(op: ElementwiseOp): KernelSource {
  const expr = op === "add" ? "a[i] + b[i]" : "g / (1.0 + exp(-g)) * b[i]";
  const code = `
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${ELEMENTWISE_WORKGROUP}u + lid;
  if (i >= params.n) { return; }
  ${op === "silu_mul" ? "let g = a[i];" : ""}
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
