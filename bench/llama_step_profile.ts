/**
 * Where one decode step's time goes at batch 1 and batch 8 on a WebGPU backend (issue 12: the
 * engine's batch 8 was slower per step than batch 1 on the H200). Same run, same model:
 *   - host: building the step's inputs (ids, positions, block table), encoding the step's ops
 *     (the synchronous part of `LlamaBatchRunner.run`), and host greedy sampling of the rows;
 *   - wall time of the whole step (submit + GPU + logits readback);
 *   - device time of each matmul shape of the step at m = 8: the tiled GEMM (what m > 1 ran
 *     before) against the GEMV over 8 rows (what decode batches run now).
 * Run: node_modules/.bin/deno run -A bench/llama_step_profile.ts [--size tiny|100m]
 *      [--dtype q8_0] [--backend webgpu] [--steps N]
 * Prints a Markdown section on stdout.
 */
import { parseArgs } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { acquireRuntimeGpu } from "../src/runtime/gpu_device.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import { createWebGpuBackend } from "../src/gpu/backends/webgpu_backend.ts";
import { createKvCachePool, createLlamaBatchRunner } from "../src/gpu/llama/llama_batch_runner.ts";
import { releaseLlamaWeights } from "../src/gpu/llama/llama_decode_step.ts";
import { gemmGrid, gemmKernel } from "../src/gpu/kernels/gemm.ts";
import { gemvGrid, gemvKernel, type MatmulEpilogue } from "../src/gpu/kernels/gemv.ts";
import { hostWeightFromF32, packWeight } from "../src/gpu/kernels/host_weight.ts";
import { loadLlamaModel } from "../src/model/model_loader.ts";
import { llamaKernelConfig, uploadLlamaCheckpoint } from "../src/model/llama_upload.ts";
import { createSampler } from "../engines/llama/token_sampler.ts";
import { writeFixtureModel } from "../tests/fixtures/model/fixture_model.ts";
import { median, timeDispatch } from "./gpu_bench_util.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    size: { type: "string", default: "tiny" },
    dtype: { type: "string", default: "q8_0" },
    backend: { type: "string", default: "webgpu" },
    steps: { type: "string", default: "8" },
  },
});
const log = (s: string) => console.error(`[step-profile] ${s}`);
const size = values.size as "tiny" | "100m", dtype = values.dtype as "q8_0";
const steps = Number(values.steps);
const gpu = await acquireRuntimeGpu(log);
if (!gpu) throw new Error("Cannot profile: no WebGPU adapter");
const dir = await mkdtemp(join(tmpdir(), "sluice-step-profile-"));
const path = join(dir, "model.gguf");
await writeFixtureModel(path, { size, dtype });
const files = {
  readFile: async (p: string) => new Uint8Array(await readFile(p)),
  readTextFile: (p: string) => readFile(p, "utf8"),
};
const { checkpoint } = await loadLlamaModel(path, files, () => {});
const geometry = { blockSize: 16, maxBlocks: 8 };
const rt = new KernelRuntime(gpu);
const backend = createWebGpuBackend(rt, { fused: values.backend === "webgpu" });
const model = uploadLlamaCheckpoint(backend, checkpoint, geometry);
const c = llamaKernelConfig(checkpoint, geometry), layers = checkpoint.config.layers;
const pool = createKvCachePool(backend, model.config, { layers, numBlocks: 8 * c.maxBlocks });
const runner = createLlamaBatchRunner(backend, model, pool);
const lines: string[] = [];

