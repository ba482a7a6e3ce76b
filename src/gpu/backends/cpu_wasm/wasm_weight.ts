/**
 * A weight matrix held in its own WebAssembly memory for the `cpu` backend's SIMD matmul
 * (`matmul_kernels.ts`): f32 and f16 weights as f32, Q8_0 and Q4_0 as int8 values plus one f32
 * scale per block of 32 (Q4_0 widened to int8, so a quarter of f32's bytes instead of an eighth).
 * Each weight has its own memory (so no model is bounded by one 4 GiB wasm32 memory) holding
 * scratch space for {@link MATMUL_PASS_ROWS} rows of x and y, then the scales, then the weights
 * (`weight_layout.ts`); with a thread pool the memory is shared with the pool's workers.
 *
 * `multiply` copies x in, runs the 4-row kernel over each full group of rows and the 1-row kernel
 * over the rest, and copies y out; both kernels give a row the same bits (see the kernels).
 *
 * @example
 * ```ts
 * import { createWasmWeight } from "./wasm_weight.ts";
 * import { hostWeightFromF32 } from "../../kernels/host_weight.ts";
 * const w = createWasmWeight(hostWeightFromF32("f32", new Float32Array(16).fill(1), [2, 8]))!;
 * console.assert(w.multiply(new Float32Array(8).fill(2), 1)[1] === 16);
 * ```
 *
 * @module
 */
import type { HostWeight } from "../../kernels/host_weight.ts";
import { f16BitsToF32 } from "../../kernels/quant.ts";
import { MATMUL_PASS_ROWS, matmulModuleBytes } from "./matmul_kernels.ts";
import type { CpuThreadPool } from "./thread_pool.ts";
import { type MatmulExports, runRows, weightLayout } from "./weight_layout.ts";
import { WASM32_PAGES } from "./wasm_encoding.ts";

/** Multiply-adds of one kernel call from which a pool splits it over its threads. */
export const THREAD_MIN_MACS = 1 << 19;

/** A weight `[n, k]` in wasm memory, multiplied by rows of x with SIMD kernels. */
export interface WasmWeight {
  /** Output features (weight rows). */
  readonly n: number;
  /** Input features (weight columns). */
  readonly k: number;
  /** Storage inside wasm: f32 values, or int8 values with f32 block scales. */
  readonly storage: "f32" | "q8";
  /** Bytes of wasm memory this weight holds. */
  readonly bytes: number;
  /** `y[m, n] = x[m, k] · Wᵀ`. */
  multiply(x: Float32Array, m: number): Float32Array;
  /** The f32 values of weight row `row` (what the kernels multiply by). */
  row(row: number): Float32Array;
  /** Forgets the weight (its pool stops knowing it); the memory goes with the last reference. */
  release(): void;
}

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The compiled kernel module, or `null` where the runtime has no WebAssembly SIMD. */
function kernelModule(shared: boolean): WebAssembly.Module | null {
  if (!compiled.has(shared)) {
    const bytes = matmulModuleBytes(shared);
    compiled.set(
      shared,
      typeof WebAssembly === "object" && WebAssembly.validate(bytes)
        ? new WebAssembly.Module(bytes)
        : null,
    );
  }
  return compiled.get(shared)!;
}

/** Whether this runtime runs the SIMD kernels. */
export function wasmSimdAvailable(): boolean {
  return kernelModule(false) !== null;
}

/**
 * Places `weight` in wasm memory, or returns `undefined` where the kernels cannot take it (no
 * WebAssembly SIMD, f32/f16 weights whose K is not a multiple of 8, or more than a wasm32
 * memory's 4 GiB). With a `pool`, the memory is shared and kernel calls of at least
 * {@link THREAD_MIN_MACS} run on its threads.
 */
