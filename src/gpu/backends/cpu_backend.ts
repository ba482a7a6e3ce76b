/**
 * The `cpu` backend: the CPU implementation of {@link Backend}, and the automatic fallback when
 * no GPU adapter exists. Matmuls run WebAssembly SIMD kernels (`cpu_wasm/`) over weights held in
 * wasm memory (f32 and f16 as f32; Q8_0 and Q4_0 as int8 values with f32 block scales, i.e. a
 * quarter of the bytes), multiplying by exactly the values the dequantised reference uses, with
 * f32 accumulation in an order that does not depend on the batch size. `{ kernels: "js" }` (and
 * runtimes without WebAssembly SIMD) keep the plain TypedArray reference: weights dequantised
 * to f32 at upload and f64 accumulation (`reference/dense.ts`). Paged attention runs WebAssembly
 * SIMD kernels too (`cpu_wasm/wasm_attention.ts`: each layer's K and V move into a wasm memory at
 * their first attention, and the cache tensors become views of it), or with `js` the reference's
 * arithmetic in a cache-friendlier arrangement (`cpu_attention.ts`, the same bits). The other ops
 * (norms, RoPE, sampling, ...) are the TypedArray reference in both modes.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "./cpu_backend.ts";
 * const cpu = createCpuBackend();
 * const t = cpu.upload(new Float32Array([1, 2]), [2]);
 * console.assert((await cpu.read(t))[1] === 2);
 * ```
 *
 * @module
 */
import {
  advanceGeometry,
  assertOwned,
  type Backend,
  type Tensor,
  writeBytes,
} from "../ops/backend.ts";
import { dequantizeWeight } from "../kernels/host_weight.ts";
import { embeddingRef, matmulRef, rmsnormRef, silu, softmaxRef } from "../reference/dense.ts";
import { kvAppendRef, ropeRef } from "../reference/attention.ts";
import { pagedAttentionCpu } from "./cpu_attention.ts";
import { createWasmKv, type WasmKv } from "./cpu_wasm/wasm_attention.ts";
import { argmaxRef, sampleRowRef } from "../reference/sampling.ts";
import { type PagedBatch, pagedGeometry, type PagedKvCache } from "../ops/paged_kv_cache.ts";
import { samplingRows, unpackSamplingParams } from "../ops/sampling_inputs.ts";
import { SAMPLE_MAX_K } from "../kernels/sample.ts";
import { createWasmWeight, type WasmWeight } from "./cpu_wasm/wasm_weight.ts";
import { createCpuThreadPool } from "./cpu_wasm/thread_pool.ts";

interface CpuTensor extends Tensor {
  data: Float32Array | Uint32Array;
  /** A weight held in wasm memory (then `data` is empty). */
  wasm?: WasmWeight;
}

/** Options of {@link createCpuBackend}. */
export interface CpuBackendOptions {
  /**
   * Matmul kernels: `wasm` (default; WebAssembly SIMD where the runtime has it, else `js`) or
   * `js` (the TypedArray reference with f64 accumulation).
   */
  readonly kernels?: "wasm" | "js";
  /**
   * Threads a large matmul is split over with the `wasm` kernels (the calling thread and
   * `threads − 1` workers, started at the first large matmul); default
   * {@link defaultCpuThreads}. 1 runs everything on the calling thread.
   */
  readonly threads?: number;
  /** Hears notices, such as worker threads that could not start (default: none). */
  readonly log?: (line: string) => void;
}

/** The default thread count: the runtime's `navigator.hardwareConcurrency`, at most 8. */
export function defaultCpuThreads(): number {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(8, cores));
}

