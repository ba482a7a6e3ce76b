/**
 * Percentile summaries for the load generator: nearest-rank percentiles over the
 * per-request samples.
 *
 * @module
 */

/** Percentile summary of one metric, in milliseconds (or the metric's unit). */
export interface Distribution {
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentile over a sorted array (`NaN` when empty).
 *
 * @example
 * ```ts
 * import { percentile } from "./load_statistics.ts";
 * console.assert(percentile([1, 2, 3, 4], 0.5) === 2);
 * ```
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Summarises `values` (which it does not modify).
 *
 * @example
 * ```ts
 * import { distribution } from "./load_statistics.ts";
 * console.assert(distribution([3, 1, 2]).max === 3);
 * ```
 */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    avg: sorted.length ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
