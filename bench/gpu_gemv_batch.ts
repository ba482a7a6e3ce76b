/**
 * Token-batched GEMV (`src/gpu/kernels/gemv_tokens.ts`) at a decode batch of m = 8 on the 100m
 * fixture's matmul shapes, against baselines measured in the same run: today's GEMV over the
 * 8 rows (T = 1, grid z = 8: every row re-reads and re-decodes the weights), the tiled GEMM,
 * and the same GEMV at m = 1 (the bound a memory-bound device approaches: batching is free when
 * the weights are read once). Device ms per dispatch (`DispatchTimer`: GPU timestamps, or the
 * slope of two submit sizes), per strategy configuration, best T of 2, 4 and 8.
 * Run: node_modules/.bin/deno run -A bench/gpu_gemv_batch.ts [--dtypes q8_0,f16] [--m 8]
 *      [--configs small|all] [--quick]
 * `--configs all` times every GEMV candidate of the autotuner (for a real GPU; the default is a
 * few configurations that llvmpipe runs in minutes). Markdown on stdout, progress on stderr.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { acquireRuntimeGpu } from "../src/runtime/gpu_device.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { WeightDType } from "../src/gpu/kernels/kernel_source.ts";
import { gemvGrid, gemvKernel, type MatmulEpilogue } from "../src/gpu/kernels/gemv.ts";
import { gemmGrid, gemmKernel } from "../src/gpu/kernels/gemm.ts";
import { GEMV_CANDIDATES, gemvTuning, type TuningConfig } from "../src/gpu/compile/kernel_piece.ts";
import { hostWeightFromF32, packWeight } from "../src/gpu/kernels/host_weight.ts";
import { timeDispatch } from "./gpu_bench_util.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    dtypes: { type: "string", default: "q8_0,f16" },
    m: { type: "string", default: "8" },
    configs: { type: "string", default: "small" },
    quick: { type: "boolean", default: false },
  },
});
const log = (s: string) => console.error(`[gemv-batch] ${s}`);
const m = Number(values.m);
const dtypes = values.dtypes!.split(",") as WeightDType[];
const timing = values.quick ? { repeats: 2, trials: 3 } : { repeats: 4, trials: 3 };
const ctx = await acquireRuntimeGpu(log);
if (!ctx) throw new Error("Cannot run bench/gpu_gemv_batch.ts: no WebGPU adapter");
const rt = new KernelRuntime(ctx);

/** The 100m fixture's matmuls (hidden 768, 12 heads of 64, 4 KV heads, FFN 2048, vocab 448). */
const SHAPES: { name: string; n: number; k: number; epilogue: MatmulEpilogue }[] = [
  { name: "qkv", n: 1280, k: 768, epilogue: { kind: "split3", sizes: [768, 256, 256] } },
  { name: "o", n: 768, k: 768, epilogue: { kind: "store" } },
  { name: "gate+up+silu", n: 2048, k: 768, epilogue: { kind: "gate_up_silu" } },
  { name: "down", n: 768, k: 2048, epilogue: { kind: "store" } },
  { name: "lm head", n: 448, k: 768, epilogue: { kind: "store" } },
];

/** Configurations: the default (untuned) kernel, llvmpipe's usual winners, one `wide`. */
const SMALL: TuningConfig[] = [
  { wg: 64, rows: 1, lane: 0 },
  { wg: 32, rows: 2, lane: 1 },
  { wg: 32, rows: 8, lane: 1 },
  { wg: 128, tpr: 32, rows: 4, unroll: 1, lane: 0, wide: 1 },
];
const configs = values.configs === "all" ? GEMV_CANDIDATES : SMALL;

const label = (t: TuningConfig) => {
  const o = gemvTuning(t);
  return `${o.strategy} wg ${o.workgroupSize}${
    o.strategy === "wide" ? ` tpr ${o.threadsPerRow} unroll ${o.unroll}` : ""
  } rows ${o.rows}`;
};

