/**
 * The op-level interface a transformer engine runs on. Tensors are opaque handles owned by the
 * backend that created them; every op writes into a caller-allocated output, so a decode step
 * allocates nothing. Implementations: `cpu` (TypedArray reference), `webgpu-eager` (one
 * unfused kernel per op), `webgpu` (fused kernels, tuned per bucket). All share the
 * conformance suite in `tests/gpu/backend_conformance_test.ts` and
 * `tests/gpu/backend_conformance_decode_test.ts` (KV append, paged attention, sampling).
 *
 * @example
 * ```ts ignore
 * const x = backend.upload(new Float32Array([1, 2]), [1, 2]);
 * const w = backend.uploadWeight(hostWeightFromF32("f32", new Float32Array([1, 0, 0, 1]), [2, 2]));
 * const y = backend.empty([1, 2]);
 * backend.matmul(y, x, w);
 * console.log(await backend.read(y));
 * ```
 */
import type { HostWeight } from "./host_weight.ts";
import type { RopeMode } from "./kernels/rope.ts";
import type { PagedBatch, PagedKvCache } from "./paged_kv_cache.ts";
import type { SamplingInputs } from "./sampling_inputs.ts";

/** An f32 or u32 activation tensor, or a weight. MUST only be passed to its own backend. */
export interface Tensor {
  /** Logical shape. */
  readonly shape: readonly number[];
  /** Element type (`weight` for uploaded weights of any storage format). */
  readonly kind: "f32" | "u32" | "weight";
  /** Name of the backend that created it. */
  readonly backend: string;
}

/** The ops. Shapes: activations are row-major `[tokens, features]`. */
export interface Backend {
  /** Registry name. */
  readonly name: string;
  /** Uploads f32 or u32 data. */
  upload(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor;
  /** Allocates a zeroed f32 (or u32) tensor. */
  empty(shape: readonly number[], kind?: "f32" | "u32"): Tensor;
  /** Uploads a weight `[N, K]` in its storage format. */
  uploadWeight(weight: HostWeight): Tensor;
  /** Reads a tensor back (waits for queued work). */
  read(tensor: Tensor): Promise<Float32Array | Uint32Array>;
  /** `out[M, N] = x[M, K] · w[N, K]ᵀ`. */
  matmul(out: Tensor, x: Tensor, w: Tensor): void;
  /**
   * Fused QKV projection: `qkv = concat(Wq, Wk, Wv)` rows `[Nq + Nk + Nv, K]`; writes
   * `q[M, Nq]`, `k[M, Nk]`, `v[M, Nv]` (plus `bias[Nq + Nk + Nv]` when given, as in Qwen2).
   */
  matmulQkv(
    outs: readonly [q: Tensor, k: Tensor, v: Tensor],
    x: Tensor,
    qkv: Tensor,
    bias?: Tensor,
  ): void;
  /** Embedding gather: `out[T, D] = table[ids[t], :]` for a weight table `[V, D]`. */
  embedding(out: Tensor, table: Tensor, ids: Tensor): void;
  /** Row-wise numerically stable softmax of `x[T, C]` into `out`. */
  softmax(out: Tensor, x: Tensor): void;
  /** `out[M, N] = silu(x·gateᵀ) · (x·upᵀ)` for `gateUp = concat(gate, up)` rows `[2N, K]`. */
  matmulGateUpSilu(out: Tensor, x: Tensor, gateUp: Tensor): void;
  /** RMSNorm of each row. */
  rmsnorm(out: Tensor, x: Tensor, weight: Tensor, eps: number): void;
  /** `residual += x; out = rmsnorm(residual)`. */
  addRmsnorm(out: Tensor, residual: Tensor, x: Tensor, weight: Tensor, eps: number): void;
  /** In-place RoPE of `x[T, heads·headDim]` at `positions[T]`. */
  rope(
    x: Tensor,
    positions: Tensor,
    options: { heads: number; headDim: number; theta: number; mode: RopeMode },
  ): void;
  /** `out = a + b`. */
  add(out: Tensor, a: Tensor, b: Tensor): void;
  /** `out[T] = argmax(logits[T, V])`. */
  argmax(out: Tensor, logits: Tensor): void;
  /**
   * Writes this step's keys and values `k, v[T, kvHeads·headDim]` into `cache` at the slot of
   * each token's (sequence, position) through its block table (see {@link PagedBatch}). Slots
   * not addressed by the batch MUST stay unchanged; two tokens MUST NOT share a slot.
   */
  kvAppend(cache: PagedKvCache, k: Tensor, v: Tensor, batch: PagedBatch): void;
  /**
   * Causal paged attention with GQA: for each token `t`, query heads `q[t, heads·headDim]`
   * (query head `h` reads KV head `⌊h / (heads / kvHeads)⌋`) attend over positions
   * `0..positions[t]` of sequence `tokenSeq[t]` read through its block table, with scale
   * `1/sqrt(headDim)`; writes `out[T, heads·headDim]`. Decode passes one token per sequence at
   * position `contextLength − 1` after {@link Backend.kvAppend} of that token. The GPU backends
   * split the context (split-K) and merge the partial softmaxes; the `cpu` backend uses one
   * softmax over the whole context.
   */
  pagedAttention(out: Tensor, q: Tensor, cache: PagedKvCache, batch: PagedBatch): void;
  /**
   * Samples one id per row of `logits[rows, V]` into the u32 tensor `out[rows]`, on the device:
   * per-row temperature (0 = greedy argmax), top-k (0 = cap), top-p, then a draw from the
   * PCG hash of (seed, `state[0]`, row), so equal inputs give equal ids on every backend.
   * Limitation: at most `SAMPLE_MAX_K` (256) candidates are kept, so top-p applies
   * within the top 256 logits. The caller advances `state[0]` between steps (the decode
   * plan's advance kernel does it on the GPU).
   */
  sample(out: Tensor, logits: Tensor, sampling: SamplingInputs): void;
  /** Frees a tensor's memory; the handle MUST NOT be used afterwards. */
  release(tensor: Tensor): void;
  /** Frees everything the backend allocated. */
  destroy(): void;
}

/** Asserts that `tensor` belongs to `backend`. */
export function assertOwned(backend: Backend, tensor: Tensor): void {
  if (tensor.backend !== backend.name) {
    throw new TypeError(`Cannot use a ${tensor.backend} tensor on the ${backend.name} backend`);
  }
}
