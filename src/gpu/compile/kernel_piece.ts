/**
 * A kernel piece: the unit the compile cache keys, tunes and compiles (vLLM's graph piece).
 * A piece knows its tuning candidates, how to generate WGSL for one, and how to build a
 * self-contained benchmark dispatch so the autotuner can time candidates on the device.
 *
 * @example
 * ```ts
 * import { fixedPiece } from "./kernel_piece.ts";
 * import { elementwiseKernel } from "../kernels/elementwise.ts";
 * const p = fixedPiece(elementwiseKernel("add"));
 * console.assert(p.candidates.length === 1);
 * ```
 *
 * @module
 */
import type { Dispatch, KernelRuntime } from "./kernel_runtime.ts";
import type { KernelSource, WeightDType } from "../kernels/kernel_source.ts";
import { gemvGrid, gemvKernel, type GemvStrategy, type MatmulEpilogue } from "../kernels/gemv.ts";
import { DEFAULT_GEMM_TILE, gemmGrid, gemmKernel, type GemmTile } from "../kernels/gemm.ts";
import { gemvScaleGroup } from "../kernels/gemv_chunk.ts";
import { gemvDefaultTokens, gemvTokenChoices } from "../kernels/gemv_tokens.ts";
import { hostWeightFromF32, packWeight } from "../kernels/host_weight.ts";
import {
  GEMV_I8_CANDIDATES,
  gemvI8Benchmark,
  gemvI8Source,
  int8GemvApplies,
} from "./gemv_i8_tuning.ts";

/** Tuning parameters of one candidate (JSON-serialisable). */
export type TuningConfig = Readonly<Record<string, number>>;

/** A runnable benchmark of one candidate; `dispose` destroys its buffers. */
export interface PieceBenchmark {
  /** Dispatches the candidate needs before its own, timed with it (e.g. quantising x). */
  readonly prelude?: readonly Dispatch[];
  /** The dispatch to time. */
  readonly dispatch: Dispatch;
  /** Frees the benchmark's buffers. */
  dispose(): void;
}

/** A unit of compilation. */
export interface KernelPiece {
  /** Stable identity, e.g. `gemv.q4_0.n4096.k4096.store`. */
  readonly name: string;
  /** Candidates; the first is the default when tuning is skipped. */
  readonly candidates: readonly TuningConfig[];
  /** Generates the kernel for a candidate. */
  generate(tuning: TuningConfig): KernelSource;
  /**
   * Variants of the first pass's winner to time in a second pass (a local search, so that a
   * parameter that rarely matters costs a few timings instead of multiplying the candidates).
   * A refined tuning is valid wherever a candidate is.
   */
  refine?(winner: TuningConfig): readonly TuningConfig[];
  /** Builds a benchmark for a compiled candidate (absent: the piece is not tunable). */
  benchmark?(
    runtime: KernelRuntime,
    pipeline: GPUComputePipeline,
    tuning: TuningConfig,
  ): PieceBenchmark | Promise<PieceBenchmark>;
}

/** A piece with exactly one variant (no tuning). */
export function fixedPiece(source: KernelSource): KernelPiece {
  return { name: source.name, candidates: [{}], generate: () => source };
}

/** Shape and format of a matmul piece. */
export interface MatmulPieceOptions {
  /** Weight storage. */
  readonly dtype: WeightDType;
  /** Tokens in the bucket (1 selects GEMV, more selects GEMM). */
  readonly m: number;
  /** Output features. */
  readonly n: number;
  /** Input features. */
  readonly k: number;
  /** Bias binding. */
  readonly bias?: boolean;
  /** Result store. */
  readonly epilogue?: MatmulEpilogue;
  /**
   * Offer the int8-activation GEMV (`gemv_i8_tuning.ts`; Q8_0 / Q4_0, m ≤ GEMV_MAX_ROWS):
   * `auto` after the float candidates, `force` alone. MUST be set only for a device with the
   * WGSL feature (`resolveInt8GemvMode`). Default: not offered.
   */
  readonly int8?: "auto" | "force";
}

