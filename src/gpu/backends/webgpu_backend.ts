/**
 * The WebGPU backends. `webgpu-eager` runs one unfused kernel per op (separate add and
 * RMSNorm, matmul then SiLU·up) with default tuning; `webgpu` uses the fused kernels
 * (residual+norm, gate+up+SiLU epilogue) and the tuned configuration of a compile cache when
 * one is given. Ops are queued and encoded into one submit at the next `read`; the fast path
 * for decode is the recorded {@link DecodePlan}, not this op-at-a-time interface. Uniforms and
 * temporaries of queued ops come from a {@link BufferPool} and return to it after each flush,
 * so a steady stream of ops creates no new buffers. The decode-path ops (KV append, paged
 * attention, sampling) live in `webgpu_decode_ops.ts`.
 *
 * @example
 * ```ts ignore
 * const backend = createWebGpuBackend(runtime, { fused: true });
 * ```
 */
import { assertOwned, type Backend, type Tensor } from "../backend.ts";
import { type HostWeight, packWeight } from "../host_weight.ts";
import type { KernelRuntime } from "../kernel_runtime.ts";
import type { KernelSource, WeightDType } from "../kernels/kernel_source.ts";
import { gemvGrid, gemvKernel, type MatmulEpilogue } from "../kernels/gemv.ts";
import { gemmGrid, gemmKernel } from "../kernels/gemm.ts";
import { rmsnormKernel, rowGrid } from "../kernels/rmsnorm.ts";
import { ropeGrid, ropeKernel } from "../kernels/rope.ts";
import { elementwiseGrid, elementwiseKernel } from "../kernels/elementwise.ts";
import { argmaxKernel } from "../kernels/argmax.ts";
import { embeddingGrid, embeddingKernel } from "../kernels/embedding.ts";
import { softmaxKernel } from "../kernels/softmax.ts";
import { BufferPool } from "../buffer_pool.ts";
import { STORAGE_USAGE } from "../kernel_runtime.ts";
import { createWebGpuDecodeOps } from "./webgpu_decode_ops.ts";

interface GpuTensor extends Tensor {
  buffer: GPUBuffer;
  scales?: GPUBuffer;
  dtype?: WeightDType;
}

type Step =
  | {
    kind: "dispatch";
    source: KernelSource;
    bindings: Record<number, GPUBuffer>;
    grid: [number, number, number];
  }
  | { kind: "copy"; from: GPUBuffer; to: GPUBuffer; bytes: number };

/** Options of {@link createWebGpuBackend}. */
export interface WebGpuBackendOptions {
  /** Use fused kernels (`webgpu`) or one kernel per op (`webgpu-eager`). */
  readonly fused: boolean;
  /**
   * Pool for per-op uniforms and temporaries. Default: a pool owned (and destroyed) by the
   * backend; an injected pool is only drained of this backend's buffers, never destroyed.
   */
  readonly pool?: BufferPool;
}

const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x8; /* COPY_DST */

