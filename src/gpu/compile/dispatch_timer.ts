/**
 * Device-side timing of dispatches, for the autotuner and the benchmarks. A wall-clock timer
 * around "submit, then read back" also measures the readback, which costs ≥ 10 ms in Deno (its
 * poll loop sleeps) and 50–200 µs in Dawn: a 1 ms kernel timed with 4 dispatches per submit
 * reads as ~3.5 ms. So this module times on the device:
 *
 * - `timestamp` (when the device has `timestamp-query`): the dispatches run in one compute pass
 *   with `timestampWrites` at its start and end; the resolved nanoseconds divided by the
 *   repeat count is the time per dispatch, with no host overhead in it.
 * - `slope` (otherwise): wall time of submits of `1` and `1 + repeats` dispatches, each followed
 *   by a readback; the difference divided by `repeats` cancels the fixed submit and readback
 *   cost.
 *
 * Both take the median over trials.
 *
 * @example
 * ```ts ignore
 * const timer = new DispatchTimer(runtime);
 * const ms = await timer.msPerDispatch([dispatch], { repeats: 16, trials: 3 });
 * timer.destroy();
 * ```
 *
 * @module
 */
import type { Dispatch, KernelRuntime } from "./kernel_runtime.ts";

/** How {@link DispatchTimer} measures. */
export type TimerMethod = "timestamp" | "slope";

/** Options of {@link DispatchTimer.msPerDispatch}. */
export interface TimingOptions {
  /** Copies of the dispatch list per timed submit. Default 8. */
  readonly repeats?: number;
  /** Timed submits; the median is kept. Default 3. */
  readonly trials?: number;
}

const QUERY_RESOLVE = 0x200; /* QUERY_RESOLVE */
const COPY_SRC = 0x4, COPY_DST = 0x8, MAP_READ = 0x1;

/** Times dispatch lists on a runtime's device (see the module comment). */
export class DispatchTimer {
  /** The method in use: `timestamp` when the device supports it. */
  readonly method: TimerMethod;
  #runtime: KernelRuntime;
  #querySet?: GPUQuerySet;
  #resolve?: GPUBuffer;
  #staging?: GPUBuffer;

  /** A timer on `runtime`; `method` forces one (`timestamp` needs the feature). */
  constructor(runtime: KernelRuntime, options: { method?: TimerMethod } = {}) {
    this.#runtime = runtime;
    const supported = runtime.device.features.has("timestamp-query");
    if (options.method === "timestamp" && !supported) {
      throw new TypeError("Cannot time with timestamps: the device lacks timestamp-query");
    }
    this.method = options.method ?? (supported ? "timestamp" : "slope");
  }

  /** Milliseconds per run of `dispatches` (median over trials). */
  async msPerDispatch(
    dispatches: readonly Dispatch[],
    options: TimingOptions = {},
  ): Promise<number> {
    const repeats = options.repeats ?? 8, trials = options.trials ?? 3;
    if (!Number.isInteger(repeats) || repeats < 1 || !Number.isInteger(trials) || trials < 1) {
      throw new RangeError(
        `Cannot time dispatches: repeats ${repeats} and trials ${trials} must be positive integers`,
      );
    }
    // Warm-up: the first run of a pipeline pays for the driver's lazy setup.
    this.#runtime.run(dispatches);
    await this.#runtime.sync();
    const samples: number[] = [];
    for (let t = 0; t < trials; t++) {
      samples.push(
        this.method === "timestamp"
          ? await this.#timestamped(dispatches, repeats) / repeats
          : (await this.#wall(dispatches, 1 + repeats) - await this.#wall(dispatches, 1)) /
            repeats,
      );
    }
    samples.sort((a, b) => a - b);
    return Math.max(0, samples[Math.floor(samples.length / 2)]);
  }

  /** Frees the query set and its buffers. */
  destroy(): void {
    this.#querySet?.destroy();
    this.#resolve?.destroy();
    this.#staging?.destroy();
    this.#querySet = this.#resolve = this.#staging = undefined;
  }

  async #wall(dispatches: readonly Dispatch[], copies: number): Promise<number> {
    const start = performance.now();
    this.#runtime.run(Array.from({ length: copies }, () => dispatches).flat());
    await this.#runtime.sync();
    return performance.now() - start;
  }

  async #timestamped(dispatches: readonly Dispatch[], copies: number): Promise<number> {
    const runtime = this.#runtime, device = runtime.device;
    runtime.context.assertAlive("time kernels");
    const querySet = this.#querySet ??= device.createQuerySet({ type: "timestamp", count: 2 });
    const resolve = this.#resolve ??= device.createBuffer({
      size: 16,
      usage: QUERY_RESOLVE | COPY_SRC,
    });
    const staging = this.#staging ??= device.createBuffer({
      size: 16,
      usage: MAP_READ | COPY_DST,
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({
      timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    for (let c = 0; c < copies; c++) {
      for (const d of dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
      }
    }
    pass.end();
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, 16);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MAP_READ);
    try {
      const [begin, end] = new BigUint64Array(staging.getMappedRange(0, 16));
      return Number(end - begin) / 1e6;
    } finally {
      staging.unmap();
    }
  }
}
