/**
 * GEMV over int8-quantised activations with 4-wide integer dot products (llama.cpp's MMVQ):
 * `y[m, n] = Σ_b dw_b · dx_b · Σ_i qw_i · qx_i (+ bias[n])` for Q8_0 and Q4_0 weights, where
 * `x` was quantised per block of 32 by `quantize_rows.ts` (`qx` int8, `(dx, Σqx)` per block).
 * Per 16-byte weight unit the float kernels read 64 (Q8_0) or 128 (Q4_0) bytes of f32 `x` and
 * do 16 or 32 float FMAs plus unpacking; here they read 16 or 32 bytes of int8 `x` plus 8 bytes
 * of block scale and sum, and do 4 or 8 `dot4I8Packed`, one int→f32 conversion and two FMAs.
 *
 * - Q8_0: a unit is half a block (4 words = 16 int8 per row), so adjacent invocations read
 *   adjacent 16 bytes; its x is the matching 4 words of `xq`. The unit's value is
 *   `f32(Σ dot4I8Packed(w_j, x_j)) · dw · dx`.
 * - Q4_0: a unit is a block (4 words of nibbles: word j holds elements 4j..4j+3 in its low
 *   nibbles and 16+4j.. in its high ones, `quant.ts`); `w & 0x0f0f0f0f` and
 *   `(w >> 4) & 0x0f0f0f0f` are four int8 lanes 0..15 each, dotted with x words j and 4 + j.
 *   The −8 offset is applied once per block: `(f32(Σ q·qx) − 8 · Σqx) · dw · dx`.
 *
 * The structure is the `wide` strategy's (`gemv_wide.ts`): row groups of `threadsPerRow`
 * invocations own `rows` rows; invocations stride K in units (coalesced 16-byte weight loads),
 * `unroll` units per step, loading each unit's x once for all rows; `threadsPerRow = 1` makes
 * one invocation own its rows and walk all of K (the `lane` shape, for SIMD-on-CPU devices).
 * Same epilogues, bias and grid (`gemvGrid` with strategy `wide`) as `gemvKernel`.
 *
 * Needs the WGSL language feature `packed_4x8_integer_dot_product` (`DOT4_FEATURE`).
 *
 * Bindings: 0 uniform `{m}`, 1 `xq` `[M, K / 4]` u32 (read as vec4), 2 weights, 3 block
 * scales, 4 y, 5 bias (optional), 6 and 7 the second and third outputs of `split3`, 8 `xd`
 * `[M, K / 32]` vec2<f32>.
 *
 * @example
 * ```ts
 * import { gemvI8Kernel } from "./gemv_i8.ts";
 * const k = gemvI8Kernel({ dtype: "q4_0", n: 64, k: 128, rows: 2, threadsPerRow: 8 });
 * console.assert(k.code.includes("dot4I8Packed"));
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource, positiveInt, powerOfTwo } from "./kernel_source.ts";
import { type MatmulKernelOptions, storeCode } from "./gemv.ts";
import { gemvWideBody } from "./gemv_wide.ts";

/** Template parameters of {@link gemvI8Kernel}. */
export interface GemvI8Options extends MatmulKernelOptions {
  /** Weight format: the int8 path exists for the block-quantised formats only. */
  readonly dtype: "q8_0" | "q4_0";
  /** Invocations per workgroup, a power of two. Default 128. */
  readonly workgroupSize?: number;
  /** Output rows per row group. Default 4. */
  readonly rows?: number;
  /** Invocations per row group, a power of two dividing `workgroupSize`. Default 32. */
  readonly threadsPerRow?: number;
  /** 16-byte weight units per invocation per loop step. Default 1. */
  readonly unroll?: number;
}

/** Values of one 16-byte weight unit: a Q4_0 block, or half a Q8_0 block. */
export function gemvI8UnitValues(dtype: "q8_0" | "q4_0"): number {
  return dtype === "q4_0" ? 32 : 16;
}

/**
 * The unit code the `wide` body expects (`gemv_wide.ts`): `CHUNKS`, the bindings, `XC` and
 * `load_x(u, m)`, `WC` and `load_w(row, u)` (the unit's words and its block's weight scale), and
 * `dot_wx(wc, xc)` (the scaled integer dot; the body applies no scale of its own).
 */
