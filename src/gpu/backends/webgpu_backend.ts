/**
 * The WebGPU backends. `webgpu-eager` runs one unfused kernel per op (separate add and
 * RMSNorm, matmul then SiLU·up) with default tuning; `webgpu` uses the fused kernels
 * (residual+norm, gate+up+SiLU epilogue). Given the {@link CompiledKernelSet} of a warm-up
 * (`warmUpKernelSet`), every op dispatches the set's compiled entry for its (operation,
 * bucket) — the entry's own pipeline, with no lookup by WGSL hash; matmuls of a row count the
 * set lacks use the default kernels, and any other kernel the set lacks is a `RangeError`
 * (never a silent compile). The operation is the kernel's name, obtained from the shared
 * memoised generators (`kernels/memoized_kernels.ts`) the set was built with, so after a
 * warm-up no op generates WGSL, looks a pipeline up by hash, or compiles one. Without a set
 * (tests, eager use without warm-up) ops dispatch the memoised sources and the runtime
 * compiles each distinct WGSL once. Ops are queued and encoded into one
 * submit at the next `read`; uniforms and temporaries of queued ops come from a
 * {@link BufferPool} and return to it after the submit completes, so a steady stream of ops
 * creates no new buffers. A matmul whose set entry is the int8-activation GEMV (tuning `i8`,
 * `gemv_i8_tuning.ts`) runs two dispatches: the set's quantise kernel for its K writes x as
 * int8 blocks into two pooled temporaries, then the GEMV reads them. The fast path for decode
 * is a {@link DecodePlan}: both backends are {@link CapturingBackend}s, so a step written
 * against these ops is captured once and replayed K steps per submit (see
 * `webgpu_op_queue.ts`). The decode-path ops (KV append, paged attention, sampling, advance)
 * live in `webgpu_decode_ops.ts`.
 *
 * @example
 * ```ts ignore
 * const backend = createWebGpuBackend(runtime, { fused: true, kernels });
 * const plan = await backend.capture(() => step.encode(), { history: step.history });
 * const ids = await plan.run(16);
 * ```
 *
 * @module
 */
import { assertOwned, type CapturingBackend, type Tensor, writeBytes } from "../ops/backend.ts";
import { type HostWeight, packWeight } from "../kernels/host_weight.ts";
import type { KernelRuntime } from "../compile/kernel_runtime.ts";
import type { KernelSource, WeightDType } from "../kernels/kernel_source.ts";
import { KERNELS } from "../kernels/memoized_kernels.ts";
import type { MatmulEpilogue } from "../kernels/gemv.ts";
import { rowGrid } from "../kernels/rmsnorm.ts";
import { ropeGrid } from "../kernels/rope.ts";
import { elementwiseGrid } from "../kernels/elementwise.ts";
import { embeddingGrid } from "../kernels/embedding.ts";
import {
  quantizedRowBytes,
  quantizedScaleBytes,
  quantizeRowsGrid,
} from "../kernels/quantize_rows.ts";
import type { BufferPool } from "../device/buffer_pool.ts";
import { createWebGpuDecodeOps } from "./webgpu_decode_ops.ts";
import { type MatmulChoice, selectMatmul } from "./matmul_tuning.ts";
import { assertSameKernel, type CompiledKernelSet } from "../compile/kernel_set.ts";
import { type QueuedKernel, WebGpuOpQueue } from "./webgpu_op_queue.ts";

interface GpuTensor extends Tensor {
  buffer: GPUBuffer;
  scales?: GPUBuffer;
  dtype?: WeightDType;
}

/** Options of {@link createWebGpuBackend}. */
export interface WebGpuBackendOptions {
  /** Use fused kernels (`webgpu`) or one kernel per op (`webgpu-eager`). */
  readonly fused: boolean;
  /**
   * Pool for per-op uniforms and temporaries (of queued ops until their submit completes, of
   * captured plans until the plan is destroyed). Default: a pool owned (and destroyed) by the
   * backend; an injected pool gets this backend's buffers back on `destroy`, never destroyed.
   */
  readonly pool?: BufferPool;
  /**
   * The warmed kernel set of this backend kind (`llamaKernelSet` for `webgpu` or
   * `webgpu-eager`), whose kernels dispatch looks up by (operation, bucket); a non-matmul
   * kernel it lacks throws `RangeError` at the op. Default: none (every op runs its memoised
   * default kernel, compiled on first use).
   */
  readonly kernels?: CompiledKernelSet;
}