export function createWasmWeight(weight: HostWeight, pool?: CpuThreadPool): WasmWeight | undefined {
  const shared = pool !== undefined;
  const module = kernelModule(shared);
  const [n, k] = weight.shape;
  const quantised = weight.dtype === "q8_0" || weight.dtype === "q4_0";
  if (module === null || (!quantised && k % 8 !== 0) || (quantised && k % 32 !== 0)) {
    return undefined;
  }
  const layout = weightLayout(n, k, quantised);
  const pages = Math.ceil(layout.bytes / 65536);
  if (pages > WASM32_PAGES) return undefined; // past a 4 GiB memory: the reference path
  const memory = new WebAssembly.Memory(
    shared ? { initial: pages, maximum: pages, shared } : { initial: pages },
  );
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as MatmulExports;
  const buffer = memory.buffer;
  const xs = new Float32Array(buffer, 0, MATMUL_PASS_ROWS * k);
  const ys = new Float32Array(buffer, layout.yAt, MATMUL_PASS_ROWS * n);
  const scales = new Float32Array(buffer, layout.scaleAt, quantised ? (n * k) / 32 : 0);
  let row: (j: number) => Float32Array;
  if (quantised) {
    const q = new Int8Array(buffer, layout.weightAt, n * k);
    fillQuantised(weight, q, scales);
    row = (j) => {
      const out = new Float32Array(k);
      for (let p = 0; p < k; p++) out[p] = q[j * k + p] * scales[j * (k / 32) + (p >> 5)];
      return out;
    };
  } else {
    const w = new Float32Array(buffer, layout.weightAt, n * k);
    fillFloat(weight, w);
    row = (j) => w.slice(j * k, (j + 1) * k);
  }
  const id = pool?.add(memory, layout);
  const run = (rows: number) => {
    const own = (j0: number, j1: number) => runRows(kernels, layout, rows, j0, j1);
    if (pool && id !== undefined && rows * n * k >= THREAD_MIN_MACS) {
      pool.run(id, layout, rows, own);
    } else own(0, n);
  };
  return {
    n,
    k,
    storage: quantised ? "q8" : "f32",
    bytes: layout.bytes,
    multiply(x, m) {
      if (x.length < m * k) {
        throw new RangeError(`Cannot multiply: x has ${x.length} values, ${m} rows need ${m * k}`);
      }
      const y = new Float32Array(m * n);
      for (let r0 = 0; r0 < m; r0 += MATMUL_PASS_ROWS) {
        const rows = Math.min(MATMUL_PASS_ROWS, m - r0);
        if (rows === MATMUL_PASS_ROWS) {
          xs.set(x.subarray(r0 * k, (r0 + rows) * k));
          run(rows);
          y.set(ys, r0 * n);
          continue;
        }
        for (let r = r0; r < r0 + rows; r++) {
          xs.set(x.subarray(r * k, (r + 1) * k));
          run(1);
          y.set(ys.subarray(0, n), r * n);
        }
      }
      return y;
    },
    row,
    release() {
      if (id !== undefined) pool?.remove(id);
    },
  };
}

/** f32 values, or f16 bits widened, into the weight region. */
function fillFloat(weight: HostWeight, out: Float32Array): void {
  if (weight.dtype === "f32") {
    out.set((weight.data as Float32Array).subarray(0, out.length));
    return;
  }
  const bits = weight.data as Uint16Array;
  for (let i = 0; i < out.length; i++) out[i] = f16BitsToF32(bits[i]);
}

/**
 * GGML Q8_0 (34-byte blocks: f16 scale, 32 int8) or Q4_0 (18-byte blocks: f16 scale, 16 bytes of
 * nibbles, byte i = element i low, element i + 16 high, value nibble − 8) into int8 + f32 scales.
 */
function fillQuantised(weight: HostWeight, q: Int8Array, scales: Float32Array): void {
  const raw = weight.data as Uint8Array;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const q8 = weight.dtype === "q8_0";
  const size = q8 ? 34 : 18;
  for (let b = 0; b < scales.length; b++) {
    const at = b * size, out = b * 32;
    scales[b] = f16BitsToF32(view.getUint16(at, true));
    if (q8) {
      q.set(new Int8Array(raw.buffer, raw.byteOffset + at + 2, 32), out);
      continue;
    }
    for (let i = 0; i < 16; i++) {
      const byte = raw[at + 2 + i];
      q[out + i] = (byte & 15) - 8;
      q[out + i + 16] = (byte >> 4) - 8;
    }
  }
}
