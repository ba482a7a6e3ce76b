/**
 * The op-level interface a transformer engine runs on. Tensors are opaque handles owned by the
 * backend that created them; every op writes into a caller-allocated output, so a decode step
 * allocates nothing. Implementations: `cpu` (TypedArray reference), `webgpu-eager` (one
 * unfused kernel per op), `webgpu` (fused kernels, tuned per bucket). All share the
 * conformance suite in `tests/gpu/backend_conformance_test.ts` and
 * `tests/gpu/backend_conformance_decode_test.ts` (KV append, paged attention, sampling,
 * advance). The WebGPU backends are also {@link CapturingBackend}s: a decode step written once
 * against these ops can be captured into a replayable {@link DecodePlan}.
 *
 * @example
 * ```ts ignore
 * const x = backend.upload(new Float32Array([1, 2]), [1, 2]);
 * const w = backend.uploadWeight(hostWeightFromF32("f32", new Float32Array([1, 0, 0, 1]), [2, 2]));
 * const y = backend.empty([1, 2]);
 * backend.matmul(y, x, w);
 * console.log(await backend.read(y));
 * ```
 *
 * @module
 */
import type { DecodePlan } from "./decode_plan.ts";
import type { HostWeight } from "../kernels/host_weight.ts";
import type { RopeMode } from "../kernels/rope.ts";
import type { PagedBatch, PagedKvCache } from "./paged_kv_cache.ts";
import type { SamplingInputs } from "./sampling_inputs.ts";
import type { Tensor } from "./tensor.ts";

export type { Tensor } from "./tensor.ts";

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
  /**
   * Overwrites an f32 or u32 tensor with `data` of the same kind and element count, in order
   * with queued ops: ops queued before see the old values, ops queued after the new ones.
   * Throws `RangeError` on a kind or length mismatch.
   */
  write(tensor: Tensor, data: Float32Array | Uint32Array): void;
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
  /**
   * In-place RoPE of `x[T, heads·headDim]` at `positions[T]`; `freqFactors` (Llama 3's
   * `rope_freqs`, one per rotated pair) divide the pair frequencies.
   */
  rope(
    x: Tensor,
    positions: Tensor,
    options: {
      heads: number;
      headDim: number;
      theta: number;
      mode: RopeMode;
      freqFactors?: readonly number[];
    },
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
  /**
   * The end of a decode step: writes this step's sampled `ids[T]` into row `state[0]` of the
   * u32 `history[maxSteps, T]`, increments every `positions[t]` and then `state[0]` (the step
   * `sample` mixes into its draw), so the next step embeds the sampled ids at the next
   * position. Throws `RangeError` on mis-shaped tensors. A step at or past `maxSteps` MUST
   * NOT write outside `history`: `cpu` throws `RangeError`; the GPU backends cannot check
   * device data, so they write no row (positions and the counter still advance).
   */
  advance(history: Tensor, inputs: DecodeAdvanceInputs): void;
  /** Frees a tensor's memory; the handle MUST NOT be used afterwards. */
  release(tensor: Tensor): void;
  /** Frees everything the backend allocated. */
  destroy(): void;
}

/** The per-token state {@link Backend.advance} moves (all u32 tensors of the backend). */
export interface DecodeAdvanceInputs {
  /** `[T]` ids sampled this step (what the next step's embedding reads). */
  readonly ids: Tensor;
  /** `[T]` positions, incremented by one. */
  readonly positions: Tensor;
  /** `[≥1]`; word 0 is the step: the history row written, then incremented. */
  readonly state: Tensor;
}

/** What {@link CapturingBackend.capture} needs besides the step. */
export interface CaptureOptions {
  /**
   * u32 `[maxSteps, T]` that the step's {@link Backend.advance} writes; the plan reads its
   * rows back and refuses to run past `maxSteps`.
   */
  readonly history: Tensor;
}

/**
 * A backend whose ops can be captured into a {@link DecodePlan} (the CUDA-graph analogue).
 * While `step` runs, ops are recorded instead of queued; their uniforms and temporaries live
 * as long as the plan (freed by {@link DecodePlan.destroy}, or by the backend's `destroy`,
 * after which the plan's `destroy` does nothing); pipelines come from the runtime's cache and
 * bind groups are built once.
 */
export interface CapturingBackend extends Backend {
  /**
   * Records `step` (which calls this backend's ops; it is not run) and resolves to its plan.
   * Throws `TypeError` synchronously, so that a capture nested in `step` fails the outer one:
   * while ops are queued and unflushed (read a tensor first), or while another capture is
   * recording. During the capture `read` and `write` throw `TypeError` (their data would be
   * fixed into the plan) and so does a step that records no op.
   */
  capture(step: () => void, options: CaptureOptions): Promise<DecodePlan>;
}

/** `true` when `backend` can capture decode plans. */
export function canCapture(backend: Backend): backend is CapturingBackend {
  return typeof (backend as Partial<CapturingBackend>).capture === "function";
}

/** Checks the tensors of {@link Backend.advance}; returns `[T, maxSteps]` or throws `RangeError`. */
export function advanceGeometry(
  history: Tensor,
  inputs: DecodeAdvanceInputs,
): { tokens: number; maxSteps: number } {
  const count = (t: Tensor) => t.shape.reduce((a, b) => a * b, 1);
  const tokens = count(inputs.ids);
  const problems = [
    history.kind !== "u32" || history.shape.length !== 2 || history.shape[1] !== tokens
      ? `history is not u32 [maxSteps, ${tokens}]`
      : "",
    inputs.ids.kind !== "u32" || tokens === 0 ? "ids is not u32 [T ≥ 1]" : "",
    inputs.positions.kind !== "u32" || count(inputs.positions) !== tokens
      ? `positions is not u32 [${tokens}]`
      : "",
    inputs.state.kind !== "u32" || count(inputs.state) < 1 ? "state is not u32 [≥1]" : "",
  ].filter(Boolean);
  if (problems.length) throw new RangeError(`Cannot advance: ${problems.join("; ")}`);
  return { tokens, maxSteps: history.shape[0] };
}

/** Checks the data of {@link Backend.write}; returns the byte count or throws `RangeError`. */
export function writeBytes(tensor: Tensor, data: Float32Array | Uint32Array): number {
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  const kind = data instanceof Uint32Array ? "u32" : "f32";
  if (tensor.kind !== kind || data.length !== count) {
    throw new RangeError(
      `Cannot write ${data.length} ${kind} values into a ${tensor.kind} tensor [${tensor.shape}]`,
    );
  }
  return data.byteLength;
}

/** Asserts that `tensor` belongs to `backend`. */
export function assertOwned(backend: Backend, tensor: Tensor): void {
  if (tensor.backend !== backend.name) {
    throw new TypeError(`Cannot use a ${tensor.backend} tensor on the ${backend.name} backend`);
  }
}
