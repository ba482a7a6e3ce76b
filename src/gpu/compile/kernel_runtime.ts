/**
 * The thin layer between generated kernels and a device: pipelines created asynchronously and
 * de-duplicated by WGSL hash, bind groups from binding-number maps, buffer upload and
 * readback, and compile errors surfaced as `compile` {@link GpuError}s.
 *
 * @example
 * ```ts ignore
 * const rt = new KernelRuntime(ctx);
 * const pipeline = await rt.pipeline(elementwiseKernel("add"));
 * ```
 *
 * @module
 */
import { GpuError } from "../device/gpu_error.ts";
import type { GpuContext } from "../device/gpu_context.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";

/** One recorded or immediate dispatch. */
export interface Dispatch {
  /** Compiled pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Bind group 0. */
  readonly bindGroup: GPUBindGroup;
  /** Workgroup counts. */
  readonly grid: readonly [number, number, number];
  /** Kernel name, for profiles. */
  readonly label: string;
}

/** Storage usage for kernel inputs and outputs. */
export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x8 /* COPY_DST */ | 0x4 /* COPY_SRC */;

/** Pipelines, bind groups and buffers for one {@link GpuContext}. */
export class KernelRuntime {
  /** The context whose device this runtime uses. */
  readonly context: GpuContext;
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  #created = 0;
  #lookups = 0;
  #syncBuffer: GPUBuffer | undefined;

  /**
   * Creates a runtime for `context`. Pipelines compile concurrently on every provider (Dawn's
   * GL ES included, since the context keeps Dawn's `GPU` object alive; see
   * `acquireGpuContext`).
   */
  constructor(context: GpuContext) {
    this.context = context;
  }

  /** The device. */
  get device(): GPUDevice {
    return this.context.device;
  }

  /** Distinct pipelines created by this runtime. */
  get pipelinesCreated(): number {
    return this.#created;
  }

  /**
   * Calls of {@link pipeline} (lookups by WGSL hash). Dispatch of a warmed kernel set's
   * kernels MUST NOT add to it: each set entry carries its own pipeline.
   */
  get pipelineLookups(): number {
    return this.#lookups;
  }

  /**
   * The pipeline for `source`, created with `createComputePipelineAsync` once per distinct
   * WGSL. Rejects with a `compile` {@link GpuError} carrying the shader diagnostics.
   */
  pipeline(source: KernelSource): Promise<GPUComputePipeline> {
    this.#lookups++;
    const cached = this.#pipelines.get(source.hash);
    if (cached) return cached;
    const promise = this.#compile(source);
    this.#pipelines.set(source.hash, promise);
    promise.catch(() => this.#pipelines.delete(source.hash));
    return promise;
  }

  /** `true` when a pipeline for this WGSL was already requested in this process. */
  hasPipeline(source: KernelSource): boolean {
    return this.#pipelines.has(source.hash);
  }

  async #compile(source: KernelSource): Promise<GPUComputePipeline> {
    this.context.assertAlive(`compile kernel ${source.name}`);
    const device = this.device;
    // The scope brackets only the synchronous createShaderModule call, so concurrent compiles
    // never see each other's errors; pipeline failures arrive as rejections.
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: source.code, label: source.name });
    const moduleError = device.popErrorScope();
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint: source.entryPoint },
        label: source.name,
      });
    } catch (cause) {
      await moduleError;
      throw new GpuError(
        "compile",
        `Cannot compile kernel ${source.name}: ${await diagnostics(module, cause)}`,
        { cause },
      );
    }
    const error = await moduleError;
    if (error) {
      throw new GpuError("compile", `Cannot compile kernel ${source.name}: ${error.message}`, {
        cause: error,
      });
    }
    this.#created++;
    return pipeline;
  }

  /** A bind group for `pipeline` from `{binding: buffer}`. */
  bindGroup(
    pipeline: GPUComputePipeline,
    buffers: Readonly<Record<number, GPUBuffer>>,
    label?: string,
  ): GPUBindGroup {
    return this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: Object.entries(buffers).map(([binding, buffer]) => ({
        binding: Number(binding),
        resource: { buffer },
      })),
    });
  }

  /** A storage buffer holding `data` (padded to 16 bytes), or `bytes` zeroed bytes. */
  buffer(data: ArrayBufferView | number, label?: string, usage = STORAGE_USAGE): GPUBuffer {
    const bytes = typeof data === "number" ? data : data.byteLength;
    const buffer = this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage,
      label,
    });
    if (typeof data !== "number") {
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    return buffer;
  }

  /** A 16-byte uniform buffer holding up to four u32 values. */
  uniform(values: readonly number[], label?: string): GPUBuffer {
    const data = new Uint32Array(4);
    data.set(values);
    return this.buffer(data, label, 0x40 /* UNIFORM */ | 0x8 /* COPY_DST */);
  }

  /** Encodes dispatches into one compute pass on `encoder`. */
  encode(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[]): void {
    const pass = encoder.beginComputePass();
    for (const d of dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
    }
    pass.end();
  }

  /** Runs dispatches in one submit. */
  run(dispatches: readonly Dispatch[]): void {
    this.context.assertAlive("run kernels");
    const encoder = this.device.createCommandEncoder();
    this.encode(encoder, dispatches);
    this.device.queue.submit([encoder.finish()]);
  }

  /**
   * Resolves when all submitted work has finished: a 4-byte readback through {@link read}, so
   * sync and readback share one completion path on every provider.
   */
  async sync(): Promise<void> {
    this.#syncBuffer ??= this.device.createBuffer({
      size: 16,
      usage: STORAGE_USAGE,
      label: "sync",
    });
    await this.read(this.#syncBuffer, 4);
  }

  /** Destroys the runtime's own helper buffers (pipelines need no cleanup). */
  destroy(): void {
    this.#syncBuffer?.destroy();
    this.#syncBuffer = undefined;
  }

  /** Copies `bytes` of `buffer` back to the host (one staging buffer, destroyed after). */
  async read(buffer: GPUBuffer, bytes = buffer.size, offset = 0): Promise<ArrayBuffer> {
    this.context.assertAlive("read a buffer");
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: 0x1 /* MAP_READ */ | 0x8, /* COPY_DST */
    });
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(0x1 /* READ */);
      return staging.getMappedRange().slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  /** Reads `count` f32 values. */
  async readF32(buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, count * 4, offset));
  }

  /** Reads `count` u32 values. */
  async readU32(buffer: GPUBuffer, count: number, offset = 0): Promise<Uint32Array> {
    return new Uint32Array(await this.read(buffer, count * 4, offset));
  }
}

async function diagnostics(module: GPUShaderModule, cause: unknown): Promise<string> {
  const info = await module.getCompilationInfo?.().catch(() => undefined);
  const lines = info?.messages.filter((m) => m.type === "error").map((m) =>
    `${m.lineNum}:${m.linePos} ${m.message}`
  );
  return lines?.length ? lines.join("; ") : String((cause as Error)?.message ?? cause);
}
