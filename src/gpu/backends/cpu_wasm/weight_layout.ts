/**
 * Where a weight's pieces sit in its wasm memory, and the call that multiplies a range of its
 * rows: shared by the thread that owns the weight and the worker threads that help with it.
 *
 * @example
 * ```ts
 * import { weightLayout } from "./weight_layout.ts";
 * const l = weightLayout(64, 32, true);
 * console.assert(l.weightAt % 16 === 0 && l.bytes > l.weightAt);
 * ```
 *
 * @module
 */
import { MATMUL_PASS_ROWS } from "./matmul_kernels.ts";

/** Byte offsets of a weight `[n, k]` in its memory: x and y scratch, scales, weights. */
export interface WeightLayout {
  readonly n: number;
  readonly k: number;
  /** Int8 values with f32 block scales (else f32 values). */
  readonly quantised: boolean;
  /** Scratch for {@link MATMUL_PASS_ROWS} rows of y (x scratch is at 0). */
  readonly yAt: number;
  /** f32 scales, one per 32 values (quantised only). */
  readonly scaleAt: number;
  /** The weight values. */
  readonly weightAt: number;
  /** Bytes in all. */
  readonly bytes: number;
}

/** The layout of a weight `[n, k]`. */
export function weightLayout(n: number, k: number, quantised: boolean): WeightLayout {
  const yAt = MATMUL_PASS_ROWS * k * 4;
  const scaleAt = yAt + MATMUL_PASS_ROWS * n * 4;
  const weightAt = Math.ceil((scaleAt + (quantised ? (n * k) / 32 : 0) * 4) / 16) * 16;
  return { n, k, quantised, yAt, scaleAt, weightAt, bytes: weightAt + n * k * (quantised ? 1 : 4) };
}

/** The kernel exports of one instance. */
export type MatmulExports = Record<string, (...args: number[]) => void>;

/**
 * Multiplies weight rows `[j0, j1)` by the `rows` (1 or {@link MATMUL_PASS_ROWS}) rows of x in
 * the scratch, writing those columns of the y scratch. Nothing happens for an empty range.
 */
export function runRows(
  kernels: MatmulExports,
  l: WeightLayout,
  rows: number,
  j0: number,
  j1: number,
): void {
  if (j1 <= j0) return;
  if (l.quantised) {
    kernels[`q8_r${rows}`](
      0,
      l.weightAt + j0 * l.k,
      l.scaleAt + j0 * (l.k / 8),
      l.yAt + j0 * 4,
      j1 - j0,
      l.k,
      l.n,
    );
  } else {
    kernels[`f32_r${rows}`](0, l.weightAt + j0 * l.k * 4, l.yAt + j0 * 4, j1 - j0, l.k, l.n);
  }
}

/** Row range `part` of `parts` of `n` rows (contiguous, sizes differing by at most one). */
export function rowRange(n: number, part: number, parts: number): [number, number] {
  return [Math.floor((part * n) / parts), Math.floor(((part + 1) * n) / parts)];
}