function unitCode(dtype: "q8_0" | "q4_0", k: number): string {
  const values = gemvI8UnitValues(dtype);
  const blocks = k / 32;
  const common = `const CHUNKS: u32 = ${k / values}u;
const KB: u32 = ${blocks}u;
@group(0) @binding(1) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<u32>;
@group(0) @binding(8) var<storage, read> xd: array<vec2<f32>>;
// the f16 scale of block b (row-major block index), two per word
fn weight_scale(b: u32) -> f32 { return unpack2x16float(ws[b >> 1u])[b & 1u]; }`;
  if (dtype === "q8_0") {
    return `${common}
// unit u of token m: 16 int8 of x (4 words) and its block's (d, Σq)
struct XC { q: vec4<u32>, d: vec2<f32> }
fn load_x(u: u32, m: u32) -> XC { return XC(xq[m * CHUNKS + u], xd[m * KB + (u >> 1u)]); }
struct WC { q: vec4<u32>, s: f32 }
fn load_w(row: u32, u: u32) -> WC {
  return WC(w[row * CHUNKS + u], weight_scale(row * KB + (u >> 1u)));
}
fn dot_wx(wc: WC, xc: XC) -> f32 {
  let q = wc.q;
  let s = dot4I8Packed(q.x, xc.q.x) + dot4I8Packed(q.y, xc.q.y) +
    dot4I8Packed(q.z, xc.q.z) + dot4I8Packed(q.w, xc.q.w);
  return f32(s) * (wc.s * xc.d.x);
}`;
  }
  const dots = [..."xyzw"].map((c) =>
    `dot4I8Packed(lo.${c}, xc.a.${c}) + dot4I8Packed(hi.${c}, xc.b.${c})`
  );
  return `${common}
const LOW4 = vec4<u32>(0x0f0f0f0fu);
// unit u (= block u) of token m: 32 int8 of x (elements 0..15 in a, 16..31 in b) and (d, Σq)
struct XC { a: vec4<u32>, b: vec4<u32>, d: vec2<f32> }
fn load_x(u: u32, m: u32) -> XC {
  let i = m * CHUNKS + u;
  return XC(xq[i * 2u], xq[i * 2u + 1u], xd[i]);
}
struct WC { q: vec4<u32>, s: f32 }
fn load_w(row: u32, u: u32) -> WC { return WC(w[row * CHUNKS + u], weight_scale(row * KB + u)); }
fn dot_wx(wc: WC, xc: XC) -> f32 {
  let lo = wc.q & LOW4;
  let hi = (wc.q >> vec4<u32>(4u)) & LOW4;
  let s = ${dots.join(" +\n    ")};
  return (f32(s) - 8.0 * xc.d.y) * (wc.s * xc.d.x);
}`;
}

/**
 * The int8-activation GEMV (see the module comment). Dispatch with `gemvGrid` given strategy
 * `wide` and the same `workgroupSize`, `rows` and `threadsPerRow`, after the quantise kernel
 * of `quantize_rows.ts` filled bindings 1 and 8 from x.
 */
export function gemvI8Kernel(options: GemvI8Options): KernelSource {
  const { dtype } = options;
  if (dtype !== "q8_0" && dtype !== "q4_0") {
    throw new RangeError(`Cannot generate gemv_i8: dtype ${dtype} is not q8_0 or q4_0`);
  }
  const n = positiveInt(options.n, "n");
  const k = positiveInt(options.k, "k");
  if (k % 32) throw new RangeError(`Cannot generate gemv_i8: k = ${k} is not a multiple of 32`);
  const wg = powerOfTwo(options.workgroupSize ?? 128, "workgroupSize");
  const rows = positiveInt(options.rows ?? 4, "rows");
  const tpr = powerOfTwo(options.threadsPerRow ?? 32, "threadsPerRow");
  const unroll = positiveInt(options.unroll ?? 1, "unroll");
  if (tpr > wg) {
    throw new RangeError(`Cannot generate gemv_i8: threadsPerRow ${tpr} > workgroupSize ${wg}`);
  }
  const epilogue = options.epilogue ?? { kind: "store" };
  if (epilogue.kind === "split3" && epilogue.sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new RangeError(`Cannot generate gemv_i8: split3 sizes do not sum to n = ${n}`);
  }
  const paired = epilogue.kind === "gate_up_silu";
  const bias = options.bias ?? false;
  const header = `const N: u32 = ${n}u;
const K: u32 = ${k}u;
const WG: u32 = ${wg}u;
const ROWS: u32 = ${rows}u;
const ACC: u32 = ${paired ? 2 * rows : rows}u;
const TOKENS: u32 = 1u;
struct Params { m: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
${unitCode(dtype, k)}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${
    epilogue.kind === "split3"
      ? `@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;`
      : ""
  }
fn store(m: u32, row: u32, value: f32) {
  ${storeCode(epilogue, bias)}
}
`;
  const body = gemvWideBody({
    wg,
    tpr,
    rows,
    unroll,
    chunks: k / gemvI8UnitValues(dtype),
    paired,
    tokens: 1, // int8 candidates are never token-batched (`gemvBatchable`)
    g: 1,
    scaled: false,
  });
  return defineKernel(`gemv_i8.${dtype}.n${n}.k${k}.${epilogue.kind}`, {
    dtype,
    n,
    k,
    rows,
    bias,
    epilogue: epilogue.kind,
    tpr,
    unroll,
    wg: [wg],
  }, header + body);
}