/** Creates a `webgpu` (fused) or `webgpu-eager` backend on `runtime`. */
export function createWebGpuBackend(
  runtime: KernelRuntime,
  options: WebGpuBackendOptions,
): Backend {
  const name = options.fused ? "webgpu" : "webgpu-eager";
  const owned = new Set<GPUBuffer>();
  let steps: Step[] = [];
  let transient: GPUBuffer[] = [];
  const pool = options.pool ?? new BufferPool(runtime.device);
  const g = (x: Tensor) => (assertOwned(backend, x), x as GpuTensor);
  const rows = (x: Tensor) =>
    x.shape.length > 1 ? x.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const alloc = (bytes: number | ArrayBufferView) => {
    const b = runtime.buffer(bytes);
    owned.add(b);
    return b;
  };
  const uni = (values: number[]) => {
    const b = pool.acquire(16, UNIFORM_USAGE, "uniform");
    const data = new Uint32Array(4);
    data.set(values);
    runtime.device.queue.writeBuffer(b, 0, data);
    transient.push(b);
    return b;
  };
  const temp = (bytes: number) => {
    const b = pool.acquire(bytes, STORAGE_USAGE, "temp");
    transient.push(b);
    return b;
  };
  const drain = () => {
    for (const b of transient) pool.release(b);
    transient = [];
  };
  // Queued (unflushed) ops' buffers go back to the pool on destroy.
  const matmulStep = (
    out: GPUBuffer,
    x: GpuTensor,
    w: GpuTensor,
    n: number,
    epilogue: MatmulEpilogue,
    extra: { bias?: GPUBuffer; outs?: readonly [GPUBuffer, GPUBuffer] } = {},
  ) => {
    const m = rows(x), k = w.shape[1], dtype = w.dtype!, bias = Boolean(extra.bias);
    const source = m === 1
      ? gemvKernel({ dtype, n, k, epilogue, bias })
      : gemmKernel({ dtype, n, k, epilogue, bias });
    const bindings: Record<number, GPUBuffer> = { 0: uni([m]), 1: x.buffer, 2: w.buffer, 4: out };
    if (w.scales) bindings[3] = w.scales;
    if (extra.bias) bindings[5] = extra.bias;
    if (extra.outs) [bindings[6], bindings[7]] = extra.outs;
    steps.push({
      kind: "dispatch",
      source,
      bindings,
      grid: m === 1 ? gemvGrid({ n, m }) : gemmGrid({ n, m }),
    });
  };
  const elementwise = (
    op: "add" | "silu_mul_halves",
    out: GPUBuffer,
    a: GPUBuffer,
    b: GPUBuffer,
    n: number,
    half = 0,
  ) =>
    steps.push({
      kind: "dispatch",
      source: elementwiseKernel(op),
      bindings: { 0: uni([n, half]), 1: a, 2: b, 3: out },
      grid: elementwiseGrid(n),
    });

  const decodeOps = createWebGpuDecodeOps({
    dispatch: (source, bindings, grid) => steps.push({ kind: "dispatch", source, bindings, grid }),
    uniform: uni,
    temp,
    buffer: (x) => g(x).buffer,
  }, options);

  const backend: Backend = {
    name,
    upload(data, shape) {
      return {
        shape: [...shape],
        kind: data instanceof Uint32Array ? "u32" : "f32",
        backend: name,
        buffer: alloc(data),
      } as GpuTensor;
    },
    empty(shape, kind = "f32") {
      return {
        shape: [...shape],
        kind,
        backend: name,
        buffer: alloc(shape.reduce((a, b) => a * b, 1) * 4),
      } as GpuTensor;
    },
    uploadWeight(w: HostWeight) {
      const packed = packWeight(w);
      return {
        shape: [...w.shape],
        kind: "weight",
        backend: name,
        dtype: w.dtype,
        buffer: alloc(packed.data),
        scales: packed.scales && alloc(packed.scales),
      } as GpuTensor;
    },
    async read(x) {
      const t = g(x);
      await flush();
      const count = t.shape.reduce((a, b) => a * b, 1);
      return t.kind === "u32"
        ? await runtime.readU32(t.buffer, count)
        : await runtime.readF32(t.buffer, count);
    },
    matmul(out, x, w) {
      matmulStep(g(out).buffer, g(x), g(w), w.shape[0], { kind: "store" });
    },
    matmulQkv(outs, x, qkv, bias) {
      const sizes = outs.map((o) => o.shape.at(-1)!) as [number, number, number];
      const [q, k, v] = outs.map((o) => g(o).buffer);
      matmulStep(q, g(x), g(qkv), qkv.shape[0], { kind: "split3", sizes }, {
        bias: bias && g(bias).buffer,
        outs: [k, v],
      });
    },
    embedding(out, table, ids) {
      const t = g(table), tokens = ids.shape[0], dim = table.shape[1];
      const bindings: Record<number, GPUBuffer> = {
        0: uni([tokens]),
        1: g(ids).buffer,
        2: t.buffer,
        4: g(out).buffer,
      };
      if (t.scales) bindings[3] = t.scales;
      steps.push({
        kind: "dispatch",
        source: embeddingKernel({ dtype: t.dtype!, dim }),
        bindings,
        grid: embeddingGrid(dim, tokens),
      });
    },
    softmax(out, x) {
      steps.push({
        kind: "dispatch",
        source: softmaxKernel({ cols: x.shape.at(-1)! }),
        bindings: { 0: uni([rows(x)]), 1: g(x).buffer, 2: g(out).buffer },
        grid: rowGrid(rows(x)),
      });
    },
    matmulGateUpSilu(out, x, gateUp) {
      const n = gateUp.shape[0] / 2;
      if (options.fused) {
        return matmulStep(g(out).buffer, g(x), g(gateUp), n, { kind: "gate_up_silu" });
      }
      const both = temp(rows(x) * 2 * n * 4);
      matmulStep(both, g(x), g(gateUp), 2 * n, { kind: "store" });
      elementwise("silu_mul_halves", g(out).buffer, both, both, rows(x) * n, n);
    },
    rmsnorm(out, x, weight, eps) {
      const dim = weight.shape.at(-1)!;
      steps.push({
        kind: "dispatch",
        source: rmsnormKernel({ dim, eps }),
        bindings: { 0: uni([rows(x)]), 1: g(x).buffer, 2: g(weight).buffer, 3: g(out).buffer },
        grid: rowGrid(rows(x)),
      });
    },
    addRmsnorm(out, residual, x, weight, eps) {
      const dim = weight.shape.at(-1)!, r = rows(x);
      if (options.fused) {
        steps.push({
          kind: "dispatch",
          source: rmsnormKernel({ dim, eps, fusedResidual: true }),
          bindings: {
            0: uni([r]),
            1: g(x).buffer,
            2: g(weight).buffer,
            3: g(out).buffer,
            4: g(residual).buffer,
          },
          grid: rowGrid(r),
        });
        return;
      }
      const sum = temp(r * dim * 4);
      elementwise("add", sum, g(residual).buffer, g(x).buffer, r * dim);
      steps.push({ kind: "copy", from: sum, to: g(residual).buffer, bytes: r * dim * 4 });
      backend.rmsnorm(out, residual, weight, eps);
    },
    rope(x, positions, o) {
      const tokens = positions.shape[0];
      steps.push({
        kind: "dispatch",
        source: ropeKernel(o),
        bindings: { 0: uni([tokens]), 1: g(x).buffer, 2: g(positions).buffer },
        grid: ropeGrid(tokens, o.heads, o.headDim),
      });
    },
    add(out, a, b) {
      elementwise(
        "add",
        g(out).buffer,
        g(a).buffer,
        g(b).buffer,
        out.shape.reduce((p, q) => p * q, 1),
      );
    },
    argmax(out, logits) {
      steps.push({
        kind: "dispatch",
        source: argmaxKernel({ vocab: logits.shape.at(-1)! }),
        bindings: { 0: uni([rows(logits)]), 1: g(logits).buffer, 2: g(out).buffer },
        grid: rowGrid(rows(logits)),
      });
    },
    ...decodeOps,
    release(x) {
      const t = g(x);
      for (const b of [t.buffer, t.scales]) {
        if (b && owned.delete(b)) b.destroy();
      }
    },
    destroy() {
      for (const b of owned) b.destroy();
      owned.clear();
      drain();
      if (!options.pool) pool.destroy();
      steps = [];
    },
  };

  async function flush(): Promise<void> {
    const queued = steps, used = transient;
    steps = [];
    transient = [];
    if (!queued.length) return;
    try {
      const pipelines = await Promise.all(
        queued.map((s) => (s.kind === "dispatch" ? runtime.pipeline(s.source) : undefined)),
      );
      runtime.context.assertAlive(`run ${name} ops`);
      const encoder = runtime.device.createCommandEncoder();
      queued.forEach((s, i) => {
        if (s.kind === "copy") return encoder.copyBufferToBuffer(s.from, 0, s.to, 0, s.bytes);
        const pipeline = pipelines[i]!;
        runtime.encode(encoder, [{
          pipeline,
          bindGroup: runtime.bindGroup(pipeline, s.bindings),
          grid: s.grid,
          label: s.source.name,
        }]);
      });
      runtime.device.queue.submit([encoder.finish()]);
      await runtime.sync();
    } finally {
      // Submitted work has finished (or nothing was submitted): the buffers may be reused.
      for (const b of used) pool.release(b);
    }
  }
  return backend;
}
