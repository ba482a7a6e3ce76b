/**
 * The `cpu` backend's paged attention (mitata), same run: the reference (`pagedAttentionRef`,
 * f64), its CPU arrangement (`pagedAttentionCpu`, the same bits) and the WebAssembly SIMD kernels
 * (`createWasmKv`), on the 100m fixture's geometry (12 query heads over 4 KV heads, head dim 64),
 * for one decode token at contexts 128, 512 and 2048 and a 64-token prefill chunk at 512.
 * Run: node_modules/.bin/deno run -A bench/cpu_attention.ts
 * Prints a Markdown table on stdout; progress on stderr.
 */
import { measure } from "mitata";
import { pagedAttentionRef } from "../src/gpu/reference/attention.ts";
import { pagedAttentionCpu } from "../src/gpu/backends/cpu_attention.ts";
import { createWasmKv } from "../src/gpu/backends/cpu_wasm/wasm_attention.ts";
import { runtimeLabel } from "./bench_util.ts";

const heads = 12, kvHeads = 4, d = 64, blockSize = 16, maxBlocks = 128;
const rows = maxBlocks * blockSize;
const fill = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * seed));
const k = fill(rows * kvHeads * d, 1.1), v = fill(rows * kvHeads * d, 2.3);
const kv = createWasmKv(k, v, { kvHeads, headDim: d, group: heads / kvHeads })!;
const blockTable = Uint32Array.from({ length: maxBlocks }, (_, i) => (i * 37) % maxBlocks);

async function ms(run: () => unknown): Promise<number> {
  return (await measure(run, { min_cpu_time: 5e8 })).avg / 1e6;
}

const lines: string[] = [];
for (
  const [label, context, tokens] of [
    ["decode", 128, 1],
    ["decode", 512, 1],
    ["decode", 2048, 1],
    ["prefill chunk", 512, 64],
  ] as const
) {
  console.error(`[cpu-attention] ${label} at ${context} ...`);
  const positions = Uint32Array.from({ length: tokens }, (_, i) => context - tokens + i);
  const input = {
    heads,
    kvHeads,
    headDim: d,
    blockSize,
    maxBlocks,
    blockTable,
    tokenSeq: new Uint32Array(tokens),
    positions,
  };
  const q = fill(tokens * heads * d, 3.7);
  const ref = await ms(() => pagedAttentionRef(q, { k, v }, input));
  const cpu = await ms(() => pagedAttentionCpu(q, { k, v }, input));
  const simd = await ms(() => kv.attend(q, input));
  lines.push(
    `| ${label} | ${context} | ${tokens} | ${ref.toFixed(3)} | ${cpu.toFixed(3)} | ${
      simd.toFixed(3)
    } | ${(ref / cpu).toFixed(1)}× | ${(ref / simd).toFixed(1)}× |`,
  );
}
console.log(`#### cpu paged attention, one layer (${runtimeLabel()})

ms per call (mitata mean); H = 12 over 4 KV heads, D = 64.

| case | context | tokens | reference | arranged (same bits) | wasm SIMD | arranged ÷ ref | SIMD ÷ ref |
| ---- | ------: | -----: | --------: | -------------------: | --------: | -------------: | ---------: |
${lines.join("\n")}`);
