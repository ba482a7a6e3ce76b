/**
 * The recorded decode plan — WebGPU's analogue of a captured CUDA graph. Command buffers cannot
 * be resubmitted, so a plan records the step list once per bucket (pipelines, bind groups
 * over static buffers, workgroup counts, and buffer copies) and re-encodes it each step
 * (~1 µs per dispatch). Per-step host inputs are written with `writeBuffer` before replay
 * (vLLM's `make_copy_and_call`); the sampled token is fed back on the GPU (the sampler writes
 * the ids buffer that the next step's embedding gather reads, and the decode-advance kernel
 * moves positions and the step counter), so K steps go in one submit with one readback.
 *
 * Plans come from {@link PlanRecorder} (hand-recorded kernels) or from a capturing backend
 * (`CapturingBackend.capture`), which records a step written against backend ops.
 *
 * @example
 * ```ts ignore
 * const recorder = new PlanRecorder(runtime);
 * await recorder.record(embeddingKernel({ dtype: "f32", dim }), { 0: uni, 1: ids, 2: table, 4: hidden }, grid);
 * const plan = recorder.finish({ history, tokens: 1, maxSteps: 64 });
 * const tokens = await plan.run(8); // 8 steps, 1 submit, 1 readback
 * plan.destroy();
 * ```
 *
 * @module
 */
import type { Dispatch, KernelRuntime } from "../compile/kernel_runtime.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";

/**
 * One recorded step: a dispatch, or a buffer-to-buffer copy (which ends the compute pass; the
 * next dispatch begins a new one).
 */
export type PlanStep =
  | { readonly kind: "dispatch"; readonly dispatch: Dispatch }
  | {
    readonly kind: "copy";
    readonly from: GPUBuffer;
    readonly to: GPUBuffer;
    /** Bytes copied from offset 0 of `from` to offset 0 of `to` (a multiple of 4). */
    readonly bytes: number;
  };

/** Where a plan's sampled ids go, and what it does around a run and at the end of its life. */
export interface DecodePlanOptions {
  /** u32 `[maxSteps, tokens]`; the advance kernel writes row `step` each step. */
  readonly history: GPUBuffer;
  /** Ids sampled per step. */
  readonly tokens: number;
  /** Rows of `history`. */
  readonly maxSteps: number;
  /**
   * Submits work that MUST precede the plan's (ops a backend queued before the run); awaited
   * at the start of each {@link DecodePlan.run}.
   */
  readonly beforeRun?: () => Promise<void>;
  /** Frees what the plan owns (uniforms, temporaries); called once by {@link DecodePlan.destroy}. */
  readonly onDestroy?: () => void;
}

/** Records dispatches with their static bind groups. */
export class PlanRecorder {
  #runtime: KernelRuntime;
  #steps: PlanStep[] = [];

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
    this.#steps.push({
      kind: "dispatch",
      dispatch: {
        pipeline,
        bindGroup: this.#runtime.bindGroup(pipeline, bindings, source.name),
        grid: [...grid] as [number, number, number],
        label: source.name,
      },
    });
  }

  /** Appends a copy of the first `bytes` of `from` into `to`. */
  copy(from: GPUBuffer, to: GPUBuffer, bytes: number): void {
    this.#steps.push({ kind: "copy", from, to, bytes });
  }

  /** Ends the recording. `history` receives `tokens` u32 ids per step (up to `maxSteps`). */
  finish(options: DecodePlanOptions): DecodePlan {
    return new DecodePlan(this.#runtime, [...this.#steps], options);
  }
}

/** A replayable decode step. */
export class DecodePlan {
  /** The recorded steps of one decode step, in order. */
  readonly steps: readonly PlanStep[];
  /** Ids sampled per step. */
  readonly tokens: number;
  /** Steps the history holds between resets. */
  readonly maxSteps: number;
  #runtime: KernelRuntime;
  #options: DecodePlanOptions;
  #stepsSinceReset = 0;
  #destroyed = false;

