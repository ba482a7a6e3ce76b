/**
 * The end-of-step kernel of a decode step (the `advance` backend op): appends the sampled ids
 * to the history buffer at row `state[0]`, advances every token's position, and increments the
 * step counter — all on the GPU, so K decode steps run in one submit with one readback. The
 * paged ops derive each token's KV slot from its position and the block table, so nothing
 * else moves between steps.
 *
 * @example
 * ```ts
 * import { decodeAdvanceKernel } from "./decode_advance.ts";
 * console.assert(decodeAdvanceKernel().code.includes("history"));
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource } from "./kernel_source.ts";

/**
 * Bindings: 0 uniform `{tokens}`, 1 state (u32 rw; `state[0]` = step), 2 positions (rw),
 * 6 sampled ids, 7 history (rw, `[steps, tokens]`). Dispatch one workgroup. A step whose row
 * lies past the end of the history binding writes no row (positions and the counter still
 * advance), so an overrun never touches memory outside the buffer.
 */
export function decodeAdvanceKernel(): KernelSource {
  return defineKernel(
    "decode_advance",
    { wg: [64] },
    `
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> positions: array<u32>;
@group(0) @binding(6) var<storage, read> ids: array<u32>;
@group(0) @binding(7) var<storage, read_write> history: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  let step = state[0];
  let rows = arrayLength(&history) / params.tokens;
  for (var t = lid; t < params.tokens; t += 64u) {
    if (step < rows) { history[step * params.tokens + t] = ids[t]; }
    positions[t] = positions[t] + 1u;
  }
  storageBarrier();
  if (lid == 0u) { state[0] = step + 1u; }
}
`,
  );
}
