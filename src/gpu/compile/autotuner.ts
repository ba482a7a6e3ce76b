/**
 * The autotuner: times every candidate of a tunable {@link KernelPiece} on the device, then
 * the piece's refinements of the fastest (if it has any), and returns the fastest of all.
 * Timing runs `repeats` dispatches in one submit and measures them on the device
 * ({@link DispatchTimer}: GPU timestamps, or the slope of two submit sizes), so the readback
 * after each submit (≥ 10 ms in Deno) is not part of any candidate's time. Winners are
 * persisted by the compile cache per (bucket, piece, backend) and device fingerprint, so a
 * warm start never re-tunes.
 *
 * @example
 * ```ts ignore
 * const { tuning, timings } = await autotune(runtime, matmulPiece({ dtype: "f32", m: 1, n: 256, k: 256 }));
 * ```
 *
 * @module
 */
import type { KernelPiece, TuningConfig } from "./kernel_piece.ts";
import type { KernelRuntime } from "./kernel_runtime.ts";
import { GpuError } from "../device/gpu_error.ts";
import { DispatchTimer } from "./dispatch_timer.ts";

/** Options of {@link autotune}. */
export interface AutotuneOptions {
  /** Dispatches per timed submit. Default 8. */
  readonly repeats?: number;
  /** Timed submits per candidate (the median is kept). Default 3. */
  readonly trials?: number;
  /** Aborts tuning between candidates. */
  readonly signal?: AbortSignal;
}

/** Result of {@link autotune}. */
export interface AutotuneResult {
  /** The fastest candidate. */
  readonly tuning: TuningConfig;
  /** Milliseconds per dispatch for each candidate that compiled (invalid ones are skipped). */
  readonly timings: readonly { tuning: TuningConfig; ms: number }[];
}

/** Times each candidate of `piece`; a piece without a benchmark returns its first candidate. */
export async function autotune(
  runtime: KernelRuntime,
  piece: KernelPiece,
  options: AutotuneOptions = {},
): Promise<AutotuneResult> {
  if (!piece.benchmark || piece.candidates.length < 2) {
    return { tuning: piece.candidates[0], timings: [] };
  }
  const repeats = options.repeats ?? 8, trials = options.trials ?? 3;
  const timings: { tuning: TuningConfig; ms: number }[] = [];
  const timer = new DispatchTimer(runtime);
  try {
    const pass = async (tunings: readonly TuningConfig[]) => {
      for (const tuning of tunings) {
        options.signal?.throwIfAborted();
        const ms = await timeCandidate(runtime, piece, tuning, timer, { repeats, trials });
        if (ms !== undefined) timings.push({ tuning, ms });
      }
    };
    await pass(piece.candidates);
    if (piece.refine && timings.length) await pass(piece.refine(fastest(timings).tuning));
  } finally {
    timer.destroy();
  }
  if (!timings.length) {
    throw new GpuError("compile", `Cannot tune ${piece.name}: no candidate compiled`);
  }
  return { tuning: fastest(timings).tuning, timings };
}

function fastest<T extends { ms: number }>(timings: readonly T[]): T {
  return timings.reduce((a, b) => (b.ms < a.ms ? b : a));
}

/** Milliseconds per dispatch of one candidate; `undefined` when it does not fit or compile. */
async function timeCandidate(
  runtime: KernelRuntime,
  piece: KernelPiece,
  tuning: TuningConfig,
  timer: DispatchTimer,
  options: { repeats: number; trials: number },
): Promise<number | undefined> {
  const source = piece.generate(tuning);
  const [x, y, z] = source.workgroupSize;
  if (x * y * z > runtime.context.limits.maxComputeInvocationsPerWorkgroup) return undefined;
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await runtime.pipeline(source);
  } catch (error) {
    if (error instanceof GpuError && error.kind === "compile") return undefined;
    throw error;
  }
  const bench = await piece.benchmark!(runtime, pipeline, tuning);
  try {
    return await timer.msPerDispatch([...(bench.prelude ?? []), bench.dispatch], options);
  } finally {
    bench.dispose();
  }
}
