/** Test helper: uploads host arrays, runs one or more kernels, reads results, frees buffers. */
import { type Dispatch, KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import type { GpuContext } from "../../src/gpu/device/gpu_context.ts";
import type { KernelSource } from "../../src/gpu/kernels/kernel_source.ts";
import { type HostWeight, packWeight } from "../../src/gpu/kernels/host_weight.ts";

/** Buffers created through a harness are destroyed by {@link KernelHarness.dispose}. */
export class KernelHarness {
  readonly rt: KernelRuntime;
  #buffers: GPUBuffer[] = [];

  constructor(context: GpuContext) {
    this.rt = new KernelRuntime(context);
  }

  /** Storage buffer from data or a byte size. */
  buf(data: ArrayBufferView | number): GPUBuffer {
    const b = this.rt.buffer(data);
    this.#buffers.push(b);
    return b;
  }

  /** Uniform buffer. */
  uni(values: number[]): GPUBuffer {
    const b = this.rt.uniform(values);
    this.#buffers.push(b);
    return b;
  }

  /** Weight bindings {2: words, 3: scales} for a host weight. */
  weight(w: HostWeight): Record<number, GPUBuffer> {
    const p = packWeight(w);
    return p.scales ? { 2: this.buf(p.data), 3: this.buf(p.scales) } : { 2: this.buf(p.data) };
  }

  /** Compiles and dispatches kernels in order, in one submit. */
  async run(
    steps: readonly {
      kernel: KernelSource;
      bindings: Record<number, GPUBuffer>;
      grid: readonly [number, number, number];
    }[],
  ): Promise<void> {
    const dispatches: Dispatch[] = [];
    for (const s of steps) {
      const pipeline = await this.rt.pipeline(s.kernel);
      dispatches.push({
        pipeline,
        bindGroup: this.rt.bindGroup(pipeline, s.bindings),
        grid: s.grid,
        label: s.kernel.name,
      });
    }
    this.rt.run(dispatches);
  }

  f32(buffer: GPUBuffer, n: number): Promise<Float32Array> {
    return this.rt.readF32(buffer, n);
  }

  u32(buffer: GPUBuffer, n: number): Promise<Uint32Array> {
    return this.rt.readU32(buffer, n);
  }

  dispose(): void {
    for (const b of this.#buffers) b.destroy();
    this.#buffers = [];
  }
}
