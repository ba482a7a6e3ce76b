/**
 * GEMV for decode: `y[m, n] = Σ_k W[n, k] · x[m, k] (+ bias[n])` with weights row-major
 * `[N, K]` (out × in, as in GGUF and HF checkpoints), one grid layer per pass of `tokens` token
 * rows (`gemv_tokens.ts`: each weight sub-chunk is decoded once per pass and dotted with every
 * token's x; a row's result is the same bits for any `tokens` and batch size given the same
 * strategy, workgroup size and rows). Weights may be f32, f16 (u32 pairs), Q8_0 or Q4_0
 * (repacked words + packed f16 scales); the per-format chunk walk lives in `gemv_chunk.ts`.
 * Three strategies, all tunable, so the autotuner picks per device:
 *
 * - `workgroup` (real GPUs): one workgroup per `rows` output rows; its invocations split K
 *   and combine with a shared-memory tree reduction (coalesced loads, many rows in flight).
 * - `lane` (`gemv_lane.ts`; SIMD-on-CPU devices such as llvmpipe, where a workgroup is a loop
 *   over SIMD lanes on one core and barriers are coroutine switches): each invocation owns
 *   `rows` output rows and walks all of K with private accumulators, loading each x chunk once
 *   for its rows; no workgroup memory, no barrier.
 * - `wide` (discrete GPUs, `gemv_wide.ts`): row groups of `threadsPerRow` invocations, each
 *   group owning `rows` rows; invocations stride K in 16-byte units, `unroll` units per step,
 *   loading x once for all rows, with conversion-free dequantisation (`gemv_magic.ts`).
 *
 * Epilogues make the fused variants: `split3` writes rows to three outputs (fused QKV from
 * concatenated weights), `gate_up_silu` reads rows n and N + n of a `[2N, K]` weight and writes
 * `silu(gate) · up` (fused gate+up MLP).
 *
 * @example
 * ```ts
 * import { gemvKernel } from "./gemv.ts";
 * const k = gemvKernel({ dtype: "q4_0", n: 64, k: 128, strategy: "lane", rows: 2, tokens: 4 });
 * console.assert(k.code.includes("fn load_w") && k.name.endsWith(".t4"));
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
  type WeightDType,
} from "./kernel_source.ts";
import { gemvChunkCode, gemvChunkValues, gemvScaled, gemvScaleExpr } from "./gemv_chunk.ts";
import { gemvMagicBlockCode, gemvMagicUnitValues } from "./gemv_magic.ts";
import { GEMV_WIDE_WORKGROUP_BYTES, gemvWideBody } from "./gemv_wide.ts";
import { gemvLaneBody } from "./gemv_lane.ts";
import {
  type GemvBodyShape,
  tokenAccumulate,
  tokenIndices,
  tokensPerReduction,
} from "./gemv_tokens.ts";

/** How a matmul kernel stores its results. */
export type MatmulEpilogue =
  | { readonly kind: "store" }
  | { readonly kind: "split3"; readonly sizes: readonly [number, number, number] }
  | { readonly kind: "gate_up_silu" };

/** How a GEMV kernel maps rows and K onto invocations (see {@link gemvKernel}). */
export type GemvStrategy = "workgroup" | "lane" | "wide";

/** The shape, weight format and result store shared by the GEMV and GEMM templates. */
export interface MatmulKernelOptions {
  /** Weight storage type. */
  readonly dtype: WeightDType;
  /** Output rows (for `gate_up_silu`: outputs, the weight has 2N rows). */
  readonly n: number;
  /** Inner dimension; a multiple of 32 for quantised weights. */
  readonly k: number;
  /** Adds a bias vector (binding 5). */
  readonly bias?: boolean;
  /** Result store; default `store`. */
  readonly epilogue?: MatmulEpilogue;
}

