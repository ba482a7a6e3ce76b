/**
 * The end-of-step kernel of a recorded decode plan: appends the sampled ids to the history
 * buffer at the current step, advances every sequence's position, recomputes its KV slot from
 * the block table, and increments the step counter — all on the GPU, so K decode steps run
 * in one submit with one readback.
 *
 * @example
 * ```ts
 * import { decodeAdvanceKernel } from "./decode_advance.ts";
 * console.assert(decodeAdvanceKernel({ blockSize: 16, maxBlocks: 8 }).code.includes("history"));
 * ```
 */
import { defineKernel, type KernelSource, positiveInt } from "./kernel_source.ts";

/** Geometry of {@link decodeAdvanceKernel}. */
export interface DecodeAdvanceOptions {
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** Block-table row length. */
  readonly maxBlocks: number;
}

/**
 * Bindings: 0 uniform `{tokens}`, 1 state (u32 rw; `state[0]` = step), 2 positions (rw),
 * 3 token → sequence, 4 block table, 5 slots (rw), 6 sampled ids, 7 history (rw,
 * `[steps, tokens]`). Dispatch one workgroup.
 */
export function decodeAdvanceKernel(options: DecodeAdvanceOptions): KernelSource {
  const bs = positiveInt(options.blockSize, "blockSize");
  const mb = positiveInt(options.maxBlocks, "maxBlocks");
  const code = `
const BS: u32 = ${bs}u;
const MAXB: u32 = ${mb}u;
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> positions: array<u32>;
@group(0) @binding(3) var<storage, read> tokenSeq: array<u32>;
@group(0) @binding(4) var<storage, read> blockTable: array<u32>;
@group(0) @binding(5) var<storage, read_write> slots: array<u32>;
@group(0) @binding(6) var<storage, read> ids: array<u32>;
@group(0) @binding(7) var<storage, read_write> history: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  let step = state[0];
  for (var t = lid; t < params.tokens; t += 64u) {
    history[step * params.tokens + t] = ids[t];
    let pos = positions[t] + 1u;
    positions[t] = pos;
    slots[t] = blockTable[tokenSeq[t] * MAXB + min(pos / BS, MAXB - 1u)] * BS + pos % BS;
  }
  storageBarrier();
  if (lid == 0u) { state[0] = step + 1u; }
}
`;
  return defineKernel(
    `decode_advance.bs${bs}.mb${mb}`,
    { blockSize: bs, maxBlocks: mb, wg: [64] },
    code,
  );
}