const out: string[] = [
  `### Token-batched GEMV at m = ${m} (${runtimeLabel()}, ${
    ctx.adapter.description || ctx.adapter.architecture
  })`,
  "",
  'Device ms per dispatch. "T = 1" is the GEMV before batching (one pass over the weights per',
  'row); "batched" the fastest of T = 2, 4, 8 tokens per pass; "m = 1" one row, same kernel.',
  "",
  "| matmul | n × k | dtype | configuration | m = 1 | T = 1 × " + m +
  " rows | batched (T) | T = 1 ÷ batched | batched ÷ m = 1 |",
  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
];
const gemmRows: string[] = [];
for (const s of SHAPES) {
  for (const dtype of dtypes) {
    const wRows = s.epilogue.kind === "gate_up_silu" ? 2 * s.n : s.n;
    const packed = packWeight(
      hostWeightFromF32(
        dtype,
        new Float32Array(wRows * s.k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
        [wRows, s.k],
      ),
    );
    const sizes = s.epilogue.kind === "split3" ? s.epilogue.sizes : [s.n];
    const bufs: GPUBuffer[] = [];
    const keep = (b: GPUBuffer) => (bufs.push(b), b);
    const bindingsFor = (rows: number) => {
      const b: Record<number, GPUBuffer> = {
        0: keep(rt.uniform([rows])),
        1: keep(rt.buffer(new Float32Array(rows * s.k).map((_, i) => ((i * 31) % 17) / 17))),
        2: keep(rt.buffer(packed.data)),
        4: keep(rt.buffer(rows * sizes[0] * 4)),
      };
      if (packed.scales) b[3] = keep(rt.buffer(packed.scales));
      if (sizes.length === 3) {
        [b[6], b[7]] = [keep(rt.buffer(rows * sizes[1] * 4)), keep(rt.buffer(rows * sizes[2] * 4))];
      }
      return b;
    };
    const one = bindingsFor(1), many = bindingsFor(m);
    const opts = { dtype, n: s.n, k: s.k, epilogue: s.epilogue };
    try {
      for (const t of configs) {
        const o = gemvTuning(t);
        const time = (rows: number, tokens: number) =>
          timeDispatch(
            rt,
            gemvKernel({ ...opts, ...o, tokens }),
            rows === 1 ? one : many,
            gemvGrid({ n: s.n, m: rows, ...o, tokens }),
            timing,
          );
        log(`${s.name} ${dtype} ${label(t)}`);
        const single = await time(1, 1);
        const plain = await time(m, 1);
        let best = { ms: Infinity, tokens: 0 };
        for (const tokens of [2, 4, 8].filter((x) => x <= Math.max(2, m))) {
          const ms = await time(m, tokens);
          if (ms < best.ms) best = { ms, tokens };
        }
        out.push(
          `| ${s.name} | ${s.n} × ${s.k} | ${dtype} | ${label(t)} | ${single.toFixed(3)} | ${
            plain.toFixed(3)
          } | ${best.ms.toFixed(3)} (${best.tokens}) | ${(plain / best.ms).toFixed(2)}× | ${
            (best.ms / single).toFixed(2)
          }× |`,
        );
      }
      log(`${s.name} ${dtype} gemm`);
      const gemm = await timeDispatch(
        rt,
        gemmKernel(opts),
        many,
        gemmGrid({ n: s.n, m }),
        timing,
      );
      gemmRows.push(`| ${s.name} | ${s.n} × ${s.k} | ${dtype} | ${gemm.toFixed(3)} |`);
    } finally {
      bufs.forEach((b) => b.destroy());
    }
  }
}
out.push(
  "",
  `Tiled GEMM (default tile) at m = ${m}, same run:`,
  "",
  "| matmul | n × k | dtype | GEMM ms |",
  "| --- | --- | --- | ---: |",
  ...gemmRows,
);
console.log(out.join("\n"));