/** Template parameters of {@link gemvKernel}. */
export interface GemvOptions extends MatmulKernelOptions {
  /** Row-to-invocation mapping (tunable). Default `workgroup`. */
  readonly strategy?: GemvStrategy;
  /** Invocations per workgroup, a power of two (tunable). Default 64. */
  readonly workgroupSize?: number;
  /**
   * Output rows per workgroup (`workgroup`), per invocation (`lane`) or per row group (`wide`)
   * (tunable). Default 1.
   */
  readonly rows?: number;
  /** `wide`: invocations per row group, a power of two dividing `workgroupSize`. Default 32. */
  readonly threadsPerRow?: number;
  /** `wide`: 16-byte weight units per invocation per loop step (tunable). Default 1. */
  readonly unroll?: number;
  /**
   * Quantised weights: blocks per chunk, whose scales arrive in one load (1, 2, 4 or 8,
   * dividing K / 32; an autotuner refinement, see `gemvRefinements`). Default 1.
   */
  readonly scaleGroup?: number;
  /**
   * Token rows per pass (tunable, `gemv_tokens.ts`): each weight sub-chunk is loaded and
   * dequantised once for this many tokens; grid z is `ceil(m / tokens)`. A row's result is the
   * same bits for every value. Default 1.
   */
  readonly tokens?: number;
}

/**
 * Bindings: 0 uniform `{m}`, 1 x `[M, K]` f32, 2 weights, 3 block scales (quantised only),
 * 4 y (first output), 5 bias (optional), 6 and 7 the second and third outputs of `split3`.
 * Dispatch with {@link gemvGrid} given the same `strategy`, `workgroupSize`, `rows`,
 * `threadsPerRow` and `tokens`.
 */
export function gemvKernel(options: GemvOptions): KernelSource {
  const { dtype } = options;
  const n = positiveInt(options.n, "n");
  const k = positiveInt(options.k, "k");
  const wg = powerOfTwo(options.workgroupSize ?? 64, "workgroupSize");
  const rows = positiveInt(options.rows ?? 1, "rows");
  const strategy = options.strategy ?? "workgroup";
  const epilogue = options.epilogue ?? { kind: "store" };
  if ((dtype === "q8_0" || dtype === "q4_0") && k % 32) {
    throw new RangeError(`Cannot generate gemv: k = ${k} is not a multiple of 32 for ${dtype}`);
  }
  if (epilogue.kind === "split3" && epilogue.sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new RangeError(`Cannot generate gemv: split3 sizes do not sum to n = ${n}`);
  }
  if (strategy !== "workgroup" && strategy !== "lane" && strategy !== "wide") {
    throw new RangeError(`Cannot generate gemv: unknown strategy "${strategy}"`);
  }
  const g = options.scaleGroup ?? 1;
  const wide = strategy === "wide";
  const tpr = powerOfTwo(options.threadsPerRow ?? 32, "threadsPerRow");
  const unroll = positiveInt(options.unroll ?? 1, "unroll");
  if (wide && (tpr > wg || g !== 1)) {
    throw new RangeError(
      `Cannot generate gemv: wide needs threadsPerRow ≤ workgroupSize and one block per scale load`,
    );
  }
  const tokens = positiveInt(options.tokens ?? 1, "tokens");
  const paired = epilogue.kind === "gate_up_silu";
  const acc = paired ? rows * 2 : rows;
  const scaled = gemvScaled(dtype);
  const header = `
const N: u32 = ${n}u;
const K: u32 = ${k}u;
const WG: u32 = ${wg}u;
const ROWS: u32 = ${rows}u;
const ACC: u32 = ${acc}u;
const TOKENS: u32 = ${tokens}u;
struct Params { m: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
${wide && scaled ? gemvMagicBlockCode(dtype as "q8_0" | "q4_0", k) : gemvChunkCode(dtype, k, g)}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${options.bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${
    epilogue.kind === "split3"
      ? `@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;`
      : ""
  }
fn store(m: u32, row: u32, value: f32) {
  ${storeCode(epilogue, options.bias ?? false)}
}
`;
  const shape = { wg, rows, tokens, paired, g, scaled };
  const body = wide
    ? gemvWideBody({
      ...shape,
      tpr,
      unroll,
      chunks: k / (scaled ? gemvMagicUnitValues(dtype as "q8_0") : gemvChunkValues(dtype, k)),
    })
    : strategy === "lane"
    ? gemvLaneBody(shape)
    : workgroupBody(shape);
  const tag = (strategy === "workgroup" ? "" : `.${strategy}`) + (g > 1 ? `.g${g}` : "") +
    (tokens > 1 ? `.t${tokens}` : "");
  return defineKernel(`gemv.${dtype}.n${n}.k${k}.${epilogue.kind}${tag}`, {
    dtype,
    n,
    k,
    strategy,
    rows,
    bias: options.bias ?? false,
    epilogue: epilogue.kind,
    g,
    ...(tokens > 1 && { tokens }),
    ...(wide && { tpr, unroll }),
    wg: [wg],
  }, header + body);
}