for (const t of [1, 8]) {
  const sampler = createSampler({ temperature: 0 });
  const prep: number[] = [], encode: number[] = [], wall: number[] = [], sample: number[] = [];
  for (let s = 0; s < steps + 2; s++) {
    const t0 = performance.now();
    const ids = new Uint32Array(t).fill(5 + s), positions = new Uint32Array(t).fill(s);
    const tokenSeq = Uint32Array.from({ length: t }, (_, i) => i);
    const blockTable = new Uint32Array(t * c.maxBlocks);
    for (let r = 0; r < t; r++) {
      for (let b = 0; b < c.maxBlocks; b++) {
        blockTable[r * c.maxBlocks + b] = r * c.maxBlocks + b;
      }
    }
    const rows = Array.from({ length: t }, (_, i) => i);
    const t1 = performance.now();
    const pending = runner.run({ ids, positions, tokenSeq, blockTable, logitRows: rows });
    const t2 = performance.now();
    const logits = await pending;
    const t3 = performance.now();
    for (let r = 0; r < t; r++) {
      sampler.sample(logits.subarray(r * c.vocab, (r + 1) * c.vocab), [], []);
    }
    const t4 = performance.now();
    if (s < 2) continue; // compiles out of the timings
    prep.push(t1 - t0);
    encode.push(t2 - t1);
    wall.push(t3 - t1);
    sample.push(t4 - t3);
  }
  lines.push(
    `| ${t} | ${median(prep).toFixed(3)} | ${median(encode).toFixed(2)} | ${
      median(sample).toFixed(3)
    } | ${median(wall).toFixed(2)} |`,
  );
  log(lines.at(-1)!);
}

// Device time of each matmul shape at m = 8: GEMM (before) vs GEMV over 8 rows (now).
const shapes: [string, number, number, MatmulEpilogue][] = [
  ["qkv", (c.heads + 2 * c.kvHeads) * c.headDim, c.hidden, { kind: "store" }],
  ["o", c.hidden, c.heads * c.headDim, { kind: "store" }],
  ["gate+up+silu", c.intermediate, c.hidden, { kind: "gate_up_silu" }],
  ["down", c.hidden, c.intermediate, { kind: "store" }],
  ["lm head", c.vocab, c.hidden, { kind: "store" }],
];
const mm: string[] = [];
let gemmSum = 0, gemvSum = 0;
for (const [name, n, k, epilogue] of shapes) {
  const m = 8, rows = epilogue.kind === "gate_up_silu" ? 2 * n : n;
  const w = packWeight(hostWeightFromF32(dtype, new Float32Array(rows * k).fill(0.01), [rows, k]));
  const bufs = [rt.uniform([m]), rt.buffer(new Float32Array(m * k).fill(1)), rt.buffer(w.data)];
  bufs.push(rt.buffer(m * n * 4));
  const bindings: Record<number, GPUBuffer> = { 0: bufs[0], 1: bufs[1], 2: bufs[2], 4: bufs[3] };
  if (w.scales) bufs.push(bindings[3] = rt.buffer(w.scales));
  const o = { repeats: 4, trials: 3 };
  const gemm = await timeDispatch(
    rt,
    gemmKernel({ dtype, n, k, epilogue }),
    bindings,
    gemmGrid({ n, m }),
    o,
  );
  const gemv = await timeDispatch(
    rt,
    gemvKernel({ dtype, n, k, epilogue }),
    bindings,
    gemvGrid({ n, m }),
    o,
  );
  bufs.forEach((b) => b.destroy());
  gemmSum += name === "lm head" ? gemm : gemm * layers;
  gemvSum += name === "lm head" ? gemv : gemv * layers;
  mm.push(
    `| ${name} | ${n} × ${k} | ${gemm.toFixed(3)} | ${gemv.toFixed(3)} | ${
      (gemm / gemv).toFixed(2)
    }× |`,
  );
  log(mm.at(-1)!);
}
runner.release();
pool.release();
releaseLlamaWeights(backend, model.weights);
backend.destroy();
rt.destroy();
gpu.destroy();
await rm(dir, { recursive: true, force: true });

console.log(
  `### Decode step profile (${size} fixture, ${dtype}, ${values.backend}; ${runtimeLabel()}; ${
    new Date().toISOString().slice(0, 10)
  })

Adapter: ${gpu.adapter.description || gpu.providerName}. Median of ${steps} steps (ms).

| batch | host inputs | host encode (sync part of run) | host greedy sampling | step wall (submit → logits read) |
| ---: | ---: | ---: | ---: | ---: |
${lines.join("\n")}

Matmuls at m = 8 (device ms per dispatch, default kernels):

| matmul | n × k | GEMM | GEMV × 8 rows | GEMM ÷ GEMV |
| --- | --- | ---: | ---: | ---: |
${mm.join("\n")}

Per step (${layers} layers + LM head): GEMM ${gemmSum.toFixed(2)} ms, GEMV ${gemvSum.toFixed(2)} ms.
`,
);
