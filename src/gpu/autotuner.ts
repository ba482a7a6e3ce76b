/**
 * The autotuner: times every candidate of a tunable {@link KernelPiece} on the device and
 * returns the fastest. Timing encodes `repeats` dispatches in one submit and waits for
 * a sync readback, so per-submit overhead (≥10 ms in Deno) is amortised. Winners are
 * persisted by the compile cache per (bucket, piece, backend) and device fingerprint, so a
 * warm start never re-tunes.
 *
 * @example
 * ```ts ignore
 * const { tuning, timings } = await autotune(runtime, matmulPiece({ dtype: "f32", m: 1, n: 256, k: 256 }));
 * ```
 */
import type { KernelPiece, TuningConfig } from "./kernel_piece.ts";
import type { KernelRuntime } from "./kernel_runtime.ts";
import { GpuError } from "./gpu_error.ts";

/** Options of {@link autotune}. */
export interface AutotuneOptions {
  /** Dispatches per timed submit. Default 8. */
  readonly repeats?: number;
  /** Timed submits per candidate (the minimum is kept). Default 2. */
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
  const repeats = options.repeats ?? 8, trials = options.trials ?? 2;
  const timings: { tuning: TuningConfig; ms: number }[] = [];
  const limit = runtime.context.limits;
  for (const tuning of piece.candidates) {
    options.signal?.throwIfAborted();
    const source = piece.generate(tuning);
    const [x, y, z] = source.workgroupSize;
    if (x * y * z > limit.maxComputeInvocationsPerWorkgroup) continue;
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await runtime.pipeline(source);
    } catch (error) {
      if (error instanceof GpuError && error.kind === "compile") continue;
      throw error;
    }
    const bench = piece.benchmark(runtime, pipeline, tuning);
    try {
      runtime.run([bench.dispatch]);
      await runtime.sync();
      let best = Infinity;
      for (let t = 0; t < trials; t++) {
        const start = performance.now();
        runtime.run(Array.from({ length: repeats }, () => bench.dispatch));
        await runtime.sync();
        best = Math.min(best, (performance.now() - start) / repeats);
      }
      timings.push({ tuning, ms: best });
    } finally {
      bench.dispose();
    }
  }
  if (!timings.length) {
    throw new GpuError("compile", `Cannot tune ${piece.name}: no candidate compiled`);
  }
  const winner = timings.reduce((a, b) => (b.ms < a.ms ? b : a));
  return { tuning: winner.tuning, timings };
}