/**
 * The `workgroup` strategy's entry point: invocations stride the chunks of the group's rows,
 * each keeping `ACC × TOKENS` partial sums, then shared-memory tree reductions of `TB` tokens'
 * sums at a time (as many as fit in 16 KiB; every sum reduced in the same order as with one
 * token).
 */
function workgroupBody(o: GemvBodyShape): string {
  const { wg, tokens, paired, g, scaled } = o;
  const subs = Array.from({ length: g }, (_, j) => {
    const sub = g === 1 ? "c" : `c * G + ${j}u`;
    return tokenAccumulate({
      sub,
      tokens,
      indent: "      ",
      rows: [
        {
          row: "row",
          scale: scaled ? gemvScaleExpr("sa", g, j) : undefined,
          acc: (t) => `acc[r * TOKENS + ${t}u]`,
        },
        ...(paired
          ? [{
            row: "row + N",
            scale: scaled ? gemvScaleExpr("sb", g, j) : undefined,
            acc: (t: number) => `acc[(ROWS + r) * TOKENS + ${t}u]`,
          }]
          : []),
      ],
    });
  });
  const scales = scaled
    ? `      let sa = load_scales(row, c);${
      paired ? "\n      let sb = load_scales(row + N, c);" : ""
    }\n`
    : "";
  const acc = paired ? 2 * o.rows : o.rows;
  // Tokens reduced together (TB): their ACC · TB sums per invocation in one tree.
  const tb = tokensPerReduction(tokens, acc * wg * 4, GEMV_WIDE_WORKGROUP_BYTES);
  const value = paired
    ? `let g = red[(r * TB + tt) * WG];
        let u = red[((ROWS + r) * TB + tt) * WG];
        store(m, row0 + r, g / (1.0 + exp(-g)) * u);`
    : "store(m, row0 + r, red[(r * TB + tt) * WG]);";
  return `const TB: u32 = ${tb}u;
var<workgroup> red: array<f32, ${wg * acc * tb}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.z * TOKENS;
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
${tokenIndices(tokens)}
  var acc: array<f32, ${acc * tokens}>;
  for (var c = lid; c < CHUNKS; c += WG) {
    for (var r = 0u; r < ROWS; r++) {
      let row = min(row0 + r, N - 1u);
${scales}${subs.join("\n")}
    }
  }
  for (var t0 = 0u; t0 < TOKENS; t0 += TB) {
    for (var a = 0u; a < ACC; a++) {
      for (var tt = 0u; tt < TB; tt++) { red[(a * TB + tt) * WG + lid] = acc[a * TOKENS + t0 + tt]; }
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) {
        for (var i = 0u; i < ACC * TB; i++) { red[i * WG + lid] += red[i * WG + lid + s]; }
      }
      workgroupBarrier();
    }
    for (var o = lid; o < ROWS * TB; o += WG) {
      let r = o / TB;
      let tt = o % TB;
      let m = m0 + t0 + tt;
      if (row0 + r < N && m < params.m) {
        ${value}
      }
    }${tokens > tb ? "\n    workgroupBarrier();" : ""}
  }
}
`;
}

/**
 * Workgroup grid for {@link gemvKernel}: row groups folded over x/y, passes of `tokens` tokens
 * on z (`ceil(m / tokens)`). A workgroup covers `rows` output rows (`workgroup`),
 * `workgroupSize · rows` (`lane`) or `workgroupSize / threadsPerRow · rows` (`wide`).
 */
export function gemvGrid(
  options: {
    n: number;
    rows?: number;
    m: number;
    strategy?: GemvStrategy;
    workgroupSize?: number;
    threadsPerRow?: number;
    tokens?: number;
  },
): [number, number, number] {
  const wg = options.workgroupSize ?? 64;
  const perGroup = (options.rows ?? 1) *
    (options.strategy === "lane"
      ? wg
      : options.strategy === "wide"
      ? wg / (options.threadsPerRow ?? 32)
      : 1);
  const [x, y] = grid2d(Math.ceil(options.n / perGroup));
  return [x, y, Math.ceil(options.m / (options.tokens ?? 1))];
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
