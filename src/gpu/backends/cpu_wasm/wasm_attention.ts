/**
 * Paged attention for the `cpu` backend on WebAssembly SIMD (`attention_kernels.ts`). The K and
 * V arrays of one layer's cache move into one wasm memory (with scratch for one token's GQA
 * group: its queries, the context's row offsets, scores and accumulators), and the backend's
 * tensors are re-pointed at views of it, so every other op keeps reading and writing them as
 * plain `Float32Array`s. Per query token and KV head: `qk` scores, a JavaScript softmax (max,
 * `Math.exp`, sum), `pv` accumulation, then division by the sum. Results agree with
 * `pagedAttentionRef` within f32 summation error (it sums in f64).
 *
 * @example
 * ```ts
 * import { createWasmKv } from "./wasm_attention.ts";
 * const kv = createWasmKv(new Float32Array(8).fill(1), new Float32Array(8).fill(2), {
 *   kvHeads: 1, headDim: 4, group: 1,
 * })!;
 * const out = kv.attend(new Float32Array(4).fill(1), {
 *   heads: 1, kvHeads: 1, headDim: 4, blockSize: 2, maxBlocks: 1,
 *   blockTable: new Uint32Array([0]), tokenSeq: new Uint32Array([0]), positions: new Uint32Array([1]),
 * });
 * console.assert(out[0] === 2);
 * ```
 *
 * @module
 */
import type { PagedAttentionInput } from "../../reference/attention.ts";
import { attentionModuleBytes } from "./attention_kernels.ts";
import { WASM32_PAGES } from "./wasm_encoding.ts";

/** One layer's K and V in wasm memory, with the kernels that attend over them. */
export interface WasmKv {
  /** Views of the keys and values (the cache tensors' new storage). */
  readonly k: Float32Array;
  readonly v: Float32Array;
  /** Query heads per KV head the scratch was sized for. */
  readonly group: number;
  /** Causal paged attention over this cache: `out[T, H, D]` for `q[T, H, D]`. */
  attend(q: Float32Array, input: PagedAttentionInput): Float32Array;
}

let compiled: WebAssembly.Module | null | undefined;

function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = attentionModuleBytes();
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/**
 * Copies `k` and `v` (`[rows, kvHeads, headDim]` each) into a new wasm memory sized for GQA
 * groups of `group` query heads; `undefined` where the kernels cannot run (no WebAssembly SIMD,
 * a head dimension that is not a multiple of 4, or more than a wasm32 memory's 4 GiB).
 */
export function createWasmKv(
  k: Float32Array,
  v: Float32Array,
  shape: { kvHeads: number; headDim: number; group: number },
): WasmKv | undefined {
  const module = kernelModule();
  const { kvHeads, headDim: d, group } = shape;
  if (module === null || d % 4 !== 0 || k.length !== v.length) return undefined;
  const rows = k.length / (kvHeads * d);
  const kAt = 0, vAt = k.length * 4, qAt = vAt + v.length * 4;
  const rowsAt = qAt + group * d * 4, scoresAt = rowsAt + rows * 4;
  const accAt = scoresAt + group * rows * 4, total = accAt + group * d * 4;
  const pages = Math.ceil(total / 65536);
  if (pages > WASM32_PAGES) return undefined; // past a 4 GiB memory: the JavaScript path
  const memory = new WebAssembly.Memory({ initial: pages });
  const { qk, pv } = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<
    string,
    (...args: number[]) => void
  >;
  const buffer = memory.buffer;
  const kv = new Float32Array(buffer, kAt, k.length), vv = new Float32Array(buffer, vAt, v.length);
  kv.set(k);
  vv.set(v);
  const qs = new Float32Array(buffer, qAt, group * d);
  const rowBytes = new Uint32Array(buffer, rowsAt, rows);
  const scores = new Float32Array(buffer, scoresAt, group * rows);
  const acc = new Float32Array(buffer, accAt, group * d);
  const sums = new Float64Array(group);
  return {
    k: kv,
    v: vv,
    group,
    attend(q, input) {
      const { heads, blockSize, maxBlocks } = input;
      if (heads !== kvHeads * group || input.kvHeads !== kvHeads || input.headDim !== d) {
        throw new RangeError(
          `Cannot attend: geometry ${heads}/${input.kvHeads}/${input.headDim} is not this cache's ${
            kvHeads * group
          }/${kvHeads}/${d}`,
        );
      }
      const scale = input.scale ?? 1 / Math.sqrt(d);
      const out = new Float32Array(q.length), stride = kvHeads * d * 4;
      for (let t = 0; t < input.positions.length; t++) {
        const ctx = input.positions[t] + 1, seq = input.tokenSeq[t];
        if (ctx > rows) throw new RangeError(`Cannot attend: context ${ctx} exceeds ${rows} rows`);
        for (let j = 0; j < ctx; j++) {
          const block = input.blockTable[seq * maxBlocks + Math.floor(j / blockSize)];
          rowBytes[j] = (block * blockSize + (j % blockSize)) * stride;
        }
        for (let kvh = 0; kvh < kvHeads; kvh++) {
          const q0 = (t * heads + kvh * group) * d;
          qs.set(q.subarray(q0, q0 + group * d));
          qk(qAt, rowsAt, ctx, kAt + kvh * d * 4, d, group, scoresAt, scale);
          for (let g = 0; g < group; g++) {
            const base = g * ctx;
            let m = -Infinity, l = 0;
            for (let j = 0; j < ctx; j++) if (scores[base + j] > m) m = scores[base + j];
            for (let j = 0; j < ctx; j++) {
              const e = Math.fround(Math.exp(scores[base + j] - m));
              scores[base + j] = e;
              l += e;
            }
            sums[g] = l;
          }
          pv(rowsAt, ctx, vAt + kvh * d * 4, d, group, scoresAt, accAt);
          for (let g = 0; g < group; g++) {
            const o = q0 + g * d, a = g * d, l = sums[g];
            for (let i = 0; i < d; i++) out[o + i] = acc[a + i] / l;
          }
        }
      }
      return out;
    },
  };
}
