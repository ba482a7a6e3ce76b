/**
 * The mocker's timing model (CONTRACT.md §8, Dynamo's mocker): polynomial fits of a
 * vLLM engine's iteration time, in milliseconds.
 *
 * @module
 */

/**
 * Predicted prefill time for `tokens` new (uncached) tokens in one batch:
 * 4.209989e-07·T² + 1.518344e-02·T + 16.50142 ms, and 0 when T = 0.
 */
export function predictPrefillMs(tokens: number): number {
  if (tokens <= 0) return 0;
  return 4.209989e-07 * tokens * tokens + 1.518344e-02 * tokens + 16.50142;
}

/**
 * Predicted decode time at KV occupancy `p` = active KV tokens / total KV tokens:
 * −25.74·p² + 54.01·p + 5.74 ms, floored at 1.0 ms.
 */
export function predictDecodeMs(p: number): number {
  return Math.max(1.0, -25.74 * p * p + 54.01 * p + 5.74);
}

/**
 * One scheduler iteration: the prefill time of its new prompt tokens plus, when it decodes
 * any sequence, the decode time at the occupancy after scheduling; divided by the speedup
 * ratio (0 = no simulated delay).
 */
export function iterationMs(
  prefillTokens: number,
  decodes: number,
  occupancy: number,
  speedupRatio: number,
): number {
  if (speedupRatio <= 0) return 0;
  const ms = predictPrefillMs(prefillTokens) + (decodes > 0 ? predictDecodeMs(occupancy) : 0);
  return ms / speedupRatio;
}