/** Creates a `cpu` backend. */
export function createCpuBackend(options: CpuBackendOptions = {}): Backend {
  const name = "cpu";
  const useWasm = (options.kernels ?? "wasm") === "wasm";
  const threads = options.threads ?? defaultCpuThreads();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Cannot create the cpu backend: threads = ${threads} is not a positive integer`,
    );
  }
  const pool = useWasm && threads > 1 && typeof SharedArrayBuffer === "function"
    ? createCpuThreadPool(
      threads,
      (reason) => options.log?.(`cpu backend: ${reason}; running matmuls on 1 thread`),
    )
    : undefined;
  const t = (x: Tensor) => {
    assertOwned(backend, x);
    const tensor = x as CpuTensor;
    return tensor.wasm ? wasmValues(tensor.wasm) : tensor.data;
  };
  const f = (x: Tensor) => t(x) as Float32Array;
  /** `x · wᵀ` for x `[m, k]` (+ bias): the weight's wasm kernels, or the reference. */
  const multiply = (x: Tensor, w: Tensor, m: number, bias?: Tensor) => {
    assertOwned(backend, w);
    const wasm = (w as CpuTensor).wasm;
    if (!wasm) return matmulRef(f(x), f(w), { m, n: w.shape[0], k: w.shape[1] }, bias && f(bias));
    const y = wasm.multiply(f(x), m);
    if (bias) {
      const b = f(bias);
      for (let i = 0; i < y.length; i++) y[i] += b[i % wasm.n];
    }
    return y;
  };
  const make = (
    data: Float32Array | Uint32Array,
    shape: readonly number[],
    kind: Tensor["kind"],
  ): CpuTensor => ({ data, shape: [...shape], kind, backend: name });
  const rows = (x: Tensor) =>
    x.shape.length > 1 ? x.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  /** Each layer cache's K and V in wasm memory (moved there at its first attention). */
  const wasmKvs = new WeakMap<Tensor, WasmKv | null>();
  const wasmKvOf = (cache: PagedKvCache, group: number) => {
    let kv = wasmKvs.get(cache.k);
    if (kv === undefined || (kv && kv.group !== group)) {
      const k = cache.k as CpuTensor, v = cache.v as CpuTensor;
      kv = createWasmKv(f(k), f(v), { kvHeads: cache.kvHeads, headDim: cache.headDim, group }) ??
        null;
      if (kv) [k.data, v.data] = [kv.k, kv.v]; // the tensors now live in the wasm memory
      wasmKvs.set(cache.k, kv);
    }
    return kv ?? undefined;
  };
  const backend: Backend = {
    name,
    upload: (data, shape) => make(data.slice(), shape, data instanceof Uint32Array ? "u32" : "f32"),
    empty: (shape, kind = "f32") =>
      make(
        kind === "u32" ? new Uint32Array(size(shape)) : new Float32Array(size(shape)),
        shape,
        kind,
      ),
    uploadWeight(w) {
      const wasm = useWasm ? createWasmWeight(w, pool) : undefined;
      if (!wasm) return make(dequantizeWeight(w), w.shape, "weight");
      return { ...make(new Float32Array(0), w.shape, "weight"), wasm } as CpuTensor;
    },
    read: (x) => Promise.resolve(t(x).slice()),
    write(x, data) {
      const target = t(x);
      writeBytes(x, data);
      target.set(data);
    },
    matmul(out, x, w) {
      f(out).set(multiply(x, w, rows(x)));
    },
    matmulQkv(outs, x, qkv, bias) {
      const m = rows(x), n = qkv.shape[0];
      const all = multiply(x, qkv, m, bias);
      let col = 0;
      for (const o of outs) {
        const w = o.shape.at(-1)!, dst = f(o);
        for (let i = 0; i < m; i++) {
          dst.set(all.subarray(i * n + col, i * n + col + w), i * w);
        }
        col += w;
      }
    },
    embedding(out, table, ids) {
      assertOwned(backend, table);
      const wasm = (table as CpuTensor).wasm, dim = table.shape[1];
      if (wasm) {
        const o = f(out), idv = t(ids) as Uint32Array;
        idv.forEach((id, i) => {
          if (id >= wasm.n) {
            throw new RangeError(`Cannot embed: token id ${id} is not below ${wasm.n}`);
          }
          o.set(wasm.row(id), i * dim);
        });
        return;
      }
      f(out).set(embeddingRef(f(table), t(ids) as Uint32Array, dim));
    },
    softmax(out, x) {
      f(out).set(softmaxRef(f(x), x.shape.at(-1)!));
    },
    matmulGateUpSilu(out, x, gateUp) {
      const n = gateUp.shape[0] / 2, m = rows(x);
      const both = multiply(x, gateUp, m);
      const o = f(out);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          o[i * n + j] = silu(both[i * 2 * n + j]) * both[i * 2 * n + n + j];
        }
      }
    },
    rmsnorm(out, x, weight, eps) {
      f(out).set(rmsnormRef(f(x), f(weight), weight.shape.at(-1)!, eps));
    },
    addRmsnorm(out, residual, x, weight, eps) {
      const r = f(residual), xs = f(x);
      for (let i = 0; i < r.length; i++) r[i] += xs[i];
      f(out).set(rmsnormRef(r, f(weight), weight.shape.at(-1)!, eps));
    },
    rope(x, positions, o) {
      ropeRef(f(x), t(positions) as Uint32Array, o);
    },
    add(out, a, b) {
      const o = f(out), av = f(a), bv = f(b);
      for (let i = 0; i < o.length; i++) o[i] = av[i] + bv[i];
    },
    argmax(out, logits) {
      (t(out) as Uint32Array).set(argmaxRef(f(logits), logits.shape.at(-1)!));
    },
    kvAppend(cache, k, v, batch) {
      pagedGeometry("kvAppend", cache, batch, k, false);
      pagedGeometry("kvAppend", cache, batch, v, false);
      const slots = slotsOf("kvAppend", cache, batch, t);
      kvAppendRef(
        { k: f(cache.k), v: f(cache.v) },
        f(k),
        f(v),
        slots,
        cache.kvHeads * cache.headDim,
      );
    },
    pagedAttention(out, q, cache, batch) {
      const { heads, maxBlocks } = pagedGeometry("pagedAttention", cache, batch, q, true);
      slotsOf("pagedAttention", cache, batch, t);
      const kv = useWasm ? wasmKvOf(cache, heads / cache.kvHeads) : undefined;
      const input = {
        heads,
        kvHeads: cache.kvHeads,
        headDim: cache.headDim,
        blockSize: cache.blockSize,
        maxBlocks,
        blockTable: t(batch.blockTable) as Uint32Array,
        tokenSeq: t(batch.tokenSeq) as Uint32Array,
        positions: t(batch.positions) as Uint32Array,
      };
      f(out).set(
        kv
          ? kv.attend(f(q), input)
          : pagedAttentionCpu(f(q), { k: f(cache.k), v: f(cache.v) }, input),
      );
    },
    sample(out, logits, sampling) {
      const rows = samplingRows(out, logits, sampling);
      const vocab = logits.shape.at(-1)!, x = f(logits), ids = t(out) as Uint32Array;
      const words = t(sampling.params) as Uint32Array, step = t(sampling.state)[0];
      for (let row = 0; row < rows; row++) {
        ids[row] = sampleRowRef(
          x.subarray(row * vocab, (row + 1) * vocab),
          unpackSamplingParams(words, row),
          { step, row },
          SAMPLE_MAX_K,
        );
      }
    },
    advance(history, inputs) {
      const { tokens, maxSteps } = advanceGeometry(history, inputs);
      const state = t(inputs.state), step = state[0], positions = t(inputs.positions);
      if (step >= maxSteps) {
        throw new RangeError(`Cannot advance: step ${step} is past the ${maxSteps} history rows`);
      }
      t(history).set(t(inputs.ids).subarray(0, tokens), step * tokens);
      for (let i = 0; i < tokens; i++) positions[i]++;
      state[0] = step + 1;
    },
    release(x) {
      (x as CpuTensor).data = new Float32Array(0);
      (x as CpuTensor).wasm?.release();
      delete (x as CpuTensor).wasm;
    },
    destroy() {
      pool?.close();
    },
  };
  return backend;
}

/**
 * The slot of each token of `batch`, after checking every block its attention reads (blocks
 * `0..⌊position / blockSize⌋` of its sequence) exists; throws `RangeError` otherwise.
 */
function slotsOf(
  op: string,
  cache: PagedKvCache,
  batch: PagedBatch,
  data: (x: Tensor) => Float32Array | Uint32Array,
): Uint32Array {
  const table = data(batch.blockTable), seqOf = data(batch.tokenSeq);
  const positions = data(batch.positions) as Uint32Array;
  const [seqs, maxBlocks] = batch.blockTable.shape, bs = cache.blockSize;
  return positions.map((pos, i) => {
    const seq = seqOf[i], last = Math.floor(pos / bs);
    if (seq >= seqs || last >= maxBlocks) {
      throw new RangeError(
        `Cannot run ${op}: token ${i} (sequence ${seq}, position ${pos}) is outside the block table [${seqs}, ${maxBlocks}]`,
      );
    }
    for (let b = 0; b <= last; b++) {
      if (table[seq * maxBlocks + b] >= cache.numBlocks) {
        throw new RangeError(
          `Cannot run ${op}: block ${
            table[seq * maxBlocks + b]
          } of sequence ${seq} is not below numBlocks ${cache.numBlocks}`,
        );
      }
    }
    return table[seq * maxBlocks + last] * bs + (pos % bs);
  }) as Uint32Array;
}

/** Every value of a wasm-held weight, row by row (for reads; matmuls never need it). */
function wasmValues(w: WasmWeight): Float32Array {
  const out = new Float32Array(w.n * w.k);
  for (let j = 0; j < w.n; j++) out.set(w.row(j), j * w.k);
  return out;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