  /** Use {@link PlanRecorder.finish} or `CapturingBackend.capture`. */
  constructor(runtime: KernelRuntime, steps: readonly PlanStep[], options: DecodePlanOptions) {
    for (const key of ["tokens", "maxSteps"] as const) {
      if (!Number.isInteger(options[key]) || options[key] <= 0) {
        throw new RangeError(
          `Cannot build a decode plan: ${key} = ${options[key]} is not positive`,
        );
      }
    }
    if (!steps.some((s) => s.kind === "dispatch")) {
      throw new RangeError("Cannot build a decode plan: it records no dispatch");
    }
    this.#runtime = runtime;
    this.steps = steps;
    this.tokens = options.tokens;
    this.maxSteps = options.maxSteps;
    this.#options = options;
  }

  /** `true` once {@link DecodePlan.destroy} ran (directly or through its backend's `destroy`). */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Steps run since the last reset (the history row the next step writes). */
  get stepsRun(): number {
    return this.#stepsSinceReset;
  }

  /** Writes a per-step host input into a static buffer (before the next {@link DecodePlan.run}). */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.#assertUsable("write a decode plan input");
    this.#runtime.device.queue.writeBuffer(
      buffer,
      offset,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /**
   * Marks the history as empty again. The caller MUST also reset the GPU step counter (the
   * `state[0]` the advance kernel increments) to 0, since the plan reads history rows from
   * its own count.
   */
  resetHistory(): void {
    this.#stepsSinceReset = 0;
  }

  /**
   * Encodes `steps` copies of the step into one command buffer, submits once and reads the
   * ids of those steps back once: `[steps, tokens]`. A caller that finds EOS mid-batch discards
   * the surplus. Throws `RangeError` past `maxSteps` since the last reset and `TypeError` once
   * destroyed.
   */
  async run(steps: number): Promise<Uint32Array> {
    this.#assertUsable("run a decode plan");
    if (!Number.isInteger(steps) || steps <= 0) {
      throw new RangeError(`Cannot run ${steps} steps: need a positive integer`);
    }
    if (this.#stepsSinceReset + steps > this.maxSteps) {
      throw new RangeError(
        `Cannot run ${steps} steps: history holds ${this.maxSteps - this.#stepsSinceReset} more`,
      );
    }
    // Reserve the rows now (a concurrent run starts after them); give them back if nothing
    // was submitted.
    const first = this.#stepsSinceReset;
    this.#stepsSinceReset += steps;
    try {
      await this.#options.beforeRun?.();
      this.#assertUsable("run a decode plan");
      this.#runtime.context.assertAlive("run a decode plan");
      this.#runtime.device.queue.submit([this.#encode(steps)]);
    } catch (error) {
      if (this.#stepsSinceReset === first + steps) this.#stepsSinceReset = first;
      throw error;
    }
    return await this.#runtime.readU32(
      this.#options.history,
      steps * this.tokens,
      first * this.tokens * 4,
    );
  }

  /**
   * Frees what the plan owns (a captured plan's uniforms and temporaries). Idempotent; the plan
   * MUST NOT run afterwards. Buffers the plan only binds (weights, activations, the history)
   * belong to whoever created them.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#options.onDestroy?.();
  }

  #encode(steps: number): GPUCommandBuffer {
    const encoder = this.#runtime.device.createCommandEncoder();
    encodePlanSteps(encoder, this.steps, steps);
    return encoder.finish();
  }

  #assertUsable(action: string): void {
    if (this.#destroyed) throw new TypeError(`Cannot ${action}: the plan was destroyed`);
  }
}

/**
 * Encodes `steps` onto `encoder` `repeats` times: consecutive dispatches share one compute
 * pass; a copy ends the pass and the next dispatch begins a new one.
 */
export function encodePlanSteps(
  encoder: GPUCommandEncoder,
  steps: readonly PlanStep[],
  repeats = 1,
): void {
  let pass: GPUComputePassEncoder | undefined;
  for (let r = 0; r < repeats; r++) {
    for (const step of steps) {
      if (step.kind === "copy") {
        pass?.end();
        pass = undefined;
        encoder.copyBufferToBuffer(step.from, 0, step.to, 0, step.bytes);
        continue;
      }
      const d = step.dispatch;
      pass ??= encoder.beginComputePass();
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
    }
  }
  pass?.end();
}
