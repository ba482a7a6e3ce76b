/**
 * GEMV for decode: `y[m, n] = Σ_k W[n, k] · x[m, k] (+ bias[n])` with weights row-major
 * `[N, K]` (out × in, as in GGUF and HF checkpoints), one workgroup per `rows` output rows and
 * one grid layer per token `m`. Weights may be f32, f16 (u32 pairs), Q8_0 or Q4_0 (repacked
 * words + packed f16 scales). Each invocation walks K in chunks (4 values for f32/f16 when
 * K % 4 == 0, one 32-value block for quantised types), then the workgroup reduces.
 *
 * Epilogues make the fused variants: `split3` writes rows to three outputs (fused QKV from
 * concatenated weights), `gate_up_silu` reads rows n and N + n of a `[2N, K]` weight and writes
 * `silu(gate) · up` (fused gate+up MLP).
 *
 * @example
 * ```ts
 * import { gemvKernel } from "./gemv.ts";
 * const k = gemvKernel({ dtype: "q4_0", n: 64, k: 128 });
 * console.assert(k.code.includes("fn dot_chunk"));
 * ```
 */
import {
  defineKernel,
  grid2d,
  type KernelSource,
  positiveInt,
  powerOfTwo,
  type WeightDType,
} from "./kernel_source.ts";

/** How a matmul kernel stores its results. */
export type MatmulEpilogue =
  | { readonly kind: "store" }
  | { readonly kind: "split3"; readonly sizes: readonly [number, number, number] }
  | { readonly kind: "gate_up_silu" };

/** Template parameters of {@link gemvKernel}. */
export interface GemvOptions {
  /** Weight storage type. */
  readonly dtype: WeightDType;
  /** Output rows (for `gate_up_silu`: outputs, the weight has 2N rows). */
  readonly n: number;
  /** Inner dimension; a multiple of 32 for quantised weights. */
  readonly k: number;
  /** Invocations per workgroup, a power of two (tunable). Default 64. */
  readonly workgroupSize?: number;
  /** Output rows per workgroup (tunable). Default 1. */
  readonly rows?: number;
  /** Adds a bias vector (binding 5). */
  readonly bias?: boolean;
  /** Result store; default `store`. */
  readonly epilogue?: MatmulEpilogue;
}

/**
 * Bindings: 0 uniform `{m}`, 1 x `[M, K]` f32, 2 weights, 3 block scales (quantised only),
 * 4 y (first output), 5 bias (optional), 6 and 7 the second and third outputs of `split3`.
 * Dispatch with {@link gemvGrid}.
 */
export function gemvKernel(options: GemvOptions): KernelSource {
  const { dtype } = options;
  const n = positiveInt(options.n, "n");
  const k = positiveInt(options.k, "k");
  const wg = powerOfTwo(options.workgroupSize ?? 64, "workgroupSize");
  const rows = positiveInt(options.rows ?? 1, "rows");
  const epilogue = options.epilogue ?? { kind: "store" };
  if ((dtype === "q8_0" || dtype === "q4_0") && k % 32) {
    throw new RangeError(`Cannot generate gemv: k = ${k} is not a multiple of 32 for ${dtype}`);
  }
  if (epilogue.kind === "split3" && epilogue.sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new RangeError(`Cannot generate gemv: split3 sizes do not sum to n = ${n}`);
  }
  const paired = epilogue.kind === "gate_up_silu";
  const acc = paired ? rows * 2 : rows;
  const vec = k % 4 === 0;
  const code = `
const N: u32 = ${n}u;
const K: u32 = ${k}u;
const WG: u32 = ${wg}u;
const ROWS: u32 = ${rows}u;
const ACC: u32 = ${acc}u;
struct Params { m: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
${chunkCode(dtype, k, vec)}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${options.bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${
    epilogue.kind === "split3"
      ? `@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;`
      : ""
  }
var<workgroup> red: array<f32, ${wg * acc}>;

fn store(m: u32, row: u32, value: f32) {
  ${storeCode(epilogue, options.bias ?? false)}
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m = wid.z;
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  var acc: array<f32, ${acc}>;
  for (var c = lid; c < CHUNKS; c += WG) {
    for (var r = 0u; r < ROWS; r++) {
      let row = min(row0 + r, N - 1u);
      acc[r] += dot_chunk(row, c, m);${
    paired ? "\n      acc[ROWS + r] += dot_chunk(row + N, c, m);" : ""
  }
    }
  }
  for (var a = 0u; a < ACC; a++) { red[a * WG + lid] = acc[a]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var a = 0u; a < ACC; a++) { red[a * WG + lid] += red[a * WG + lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u && m < params.m) {
    for (var r = 0u; r < ROWS; r++) {
      if (row0 + r < N) {
        ${
    paired
      ? "let g = red[r * WG];\n        let u = red[(ROWS + r) * WG];\n        store(m, row0 + r, g / (1.0 + exp(-g)) * u);"
      : "store(m, row0 + r, red[r * WG]);"
  }
      }
    }
  }
}
`;
  return defineKernel(`gemv.${dtype}.n${n}.k${k}.${epilogue.kind}`, {
    dtype,
    n,
    k,
    rows,
    bias: options.bias ?? false,
    epilogue: epilogue.kind,
    wg: [wg],
  }, code);
}