/**
 * `wide` GEMV candidates for discrete GPUs (see `kernels/gemv_wide.ts`): workgroup size,
 * invocations per row group (`tpr`), rows per row group and 16-byte units per step
 * (`unroll`). They span the levers that matter on NVIDIA-class memory systems: one row group
 * per workgroup (long K strides, big reductions) versus several (short reductions, more rows
 * per workgroup), and more rows or more unrolled units for more loads in flight.
 */
export const GEMV_WIDE_CANDIDATES: readonly TuningConfig[] = [
  { wg: 256, tpr: 256, rows: 4, unroll: 2 },
  { wg: 256, tpr: 256, rows: 2, unroll: 4 },
  { wg: 128, tpr: 128, rows: 4, unroll: 2 },
  { wg: 128, tpr: 128, rows: 8, unroll: 1 },
  { wg: 256, tpr: 64, rows: 2, unroll: 2 },
  { wg: 128, tpr: 32, rows: 4, unroll: 1 },
  { wg: 256, tpr: 32, rows: 2, unroll: 2 },
  { wg: 64, tpr: 64, rows: 4, unroll: 2 },
].map((t) => ({ ...t, lane: 0, wide: 1 }));

/**
 * GEMV candidates. `lane: 0` is the workgroup-reduction strategy (workgroup size × rows per
 * workgroup); `lane: 1` is one invocation per `rows` output rows with a private accumulator
 * (workgroup size × rows per invocation), suited to SIMD-on-CPU devices such as llvmpipe;
 * `wide: 1` are the {@link GEMV_WIDE_CANDIDATES} for discrete GPUs, last so that the indices
 * of the older candidates are stable. The autotuner picks per device fingerprint.
 */
export const GEMV_CANDIDATES: readonly TuningConfig[] = [
  ...[64, 128, 256, 32].flatMap((wg) => [1, 2, 4].map((rows) => ({ wg, rows, lane: 0 }))),
  ...[16, 32, 64].flatMap((wg) => [1, 2, 4, 8].map((rows) => ({ wg, rows, lane: 1 }))),
  ...GEMV_WIDE_CANDIDATES,
];

/**
 * The refinements of a GEMV winner: for quantised weights, the same configuration with `g`
 * blocks per scale load (the largest group that divides K / 32; `g` absent means one block).
 * It is a second-pass parameter because on llvmpipe it rarely wins (the unrolled blocks cost
 * registers), while on GPUs fewer, wider scale loads per invocation can. `wide` winners have
 * none (their scale loads are already coalesced across invocations).
 */
export function gemvRefinements(
  dtype: WeightDType,
  k: number,
  winner: TuningConfig,
): readonly TuningConfig[] {
  const g = gemvScaleGroup(dtype, k);
  return g === 1 || winner.g || winner.wide ? [] : [{ ...winner, g }];
}

/** Every GEMV tuning a piece accepts: the candidates and their refinements. */
export function gemvCandidates(dtype: WeightDType, k: number): readonly TuningConfig[] {
  const g = gemvScaleGroup(dtype, k);
  return g === 1
    ? GEMV_CANDIDATES
    : GEMV_CANDIDATES.flatMap((t) => [t, ...gemvRefinements(dtype, k, t)]);
}

/**
 * The GEMV candidates of a bucket of `m` token rows: {@link GEMV_CANDIDATES} for m = 1; for
 * m > 1 the same configurations with `tokens` (token rows per pass, `kernels/gemv_tokens.ts`)
 * set to the bucket's default, so every first-pass candidate is token-batched. The other token
 * counts are refinements ({@link gemvTokenRefinements}). A candidate that is not
 * {@link gemvBatchable} stays as it is. One array per default token count.
 */
