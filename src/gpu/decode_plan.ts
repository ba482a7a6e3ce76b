/**
 * The recorded decode plan — WebGPU's analogue of a captured CUDA graph. Command buffers cannot
 * be resubmitted, so a plan records the dispatch list once per bucket (pipelines, bind groups
 * over static buffers, workgroup counts) and re-encodes it each step (~1 µs per dispatch).
 * Per-step host inputs are written with `writeBuffer` before replay (vLLM's
 * `make_copy_and_call`); the sampled token is fed back on the GPU (the sampler writes the ids
 * buffer that the next step's embedding gather reads, and a decode-advance kernel moves
 * positions, slots and the step counter), so K steps go in one submit with one readback.
 *
 * @example
 * ```ts ignore
 * const recorder = new PlanRecorder(runtime);
 * await recorder.record(embeddingKernel({ dtype: "f32", dim }), { 0: uni, 1: ids, 2: table, 4: hidden }, grid);
 * const plan = recorder.finish({ history, tokens: 1, maxSteps: 64 });
 * const tokens = await plan.run(8); // 8 steps, 1 submit, 1 readback
 * ```
 */
import type { Dispatch, KernelRuntime } from "./kernel_runtime.ts";
import type { KernelSource } from "./kernels/kernel_source.ts";

/** Records dispatches with their static bind groups. */
export class PlanRecorder {
  #runtime: KernelRuntime;
  #dispatches: Dispatch[] = [];

  /** Starts an empty recording on `runtime`. */
  constructor(runtime: KernelRuntime) {
    this.#runtime = runtime;
  }

  /** Compiles `source` (cached) and appends a dispatch over `bindings` with `grid`. */
  async record(
    source: KernelSource,
    bindings: Readonly<Record<number, GPUBuffer>>,
    grid: readonly [number, number, number],
  ): Promise<void> {
    const pipeline = await this.#runtime.pipeline(source);
    this.#dispatches.push({
      pipeline,
      bindGroup: this.#runtime.bindGroup(pipeline, bindings, source.name),
      grid: [...grid] as [number, number, number],
      label: source.name,
    });
  }

  /** Ends the recording. `history` receives `tokens` u32 ids per step (up to `maxSteps`). */
  finish(options: { history: GPUBuffer; tokens: number; maxSteps: number }): DecodePlan {
    return new DecodePlan(this.#runtime, [...this.#dispatches], options);
  }
}

/** A replayable decode step. */
export class DecodePlan {
  /** The recorded dispatches of one step. */
  readonly dispatches: readonly Dispatch[];
  #runtime: KernelRuntime;
  #history: GPUBuffer;
  #tokens: number;
  #maxSteps: number;
  #stepsSinceReset = 0;

  /** Use {@link PlanRecorder.finish}. */
  constructor(
    runtime: KernelRuntime,
    dispatches: readonly Dispatch[],
    options: { history: GPUBuffer; tokens: number; maxSteps: number },
  ) {
    this.#runtime = runtime;
    this.dispatches = dispatches;
    this.#history = options.history;
    this.#tokens = options.tokens;
    this.#maxSteps = options.maxSteps;
  }

  /** Writes a per-step host input into a static buffer (before the next {@link DecodePlan.run}). */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.#runtime.device.queue.writeBuffer(
      buffer,
      offset,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Marks the history as empty again (the caller also resets the GPU step counter). */
  resetHistory(): void {
    this.#stepsSinceReset = 0;
  }

  /**
   * Encodes `steps` copies of the step into one command buffer, submits once and reads the
   * ids of those steps back once: `[steps, tokens]`. A caller that finds EOS mid-batch discards
   * the surplus. Throws `RangeError` past `maxSteps` since the last reset.
   */
  async run(steps: number): Promise<Uint32Array> {
    if (this.#stepsSinceReset + steps > this.#maxSteps) {
      throw new RangeError(
        `Cannot run ${steps} steps: history holds ${this.#maxSteps - this.#stepsSinceReset} more`,
      );
    }
    this.#runtime.context.assertAlive("run a decode plan");
    const encoder = this.#runtime.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let s = 0; s < steps; s++) {
      for (const d of this.dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
      }
    }
    pass.end();
    this.#runtime.device.queue.submit([encoder.finish()]);
    const first = this.#stepsSinceReset;
    this.#stepsSinceReset += steps;
    return await this.#runtime.readU32(
      this.#history,
      steps * this.#tokens,
      first * this.#tokens * 4,
    );
  }
}
