/**
 * The end-of-step kernel of a decode step (the `advance` backend op): appends the sampled ids
 * to the history buffer at row `state[0]`, advances every token's position, and increments the
 * step counter — all on the GPU, so K decode steps run in one submit with one readback.
 *
 * With block geometry it also recomputes each token's KV slot from the block table (for
 * callers that address the cache by slot, as {@link kvAppendKernel} does without `paged`).
 * The backends' paged ops derive slots from positions and the block table themselves, so the
 * `advance` op uses the variant without geometry.
 *
 * @example
 * ```ts
 * import { decodeAdvanceKernel } from "./decode_advance.ts";
 * console.assert(decodeAdvanceKernel().code.includes("history"));
 * console.assert(decodeAdvanceKernel({ blockSize: 16, maxBlocks: 8 }).code.includes("slots"));
 * ```
 */
import { defineKernel, type KernelSource, positiveInt } from "./kernel_source.ts";

/** Block geometry of the slot-recomputing variant of {@link decodeAdvanceKernel}. */
export interface DecodeAdvanceOptions {
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** Block-table row length. */
  readonly maxBlocks: number;
}

/**
 * Bindings: 0 uniform `{tokens}`, 1 state (u32 rw; `state[0]` = step), 2 positions (rw),
 * 6 sampled ids, 7 history (rw, `[steps, tokens]`); with `options` also 3 token → sequence,
 * 4 block table, 5 slots (rw). Dispatch one workgroup. A step whose row lies past the end of
 * the history binding writes no row (positions and the counter still advance), so an overrun
 * never touches memory outside the buffer.
 */
export function decodeAdvanceKernel(options?: DecodeAdvanceOptions): KernelSource {
  const bs = options && positiveInt(options.blockSize, "blockSize");
  const mb = options && positiveInt(options.maxBlocks, "maxBlocks");
  const slotCode = options
    ? {
      bindings: `@group(0) @binding(3) var<storage, read> tokenSeq: array<u32>;
@group(0) @binding(4) var<storage, read> blockTable: array<u32>;
@group(0) @binding(5) var<storage, read_write> slots: array<u32>;`,
      body:
        `\n    slots[t] = blockTable[tokenSeq[t] * ${mb}u + min(pos / ${bs}u, ${mb}u - 1u)] * ${bs}u + pos % ${bs}u;`,
    }
    : { bindings: "", body: "" };
  const code = `
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> positions: array<u32>;
@group(0) @binding(6) var<storage, read> ids: array<u32>;
@group(0) @binding(7) var<storage, read_write> history: array<u32>;
${slotCode.bindings}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  let step = state[0];
  let rows = arrayLength(&history) / params.tokens;
  for (var t = lid; t < params.tokens; t += 64u) {
    if (step < rows) { history[step * params.tokens + t] = ids[t]; }
    let pos = positions[t] + 1u;
    positions[t] = pos;${slotCode.body}
  }
  storageBarrier();
  if (lid == 0u) { state[0] = step + 1u; }
}
`;
  return options
    ? defineKernel(
      `decode_advance.bs${bs}.mb${mb}`,
      { blockSize: bs!, maxBlocks: mb!, wg: [64] },
      code,
    )
    : defineKernel("decode_advance", { wg: [64] }, code);
}
