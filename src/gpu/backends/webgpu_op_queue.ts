/**
 * The op queue of the WebGPU backends, in one of two modes. Queued (the default): ops append
 * dispatches and copies, their uniforms and temporaries come from a {@link BufferPool}, and
 * everything is encoded into one submit at the next `read` (or plan run), after which the
 * buffers return to the pool. Capturing (inside {@link WebGpuOpQueue.capture}): the same ops
 * are recorded into a {@link DecodePlan} instead; their buffers stay out of the pool until the
 * plan is destroyed, and bind groups are built once. A dispatched kernel is either a warmed
 * kernel set's entry, whose own pipeline is encoded as is (no lookup by WGSL hash), or a bare
 * `KernelSource` (backends created without a set), whose pipeline the runtime looks up
 * by hash (compiling it once).
 *
 * @example
 * ```ts ignore
 * const queue = new WebGpuOpQueue(runtime, { name: "webgpu" });
 * queue.dispatch(elementwiseKernel("add"), { 0: queue.uniform([n]), 1: a, 2: b, 3: out }, grid);
 * const data = await queue.afterSubmit(() => runtime.readF32(out, n));
 * const plan = await queue.capture(() => queue.dispatch(source, bindings, grid), { history, tokens: 1, maxSteps: 8 });
 * queue.destroy();
 * ```
 *
 * @module
 */
import { BufferPool } from "../device/buffer_pool.ts";
import { DecodePlan, encodePlanSteps, type PlanStep } from "../ops/decode_plan.ts";
import { type KernelRuntime, STORAGE_USAGE } from "../compile/kernel_runtime.ts";
import type { QueuedKernel } from "../compile/kernel_set.ts";

export type { QueuedKernel } from "../compile/kernel_set.ts";

/** A queued or recorded op step, before its bind group exists. */
type OpStep =
  | {
    kind: "dispatch";
    kernel: QueuedKernel;
    bindings: Record<number, GPUBuffer>;
    grid: [number, number, number];
  }
  | { kind: "copy"; from: GPUBuffer; to: GPUBuffer; bytes: number };

interface Recording {
  readonly steps: OpStep[];
  readonly buffers: GPUBuffer[];
}

const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x8; /* COPY_DST */

/** Queues or records the ops of one backend. */
export class WebGpuOpQueue {
  #runtime: KernelRuntime;
  #name: string;
  #pool: BufferPool;
  #ownsPool: boolean;
  #steps: OpStep[] = [];
  #transient: GPUBuffer[] = [];
  #recording: Recording | undefined;
  /** Buffer lists of live plans and of captures still compiling. */
  #held = new Set<GPUBuffer[]>();
  #plans = new Set<DecodePlan>();
  #destroyed = false;

  /**
   * A queue for the backend `name`. Without `pool` it owns (and destroys) a pool of its own;
   * an injected pool only gets its buffers back, and is never destroyed.
   */
  constructor(runtime: KernelRuntime, options: { name: string; pool?: BufferPool }) {
    this.#runtime = runtime;
    this.#name = options.name;
    this.#ownsPool = !options.pool;
    this.#pool = options.pool ?? new BufferPool(runtime.device);
  }

  /** Ops queued and not yet submitted. */
  get pending(): number {
    return this.#steps.length;
  }

  /** Plans captured on this queue and not yet destroyed. */
  get livePlans(): number {
    return this.#plans.size;
  }

  /** Queues (or records) a dispatch of `kernel` (see {@link QueuedKernel}). */
  dispatch(
    kernel: QueuedKernel,
    bindings: Record<number, GPUBuffer>,
    grid: [number, number, number],
  ): void {
    this.#target().push({ kind: "dispatch", kernel, bindings, grid });
  }

  /** Queues (or records) a copy of the first `bytes` of `from` into `to`. */
  copy(from: GPUBuffer, to: GPUBuffer, bytes: number): void {
    this.#target().push({ kind: "copy", from, to, bytes });
  }

  /** A pooled 16-byte uniform holding `values`, for the current flush or captured plan. */
  uniform(values: number[]): GPUBuffer {
    const b = this.#hold(this.#pool.acquire(16, UNIFORM_USAGE, "uniform"));
    const data = new Uint32Array(4);
    data.set(values);
    this.#runtime.device.queue.writeBuffer(b, 0, data);
    return b;
  }

  /** A pooled storage temporary of at least `bytes`, for the current flush or captured plan. */
  temp(bytes: number): GPUBuffer {
    return this.#hold(this.#pool.acquire(bytes, STORAGE_USAGE, "temp"));
  }

  /**
   * Writes `data` into `buffer` in order with the queue: at once when nothing is queued, else
   * through a pooled staging buffer and a queued copy. Throws `TypeError` while capturing.
   */
  write(buffer: GPUBuffer, data: Float32Array | Uint32Array): void {
    this.assertNotCapturing("write a tensor");
    const device = this.#runtime.device;
    if (!this.#steps.length) {
      device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      return;
    }
    const staging = this.temp(data.byteLength);
    device.queue.writeBuffer(staging, 0, data.buffer, data.byteOffset, data.byteLength);
    this.copy(staging, buffer, data.byteLength);
  }

  /** Throws `TypeError` naming `action` while a capture is recording. */
  assertNotCapturing(action: string): void {
    if (this.#recording) {
      throw new TypeError(
        `Cannot ${action} while capturing a decode plan on ${this.#name}: the plan replays ops, ` +
          "not host transfers (write inputs before DecodePlan.run, read its result)",
      );
    }
  }