/** Creates a `webgpu` (fused) or `webgpu-eager` backend on `runtime`. */
export function createWebGpuBackend(
  runtime: KernelRuntime,
  options: WebGpuBackendOptions,
): CapturingBackend {
  const name = options.fused ? "webgpu" : "webgpu-eager";
  const owned = new Set<GPUBuffer>();
  const queue = new WebGpuOpQueue(runtime, { name, pool: options.pool });
  const matmuls = new Map<string, MatmulChoice>();
  const g = (x: Tensor) => (assertOwned(backend, x), x as GpuTensor);
  const rows = (x: Tensor) =>
    x.shape.length > 1 ? x.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const alloc = (bytes: number | ArrayBufferView) => {
    const b = runtime.buffer(bytes);
    owned.add(b);
    return b;
  };
  const uni = (values: number[]) => queue.uniform(values);
  const set = options.kernels;
  // The set's entry for (op, bucket); the bare source only without a set.
  const kernelFor = (source: KernelSource, bucket: number): QueuedKernel => {
    if (!set) return source;
    const entry = set.fixed(source.name, bucket);
    if (!entry) {
      throw new RangeError(
        `Cannot dispatch ${source.name} for ${bucket} tokens on ${name}: the warmed kernel set ` +
          `(${set.size} kernels) has no such operation; warm it up with the model's kernel set`,
      );
    }
    if (entry.source !== source) assertSameKernel(entry.key, entry.source, source);
    return entry;
  };
  const dispatch = (
    source: KernelSource,
    bucket: number,
    bindings: Record<number, GPUBuffer>,
    grid: [number, number, number],
  ) => queue.dispatch(kernelFor(source, bucket), bindings, grid);
  const matmulStep = (
    out: GPUBuffer,
    x: GpuTensor,
    w: GpuTensor,
    n: number,
    epilogue: MatmulEpilogue,
    extra: { bias?: GPUBuffer; outs?: readonly [GPUBuffer, GPUBuffer] } = {},
  ) => {
    const m = rows(x), k = w.shape[1], dtype = w.dtype!, bias = Boolean(extra.bias);
    // Selection looks the kernel up (or gets the memoised default): once per shape.
    const key = `${dtype}.${m}.${n}.${k}.${bias}.${JSON.stringify(epilogue)}`;
    let choice = matmuls.get(key);
    if (!choice) {
      choice = selectMatmul({ dtype, m, n, k, epilogue, bias }, options.kernels);
      matmuls.set(key, choice);
    }
    const bindings: Record<number, GPUBuffer> = { 0: uni([m]), 1: x.buffer, 2: w.buffer, 4: out };
    if (choice.tuning?.i8) {
      // The int8-activation GEMV: quantise x into pooled temporaries, then the GEMV reads them.
      const xq = queue.temp(quantizedRowBytes(m, k)), xd = queue.temp(quantizedScaleBytes(m, k));
      dispatch(
        KERNELS.quantizeRows({ k }),
        m,
        { 0: bindings[0], 1: x.buffer, 2: xq, 3: xd },
        quantizeRowsGrid(k, m),
      );
      bindings[1] = xq;
      bindings[8] = xd;
    }
    if (w.scales) bindings[3] = w.scales;
    if (extra.bias) bindings[5] = extra.bias;
    if (extra.outs) [bindings[6], bindings[7]] = extra.outs;
    queue.dispatch(choice.kernel, bindings, choice.grid);
  };
  const elementwise = (
    op: "add" | "silu_mul_halves",
    out: GPUBuffer,
    a: GPUBuffer,
    b: GPUBuffer,
    n: number,
    bucket: number,
    half = 0,
  ) =>
    dispatch(
      KERNELS.elementwise(op),
      bucket,
      { 0: uni([n, half]), 1: a, 2: b, 3: out },
      elementwiseGrid(n),
    );

  const decodeOps = createWebGpuDecodeOps({
    dispatch,
    uniform: uni,
    temp: (bytes) => queue.temp(bytes),
    buffer: (x) => g(x).buffer,
  }, options);

  const backend: CapturingBackend = {
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
    // Not async: during a capture it MUST throw synchronously, out of the captured step.
    read(x) {
      const t = g(x);
      queue.assertNotCapturing("read a tensor");
      const count = t.shape.reduce((a, b) => a * b, 1);
      // One wait: the readback completes after the submitted ops.
      return queue.afterSubmit<Float32Array | Uint32Array>(() =>
        t.kind === "u32" ? runtime.readU32(t.buffer, count) : runtime.readF32(t.buffer, count)
      );
    },
    write(x, data) {
      const t = g(x);
      writeBytes(x, data);
      queue.write(t.buffer, data);
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
      dispatch(
        KERNELS.embedding({ dtype: t.dtype!, dim }),
        tokens,
        bindings,
        embeddingGrid(dim, tokens),
      );
    },
    softmax(out, x) {
      dispatch(
        KERNELS.softmax({ cols: x.shape.at(-1)! }),
        rows(x),
        { 0: uni([rows(x)]), 1: g(x).buffer, 2: g(out).buffer },
        rowGrid(rows(x)),
      );
    },
    matmulGateUpSilu(out, x, gateUp) {
      const n = gateUp.shape[0] / 2;
      if (options.fused) {
        return matmulStep(g(out).buffer, g(x), g(gateUp), n, { kind: "gate_up_silu" });
      }
      const both = queue.temp(rows(x) * 2 * n * 4);
      matmulStep(both, g(x), g(gateUp), 2 * n, { kind: "store" });
      elementwise("silu_mul_halves", g(out).buffer, both, both, rows(x) * n, rows(x), n);
    },
    rmsnorm(out, x, weight, eps) {
      const dim = weight.shape.at(-1)!;
      dispatch(
        KERNELS.rmsnorm({ dim, eps }),
        rows(x),
        { 0: uni([rows(x)]), 1: g(x).buffer, 2: g(weight).buffer, 3: g(out).buffer },
        rowGrid(rows(x)),
      );
    },
    addRmsnorm(out, residual, x, weight, eps) {
      const dim = weight.shape.at(-1)!, r = rows(x);
      if (options.fused) {
        dispatch(
          KERNELS.rmsnorm({ dim, eps, fusedResidual: true }),
          r,
          {
            0: uni([r]),
            1: g(x).buffer,
            2: g(weight).buffer,
            3: g(out).buffer,
            4: g(residual).buffer,
          },
          rowGrid(r),
        );
        return;
      }
      // Unfused on purpose: add into a temporary (a dispatch cannot read and write `residual`
      // through two bindings), copy it back, then normalise. Captured plans replay the copy
      // between compute passes, so eager stays one kernel (or copy) per op there too.
      const sum = queue.temp(r * dim * 4);
      elementwise("add", sum, g(residual).buffer, g(x).buffer, r * dim, r);
      queue.copy(sum, g(residual).buffer, r * dim * 4);
      backend.rmsnorm(out, residual, weight, eps);
    },
    rope(x, positions, o) {
      const tokens = positions.shape[0];
      dispatch(
        KERNELS.rope(o),
        tokens,
        { 0: uni([tokens]), 1: g(x).buffer, 2: g(positions).buffer },
        ropeGrid(tokens, o.heads, o.headDim),
      );
    },
    add(out, a, b) {
      elementwise(
        "add",
        g(out).buffer,
        g(a).buffer,
        g(b).buffer,
        out.shape.reduce((p, q) => p * q, 1),
        rows(out),
      );
    },
    argmax(out, logits) {
      dispatch(
        KERNELS.argmax({ vocab: logits.shape.at(-1)! }),
        rows(logits),
        { 0: uni([rows(logits)]), 1: g(logits).buffer, 2: g(out).buffer },
        rowGrid(rows(logits)),
      );
    },
    ...decodeOps,
    capture(step, o) {
      const history = g(o.history);
      const [maxSteps, tokens] = history.shape;
      if (history.kind !== "u32" || history.shape.length !== 2) {
        throw new RangeError(
          `Cannot capture a decode plan: history [${history.shape}] is not u32 [maxSteps, tokens]`,
        );
      }
      return queue.capture(step, { history: history.buffer, tokens, maxSteps });
    },
    release(x) {
      const t = g(x);
      for (const b of [t.buffer, t.scales]) {
        if (b && owned.delete(b)) b.destroy();
      }
    },
    destroy() {
      queue.destroy();
      for (const b of owned) b.destroy();
      owned.clear();
    },
  };
  return backend;
}
