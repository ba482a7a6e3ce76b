/**
 * The `cpu` backend's matmul kernels (mitata): WebAssembly SIMD over weights in wasm memory
 * against the TypedArray reference (`matmulRef` over dequantised f32, f64 accumulation), same
 * run, on the 100m fixture's largest matmul (fused gate+up, 4096 × 768), at m = 1, 8 and 32 rows,
 * with the weight cache-resident ("hot": one weight) and streamed from memory ("stream": 64
 * distinct weights in turn, ~200 MB as int8, read from memory like a decode step), and the
 * stream case split over the default thread count (`defaultCpuThreads`).
 * Run: node_modules/.bin/deno run -A bench/cpu_matmul.ts [--dtype q8_0|f32]
 * Prints a Markdown table on stdout; progress on stderr.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { measure } from "mitata";
import { createWasmWeight } from "../src/gpu/backends/cpu_wasm/wasm_weight.ts";
import { createCpuThreadPool } from "../src/gpu/backends/cpu_wasm/thread_pool.ts";
import { defaultCpuThreads } from "../src/gpu/backends/cpu_backend.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../src/gpu/kernels/host_weight.ts";
import { matmulRef } from "../src/gpu/reference/dense.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { dtype: { type: "string", default: "q8_0" } },
});
const dtype = values.dtype as "q8_0" | "f32";
const n = 4096, k = 768, copies = dtype === "f32" ? 16 : 64;
const host = hostWeightFromF32(dtype, Float32Array.from({ length: n * k }, (_, i) => Math.sin(i)), [
  n,
  k,
]);
console.error(`[cpu-matmul] placing ${copies} copies of a ${n}×${k} ${dtype} weight ...`);
const weights = Array.from({ length: copies }, () => createWasmWeight(host)!);
const deq = dequantizeWeight(host);
const threads = defaultCpuThreads();
const pool = threads > 1 ? createCpuThreadPool(threads) : undefined;
const shared = pool ? Array.from({ length: copies }, () => createWasmWeight(host, pool)!) : [];

async function gmacs(m: number, run: (x: Float32Array, i: number) => unknown): Promise<number> {
  const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i));
  let i = 0;
  const stats = await measure(() => run(x, i++), { min_cpu_time: 1e9 });
  return (m * n * k) / stats.avg; // multiply-adds per ns = G/s
}

const rows: string[] = [];
const f = (v: number) => (Number.isNaN(v) ? "—" : v.toFixed(2));
for (const m of [1, 8, 32]) {
  console.error(`[cpu-matmul] m = ${m} ...`);
  const js = await gmacs(m, (x) => matmulRef(x, deq, { m, n, k }));
  const hot = await gmacs(m, (x) => weights[0].multiply(x, m));
  const stream = await gmacs(m, (x, i) => weights[i % copies].multiply(x, m));
  const split = pool ? await gmacs(m, (x, i) => shared[i % copies].multiply(x, m)) : NaN;
  const cells = [js, hot, stream, split, hot / js, stream / js, split / stream].map(f);
  rows.push(`| ${m} | ${cells.join(" | ")} |`);
}
pool?.close();
console.log(`#### cpu matmul kernels, ${dtype} ${n} × ${k} (${runtimeLabel()})

G multiply-adds/s (mitata mean). js = reference on dequantised f32 (hot: one weight); "stream ${threads}t"
= the stream case split over ${threads} threads (the caller and ${threads - 1} worker threads).

| m | js | wasm hot | wasm stream | wasm stream ${threads}t | hot ÷ js | stream ÷ js | ${threads}t ÷ 1t |
| -: | -: | -: | -: | -: | -: | -: | -: |
${rows.join("\n")}`);
