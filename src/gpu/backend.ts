/**
 * The op-level interface a transformer engine runs on. Tensors are opaque handles owned by the
 * backend that created them; every op writes into a caller-allocated output, so a decode step
 * allocates nothing. Implementations: `cpu` (TypedArray reference), `webgpu-eager` (one
 * unfused kernel per op), `webgpu` (fused kernels, tuned per bucket). All share the
 * conformance suite in `tests/gpu/backend_conformance_test.ts`.
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