/** Workgroup grid for {@link gemvKernel}: row groups folded over x/y, tokens on z. */
export function gemvGrid(
  options: { n: number; rows?: number; m: number },
): [number, number, number] {
  const [x, y] = grid2d(Math.ceil(options.n / (options.rows ?? 1)));
  return [x, y, options.m];
}

function chunkCode(dtype: WeightDType, k: number, vec: boolean): string {
  if (dtype === "q8_0" || dtype === "q4_0") {
    const words = dtype === "q8_0" ? 8 : 4;
    const body = dtype === "q8_0"
      ? `for (var j = 0u; j < 8u; j++) {
    let q = bitcast<i32>(w[b * 8u + j]);
    let wv = vec4<f32>(f32(extractBits(q, 0u, 8u)), f32(extractBits(q, 8u, 8u)),
                       f32(extractBits(q, 16u, 8u)), f32(extractBits(q, 24u, 8u)));
    s += dot(wv, x[xb + j]);
  }`
      : `for (var j = 0u; j < 4u; j++) {
    let q = w[b * 4u + j];
    let lo = vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u)) - 8.0;
    let hi = vec4<f32>(f32((q >> 4u) & 15u), f32((q >> 12u) & 15u), f32((q >> 20u) & 15u), f32(q >> 28u)) - 8.0;
    s += dot(lo, x[xb + j]) + dot(hi, x[xb + 4u + j]);
  }`;
    return `const CHUNKS: u32 = ${k / 32}u;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> ws: array<u32>;
// one chunk = one ${words}-word block of 32 values
fn dot_chunk(row: u32, c: u32, m: u32) -> f32 {
  let b = row * CHUNKS + c;
  let xb = m * ${k / 4}u + c * 8u;
  var s = 0.0;
  ${body}
  return s * unpack2x16float(ws[b >> 1u])[b & 1u];
}`;
  }
  if (vec) {
    const load = dtype === "f32" ? "w[row * CHUNKS + c]" : "unpack_f16x4(w[row * CHUNKS + c])";
    return `const CHUNKS: u32 = ${k / 4}u;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "vec4<f32>" : "vec2<u32>"}>;
fn unpack_f16x4(v: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }
fn dot_chunk(row: u32, c: u32, m: u32) -> f32 { return dot(${load}, x[m * CHUNKS + c]); }`;
  }
  const load = dtype === "f32" ? "w[i]" : "unpack2x16float(w[i >> 1u])[i & 1u]";
  return `const CHUNKS: u32 = K;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "f32" : "u32"}>;
fn dot_chunk(row: u32, c: u32, m: u32) -> f32 { let i = row * K + c; return ${load} * x[m * K + c]; }`;
}

/** WGSL body of `store(m, row, value)` for an epilogue; shared with the GEMM template. */
export function storeCode(epilogue: MatmulEpilogue, bias: boolean): string {
  const v = bias ? "value + bias[row]" : "value";
  if (epilogue.kind !== "split3") return `y[m * N + row] = ${v};`;
  const [a, b, c] = epilogue.sizes;
  return `let v = ${v};
  if (row < ${a}u) { y[m * ${a}u + row] = v; }
  else if (row < ${a + b}u) { y1[m * ${b}u + row - ${a}u] = v; }
  else { y2[m * ${c}u + row - ${a + b}u] = v; }`;
}
