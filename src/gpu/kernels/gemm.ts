/**
 * Tiled GEMM for prefill: `Y[M, N] = X[M, K] · W[N, K]ᵀ (+ bias)`. A workgroup computes a
 * `BM × BN` output tile; each invocation keeps a `TM × TN` register tile and the workgroup stages
 * `BK`-deep slices of X and W in workgroup memory. W may be f32, f16, Q8_0 or Q4_0 (dequantised
 * while staging). Tile sizes are the tunable parameters; the same epilogues as GEMV provide the
 * fused QKV and gate+up+SiLU variants.
 *
 * @example
 * ```ts
 * import { gemmKernel } from "./gemm.ts";
 * const k = gemmKernel({ dtype: "f32", n: 96, k: 64, tile: { bm: 32, bn: 32, bk: 8, tm: 4, tn: 4 } });
 * console.assert(k.workgroupSize[0] === 8 && k.workgroupSize[1] === 8);
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource, positiveInt, weightBindings } from "./kernel_source.ts";
import { type MatmulKernelOptions, storeCode } from "./gemv.ts";

/** GEMM tile shape: output tile BM × BN, K slice BK, register tile TM × TN per invocation. */
export interface GemmTile {
  /** Output tile rows (tokens). */
  readonly bm: number;
  /** Output tile columns (features). */
  readonly bn: number;
  /** Depth of the staged K slice. */
  readonly bk: number;
  /** Register tile rows; must divide `bm`. */
  readonly tm: number;
  /** Register tile columns; must divide `bn`. */
  readonly tn: number;
}

/** A reasonable default tile (64 invocations, 4×4 register tiles). */
export const DEFAULT_GEMM_TILE: GemmTile = { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 };

/** Template parameters of {@link gemmKernel}. */
export interface GemmOptions extends MatmulKernelOptions {
  /** Tile shape; default {@link DEFAULT_GEMM_TILE}. */
  readonly tile?: GemmTile;
}

/**
 * Bindings as in GEMV: 0 uniform `{m}`, 1 X f32, 2 W, 3 scales (quantised), 4 Y, 5 bias,
 * 6/7 extra outputs of `split3`. Dispatch with {@link gemmGrid}.
 */
export function gemmKernel(options: GemmOptions): KernelSource {
  const { dtype } = options;
  const n = positiveInt(options.n, "n");
  const k = positiveInt(options.k, "k");
  const t = options.tile ?? DEFAULT_GEMM_TILE;
  for (const [key, value] of Object.entries(t)) positiveInt(value, `tile.${key}`);
  if (t.bm % t.tm || t.bn % t.tn) {
    throw new RangeError("Cannot generate gemm: tm/tn must divide bm/bn");
  }
  if ((dtype === "q8_0" || dtype === "q4_0") && k % 32) {
    throw new RangeError(`Cannot generate gemm: k = ${k} is not a multiple of 32 for ${dtype}`);
  }
  const epilogue = options.epilogue ?? { kind: "store" };
  const paired = epilogue.kind === "gate_up_silu";
  const wx = t.bn / t.tn, wy = t.bm / t.tm;
  const threads = wx * wy;
  const code = `
const N: u32 = ${n}u;
const K: u32 = ${k}u;
const BM: u32 = ${t.bm}u;
const BN: u32 = ${t.bn}u;
const BK: u32 = ${t.bk}u;
const TM: u32 = ${t.tm}u;
const TN: u32 = ${t.tn}u;
const THREADS: u32 = ${threads}u;
struct Params { m: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
${weightBindings(dtype, 2, 3)}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${options.bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${
    epilogue.kind === "split3"
      ? `@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;`
      : ""
  }
var<workgroup> xs: array<f32, ${t.bk * t.bm}>;
var<workgroup> wt: array<f32, ${t.bk * t.bn}>;
${paired ? `var<workgroup> wt2: array<f32, ${t.bk * t.bn}>;` : ""}

fn store(m: u32, row: u32, value: f32) {
  ${storeCode(epilogue, options.bias ?? false)}
}

@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let M = params.m;
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  var acc: array<array<f32, ${t.tn}>, ${t.tm}>;
  ${paired ? `var acc2: array<array<f32, ${t.tn}>, ${t.tm}>;` : ""}
  var a: array<f32, ${t.tm}>;
  var b: array<f32, ${t.tn}>;
  ${paired ? `var b2: array<f32, ${t.tn}>;` : ""}
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var i = lid; i < BM * BK; i += THREADS) {
      let mm = i / BK;
      let kk = i % BK;
      let gm = m0 + mm;
      let gk = k0 + kk;
      xs[kk * BM + mm] = select(0.0, x[min(gm * K + gk, M * K - 1u)], gm < M && gk < K);
    }
    for (var i = lid; i < BN * BK; i += THREADS) {
      let nn = i / BK;
      let kk = i % BK;
      let gn = n0 + nn;
      let gk = k0 + kk;
      let inside = gn < N && gk < K;
      let idx = min(gn, N - 1u) * K + min(gk, K - 1u);
      wt[kk * BN + nn] = select(0.0, load_w(idx), inside);
      ${paired ? "wt2[kk * BN + nn] = select(0.0, load_w(idx + N * K), inside);" : ""}
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      for (var i = 0u; i < TM; i++) { a[i] = xs[kk * BM + lid3.y * TM + i]; }
      for (var j = 0u; j < TN; j++) {
        b[j] = wt[kk * BN + lid3.x * TN + j];
        ${paired ? "b2[j] = wt2[kk * BN + lid3.x * TN + j];" : ""}
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
          ${paired ? "acc2[i][j] = fma(a[i], b2[j], acc2[i][j]);" : ""}
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid3.y * TM + i;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + lid3.x * TN + j;
      if (m < M && n < N) {
        ${
    paired
      ? "let g = acc[i][j];\n        store(m, n, g / (1.0 + exp(-g)) * acc2[i][j]);"
      : "store(m, n, acc[i][j]);"
  }
      }
    }
  }
}
`;
  return defineKernel(
    `gemm.${dtype}.n${n}.k${k}.${epilogue.kind}.${t.bm}x${t.bn}x${t.bk}.${t.tm}x${t.tn}`,
    {
      dtype,
      n,
      k,
      bm: t.bm,
      bn: t.bn,
      bk: t.bk,
      tm: t.tm,
      tn: t.tn,
      bias: options.bias ?? false,
      epilogue: epilogue.kind,
      wg: [wx, wy],
    },
    code,
  );
}

/** Workgroup grid for {@link gemmKernel}. */
export function gemmGrid(
  options: { n: number; m: number; tile?: GemmTile },
): [number, number, number] {
  const t = options.tile ?? DEFAULT_GEMM_TILE;
  return [Math.ceil(options.n / t.bn), Math.ceil(options.m / t.bm), 1];
}
