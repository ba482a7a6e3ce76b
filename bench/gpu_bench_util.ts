/**
 * Timing helpers shared by the GPU benchmarks: a dispatch timer (several dispatches per submit,
 * median over trials, synchronised by a readback) and the copy-kernel bandwidth baseline that
 * GEMV bandwidth is compared with.
 */
import type { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import { defineKernel, type KernelSource } from "../src/gpu/kernels/kernel_source.ts";
import { DispatchTimer } from "../src/gpu/compile/dispatch_timer.ts";

/** Median of `xs`. */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

const timers = new WeakMap<KernelRuntime, DispatchTimer>();

/** The device timer shared by the benchmarks of one runtime (see `src/gpu/compile/dispatch_timer.ts`). */
export function benchTimer(rt: KernelRuntime): DispatchTimer {
  let timer = timers.get(rt);
  if (!timer) timers.set(rt, timer = new DispatchTimer(rt));
  return timer;
}

/**
 * Milliseconds per dispatch measured on the device: `repeats` dispatches per timed submit,
 * median over `trials`, without the readback cost (GPU timestamps, or the slope of two submit
 * sizes where timestamps are missing).
 */
export async function timeDispatch(
  rt: KernelRuntime,
  source: KernelSource,
  bindings: Record<number, GPUBuffer>,
  grid: [number, number, number],
  o: { repeats: number; trials: number },
): Promise<number> {
  const pipeline = await rt.pipeline(source);
  const d = { pipeline, bindGroup: rt.bindGroup(pipeline, bindings), grid, label: source.name };
  return await benchTimer(rt).msPerDispatch([d], o);
}

const COPY = defineKernel(
  "copy",
  { wg: [256] },
  `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let i = g.x + g.y * n.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`,
);

/** Bandwidth of a plain vec4 copy of `bytes` (read + written), in GB/s. */
export async function copyBandwidth(
  rt: KernelRuntime,
  bytes: number,
  trials: number,
): Promise<{ ms: number; gbs: number }> {
  const src = rt.buffer(bytes), dst = rt.buffer(bytes);
  try {
    const groups = Math.ceil(bytes / 16 / 256);
    const ms = await timeDispatch(
      rt,
      COPY,
      { 0: src, 1: dst },
      [Math.min(65535, groups), Math.ceil(groups / 65535), 1],
      { repeats: 4, trials },
    );
    return { ms, gbs: (2 * bytes) / (ms * 1e6) };
  } finally {
    src.destroy();
    dst.destroy();
  }
}