export function gemvBucketCandidates(m: number): readonly TuningConfig[] {
  const tokens = gemvDefaultTokens(m);
  if (tokens === 1) return GEMV_CANDIDATES;
  let list = BUCKET_CANDIDATES.get(tokens);
  if (!list) {
    list = GEMV_CANDIDATES.map((t) => (gemvBatchable(t) ? { ...t, tokens } : t));
    BUCKET_CANDIDATES.set(tokens, list);
  }
  return list;
}
const BUCKET_CANDIDATES = new Map<number, readonly TuningConfig[]>();

/** The parameters of the token-batched GEMV templates (`gemvKernel` via {@link gemvTuning}). */
const BATCHABLE_KEYS = new Set(["wg", "rows", "lane", "wide", "tpr", "unroll", "g", "tokens"]);

/**
 * Whether a GEMV tuning is one of `gemvKernel`'s (every parameter known to {@link gemvTuning}),
 * and so can batch tokens. A candidate with other parameters (another kernel family's) MUST NOT
 * get `tokens`: its grid would cover only one token in `tokens`.
 */
export function gemvBatchable(t: TuningConfig): boolean {
  return Object.keys(t).every((key) => BATCHABLE_KEYS.has(key));
}

/**
 * The token refinements of a GEMV winner for a bucket of `m` rows: the same configuration with
 * each other token count the bucket can use (powers of two up to its default). A winner that
 * is itself refined (other tokens than the default, or `g`) has none.
 */
export function gemvTokenRefinements(m: number, winner: TuningConfig): readonly TuningConfig[] {
  const tokens = gemvDefaultTokens(m);
  if (tokens === 1 || winner.g || winner.tokens !== tokens || !gemvBatchable(winner)) return [];
  return gemvTokenChoices(m).filter((t) => t !== tokens).map((t) => ({ ...winner, tokens: t }));
}

/** The {@link gemvKernel} / {@link gemvGrid} options of a GEMV tuning candidate. */
export function gemvTuning(t: TuningConfig): {
  strategy: GemvStrategy;
  workgroupSize: number;
  rows: number;
  scaleGroup: number;
  threadsPerRow?: number;
  unroll?: number;
  tokens: number;
} {
  const base = { workgroupSize: t.wg, rows: t.rows, scaleGroup: t.g ?? 1, tokens: t.tokens ?? 1 };
  return t.wide
    ? { ...base, strategy: "wide", threadsPerRow: t.tpr, unroll: t.unroll }
    : { ...base, strategy: t.lane ? "lane" : "workgroup" };
}

/** GEMM candidates: tile shapes. */
export const GEMM_CANDIDATES: readonly TuningConfig[] = [
  { ...DEFAULT_GEMM_TILE },
  { bm: 16, bn: 16, bk: 16, tm: 2, tn: 2 },
  { bm: 32, bn: 64, bk: 8, tm: 4, tn: 8 },
  { bm: 64, bn: 64, bk: 8, tm: 8, tn: 4 },
  { bm: 16, bn: 64, bk: 16, tm: 2, tn: 8 },
];

/**
 * Most rows of x a matmul runs as a GEMV (one pass over the weights per `tokens` rows, grid
 * z = ceil(m / tokens)); more rows run the tiled GEMM. Decode batches stay on the GEMV, which
 * is near the memory bound on a discrete GPU while the GEMM's tiles measured 5–8 ms per
 * 64×512×512 on an H200 (bench/RESULTS.md). A row's result is the same bits for any `tokens`,
 * so with the same strategy (the untuned default, or equal tunings) it is the same at any batch
 * size up to this.
 */
export const GEMV_MAX_ROWS = 16;

/**
 * The operation name of a matmul (its identity in a kernel set, with the bucket `m` beside it):
 * `gemv` or `gemm` by `m`, then dtype, n, k, epilogue kind and `.bias` when it has one, e.g.
 * `gemv.q8_0.n192.k64.split3.bias`. Computed without generating WGSL.
 */