  /**
   * Submits the queued ops, then runs `then` (a readback, which completes after them) and
   * returns the ops' buffers to the pool once it settles.
   */
  async afterSubmit<T>(then: () => Promise<T>): Promise<T> {
    const used = await this.#submit();
    try {
      return await then();
    } finally {
      this.#release(used);
    }
  }

  /** Submits the queued ops and waits for them (nothing to do when none are queued). */
  async flush(): Promise<void> {
    if (this.#steps.length) await this.afterSubmit(() => this.#runtime.sync());
  }

  /**
   * Records the ops `step` queues into a plan over `history` (see `CapturingBackend.capture`).
   * Throws `TypeError` synchronously when ops are queued, a capture is recording, the queue
   * was destroyed, or `step` records no dispatch.
   */
  capture(
    step: () => void,
    options: { history: GPUBuffer; tokens: number; maxSteps: number },
  ): Promise<DecodePlan> {
    const refuse = (why: string) => new TypeError(`Cannot capture a decode plan: ${why}`);
    if (this.#destroyed) throw refuse(`the ${this.#name} backend was destroyed`);
    if (this.#recording) throw refuse("another capture is recording (captures do not nest)");
    if (this.#steps.length) {
      throw refuse(`${this.#steps.length} queued ops are not flushed (read a tensor first)`);
    }
    const recording: Recording = { steps: [], buffers: [] };
    this.#held.add(recording.buffers);
    this.#recording = recording;
    try {
      step();
    } catch (error) {
      this.#free(recording.buffers);
      throw error;
    } finally {
      this.#recording = undefined;
    }
    if (!recording.steps.some((s) => s.kind === "dispatch")) {
      this.#free(recording.buffers);
      throw refuse("the step recorded no op");
    }
    return this.#finishCapture(recording, options);
  }

  /**
   * Destroys live plans (returning their buffers), returns queued ops' buffers, and destroys
   * the pool if the queue owns it. Later plan runs throw; later `destroy` calls of plans do
   * nothing.
   */
  destroy(): void {
    this.#destroyed = true;
    for (const plan of [...this.#plans]) plan.destroy();
    for (const buffers of [...this.#held]) this.#free(buffers);
    this.#release(this.#transient);
    this.#transient = [];
    this.#steps = [];
    if (this.#ownsPool) this.#pool.destroy();
  }

  async #finishCapture(
    recording: Recording,
    options: { history: GPUBuffer; tokens: number; maxSteps: number },
  ): Promise<DecodePlan> {
    try {
      const steps = await this.#resolve(recording.steps);
      if (this.#destroyed) {
        throw new TypeError(
          `Cannot capture a decode plan: the ${this.#name} backend was destroyed while it compiled`,
        );
      }
      const plan: DecodePlan = new DecodePlan(this.#runtime, steps, {
        ...options,
        beforeRun: () => this.flush(),
        onDestroy: () => {
          this.#plans.delete(plan);
          this.#free(recording.buffers);
        },
      });
      this.#plans.add(plan);
      return plan;
    } catch (error) {
      this.#free(recording.buffers);
      throw error;
    }
  }

  #target(): OpStep[] {
    return this.#recording?.steps ?? this.#steps;
  }

  #hold(buffer: GPUBuffer): GPUBuffer {
    (this.#recording?.buffers ?? this.#transient).push(buffer);
    return buffer;
  }

  /**
   * Pipelines and bind groups for `steps`: a compiled kernel's own pipeline, else the
   * runtime's (by WGSL hash; awaited only when some step needs it).
   */
  async #resolve(steps: readonly OpStep[]): Promise<PlanStep[]> {
    const bare = steps.map((s) =>
      s.kind === "dispatch" && !("pipeline" in s.kernel)
        ? this.#runtime.pipeline(s.kernel)
        : undefined
    );
    const looked = bare.some((p) => p) ? await Promise.all(bare) : bare;
    return steps.map((s, i): PlanStep => {
      if (s.kind === "copy") return s;
      const k = s.kernel;
      const [pipeline, source] = "pipeline" in k
        ? [k.pipeline, k.source]
        : [looked[i] as GPUComputePipeline, k];
      return {
        kind: "dispatch",
        dispatch: {
          pipeline,
          bindGroup: this.#runtime.bindGroup(pipeline, s.bindings, source.name),
          grid: s.grid,
          label: source.name,
        },
      };
    });
  }

  /** Encodes and submits the queued ops; returns their buffers (to release once they ran). */
  async #submit(): Promise<GPUBuffer[]> {
    const queued = this.#steps, used = this.#transient;
    this.#steps = [];
    this.#transient = [];
    if (!queued.length) return used;
    try {
      const steps = await this.#resolve(queued);
      this.#runtime.context.assertAlive(`run ${this.#name} ops`);
      const encoder = this.#runtime.device.createCommandEncoder();
      encodePlanSteps(encoder, steps);
      this.#runtime.device.queue.submit([encoder.finish()]);
      return used;
    } catch (error) {
      this.#release(used);
      throw error;
    }
  }

  #release(buffers: readonly GPUBuffer[]): void {
    // An owned pool destroyed its buffers already; an injected one takes them back.
    if (this.#destroyed && this.#ownsPool) return;
    for (const b of buffers) this.#pool.release(b);
  }

  #free(buffers: GPUBuffer[]): void {
    if (this.#held.delete(buffers)) this.#release(buffers);
  }
}
