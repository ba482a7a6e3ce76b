/**
 * Quantises activation rows to int8 blocks for the integer-dot GEMV (`gemv_i8.ts`), as
 * llama.cpp's MMVQ path does with `q8_1`: each block of 32 values of a row of `x [M, K]` f32
 * becomes 32 int8 `q` packed four per u32 (element `4j + i` in byte `i` of word `j`, the byte
 * order of the repacked weights) and a pair `(d, Σq)` of f32: the scale `d = max|x| / 127` and
 * the block's integer sum (exact in f32: |Σq| ≤ 4064), which the Q4_0 GEMV needs for its −8
 * offset. The rounding is ggml's `quantize_row_q8_1`: `id = d ≠ 0 ? 1 / d : 0`,
 * `q = roundf(x · id)` (halves away from zero); the CPU reference is
 * `reference/quantize_rows.ts`. So `|x − d · q| ≤ d / 2` per value, up to f32 rounding of `id`.
 *
 * Uses `pack4xI8` of the WGSL language feature `packed_4x8_integer_dot_product`: generate it
 * only for a device whose `GpuContext.wgslFeatures` lists that feature.
 *
 * Bindings: 0 uniform `{m}`, 1 x `[M, K]` f32 (read as vec4), 2 `xq` `[M, K / 4]` u32,
 * 3 `xd` `[M, K / 32]` vec2<f32> `(d, Σq)`. One invocation per block; dispatch with
 * {@link quantizeRowsGrid}.
 *
 * @example
 * ```ts
 * import { quantizeRowsKernel } from "./quantize_rows.ts";
 * console.assert(quantizeRowsKernel({ k: 64 }).code.includes("pack4xI8"));
 * ```
 *
 * @module
 */
import { defineKernel, grid2d, type KernelSource, positiveInt } from "./kernel_source.ts";

/** The WGSL language feature the int8 kernels use (`dot4I8Packed`, `pack4xI8`). */
export const DOT4_FEATURE = "packed_4x8_integer_dot_product";

/** Invocations per workgroup of the quantise kernel. */
const WG = 64;

/** Options of {@link quantizeRowsKernel}. */
export interface QuantizeRowsOptions {
  /** Row length; a multiple of 32. */
  readonly k: number;
}

/** Bytes of `xq` for `m` rows of `k` values (int8, four per u32). */
export function quantizedRowBytes(m: number, k: number): number {
  return m * k;
}

/** Bytes of `xd` for `m` rows of `k` values (two f32 per block of 32). */
export function quantizedScaleBytes(m: number, k: number): number {
  return m * (k / 32) * 8;
}

/** The quantise kernel for rows of `k` values (see the module comment). */
export function quantizeRowsKernel(options: QuantizeRowsOptions): KernelSource {
  const k = positiveInt(options.k, "k");
  if (k % 32) {
    throw new RangeError(`Cannot generate quantize_rows: k = ${k} is not a multiple of 32`);
  }
  const blocks = k / 32;
  const loads = Array.from({ length: 8 }, (_, j) => `  let v${j} = x[base + ${j}u];`).join("\n");
  const amax = Array.from({ length: 8 }, (_, j) => `abs(v${j})`)
    .reduce((a, b) => `max(${a}, ${b})`);
  const packs = Array.from(
    { length: 8 },
    (_, j) =>
      `  let q${j} = round_away(v${j} * id);
  xq[base + ${j}u] = pack4xI8(vec4<i32>(q${j}));
  s += q${j};`,
  ).join("\n");
  const code = `const KB: u32 = ${blocks}u;
struct Params { m: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> xq: array<u32>;
@group(0) @binding(3) var<storage, read_write> xd: array<vec2<f32>>;

// roundf: halves away from zero (WGSL round() takes halves to even); v - trunc(v) is exact
fn round_away(v: vec4<f32>) -> vec4<f32> {
  let t = trunc(v);
  return select(round(v), t + sign(v), abs(v - t) == vec4<f32>(0.5));
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.x + gid.y * nwg.x * ${WG}u;
  let m = gid.z;
  if (b >= KB || m >= params.m) { return; }
  let block = m * KB + b;
  let base = block * 8u;
${loads}
  let amax4 = ${amax};
  let amax = max(max(amax4.x, amax4.y), max(amax4.z, amax4.w));
  let d = amax / 127.0;
  let id = select(0.0, 1.0 / d, d != 0.0);
  var s = vec4<f32>(0.0);
${packs}
  xd[block] = vec2<f32>(d, s.x + s.y + s.z + s.w);
}
`;
  return defineKernel(`quantize_rows.q8.k${k}`, { k, wg: [WG] }, code);
}

/** Workgroup grid of {@link quantizeRowsKernel} for `m` rows of `k` values. */
export function quantizeRowsGrid(k: number, m: number): [number, number, number] {
  const [x, y] = grid2d(Math.ceil(k / 32 / WG));
  return [x, y, m];
}