export function matmulOpName(options: MatmulPieceOptions): string {
  const family = options.m <= GEMV_MAX_ROWS ? "gemv" : "gemm";
  const epilogue = options.epilogue?.kind ?? "store";
  return `${family}.${options.dtype}.n${options.n}.k${options.k}.${epilogue}` +
    (options.bias ? ".bias" : "");
}

/**
 * A tunable matmul piece (GEMV for m ≤ {@link GEMV_MAX_ROWS}, GEMM otherwise), named by
 * {@link matmulOpName}.
 */
export function matmulPiece(options: MatmulPieceOptions): KernelPiece {
  const gemv = options.m <= GEMV_MAX_ROWS;
  const i8 = options.int8 && int8GemvApplies(options.dtype, options.m, GEMV_MAX_ROWS)
    ? options.int8
    : undefined;
  // int8 candidates carry `i8`, so they are never token-batched (`gemvBatchable`).
  const floatGemv = gemvBucketCandidates(options.m);
  const candidates = !gemv
    ? GEMM_CANDIDATES
    : i8 === "force"
    ? GEMV_I8_CANDIDATES
    : i8
    ? [...floatGemv, ...GEMV_I8_CANDIDATES]
    : floatGemv;
  const i8Shape = { ...options, dtype: options.dtype as "q8_0" | "q4_0" };
  const generate = (t: TuningConfig) =>
    t.i8 && i8
      ? gemvI8Source(i8Shape, t)
      : gemv
      ? gemvKernel({ ...options, ...gemvTuning(t) })
      : gemmKernel({ ...options, tile: t as unknown as GemmTile });
  return {
    name: matmulOpName(options),
    candidates,
    generate,
    ...(gemv && {
      // Token counts and scale groups are refined separately, never combined; int8 winners
      // have no refinements.
      refine: (t: TuningConfig) =>
        t.i8 || ((t.tokens ?? 1) !== gemvDefaultTokens(options.m) && gemvBatchable(t)) ? [] : [
          ...gemvTokenRefinements(options.m, t),
          ...gemvRefinements(options.dtype, options.k, t),
        ],
    }),
    benchmark(runtime, pipeline, t) {
      if (t.i8 && i8) return gemvI8Benchmark(runtime, pipeline, t, i8Shape);
      const { m, n, k, dtype } = options;
      const rows = options.epilogue?.kind === "gate_up_silu" ? 2 * n : n;
      const packed = packWeight(
        hostWeightFromF32(dtype, new Float32Array(rows * k).fill(0.01), [rows, k]),
      );
      const buffers: GPUBuffer[] = [];
      const keep = (b: GPUBuffer) => (buffers.push(b), b);
      const sizes = options.epilogue?.kind === "split3" ? options.epilogue.sizes : [n];
      const bindings: Record<number, GPUBuffer> = {
        0: keep(runtime.uniform([m])),
        1: keep(runtime.buffer(new Float32Array(m * k).fill(1))),
        2: keep(runtime.buffer(packed.data)),
        4: keep(runtime.buffer(m * sizes[0] * 4)),
      };
      if (packed.scales) bindings[3] = keep(runtime.buffer(packed.scales));
      if (options.bias) bindings[5] = keep(runtime.buffer(n * 4));
      if (sizes.length === 3) {
        [bindings[6], bindings[7]] = [
          keep(runtime.buffer(m * sizes[1] * 4)),
          keep(runtime.buffer(m * sizes[2] * 4)),
        ];
      }
      const grid = gemv
        ? gemvGrid({ n, m, ...gemvTuning(t) })
        : gemmGrid({ n, m, tile: t as unknown as GemmTile });
      return {
        dispatch: {
          pipeline,
          bindGroup: runtime.bindGroup(pipeline, bindings),
          grid,
          label: "bench",
        },
        dispose: () => buffers.forEach((b) => b.destroy()),
      };
    },
  };
}
