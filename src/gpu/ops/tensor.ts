/**
 * The opaque tensor handle every backend hands out, and the one operation that code building
 * device state (KV caches, sampling inputs) needs from a backend: allocation. Kept apart from
 * `backend.ts` so that those modules do not import the backend interface that imports them.
 *
 * @example
 * ```ts
 * import type { Tensor, TensorAllocator } from "./tensor.ts";
 * const zeros = (a: TensorAllocator): Tensor => a.empty([2, 2]);
 * console.assert(typeof zeros === "function");
 * ```
 *
 * @module
 */

/** An f32 or u32 activation tensor, or a weight. MUST only be passed to its own backend. */
export interface Tensor {
  /** Logical shape. */
  readonly shape: readonly number[];
  /** Element type (`weight` for uploaded weights of any storage format). */
  readonly kind: "f32" | "u32" | "weight";
  /** Name of the backend that created it. */
  readonly backend: string;
}

/** Allocates zeroed tensors (every `Backend` is one). */
export interface TensorAllocator {
  /** Allocates a zeroed f32 (or u32) tensor. */
  empty(shape: readonly number[], kind?: "f32" | "u32"): Tensor;
}
