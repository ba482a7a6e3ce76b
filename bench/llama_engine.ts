/**
 * Llama engine throughput per backend on the ~100M-parameter fixture (issue 12), each next to
 * baselines measured in the same run:
 *   - decode tokens/s at batch 1 and batch 8 (aggregate), prefill tokens/s;
 *   - on the WebGPU backends, the same decode runs twice in one engine: one step (and one
 *     logits readback) per token, then multi-step greedy decode (`--multi-step` K steps per
 *     submit, ids fed back on the GPU, one readback per window), with warm-ups of both;
 *   - the bandwidth bound: bytes of weights read per decode step ÷ the backend's copy bandwidth
 *     (a typed-array copy on `cpu`, a buffer-copy kernel on the GPU);
 *   - 1 ÷ the latency of one small readback (the bound a decode loop that reads back every
 *     token cannot beat).
 * `cpu-js` is the `cpu` backend with its TypedArray reference kernels (`--cpu-kernels js`), the
 * baseline of the default WebAssembly SIMD ones; `cpu-1t` the SIMD kernels on one thread
 * (`--cpu-threads 1`), the baseline of the default thread count.
 * Run: node_modules/.bin/deno run -A bench/llama_engine.ts [--size tiny|100m] [--dtype q8_0]
 *      [--backends cpu,cpu-1t,cpu-js,webgpu-eager,webgpu] [--decode N] [--prefill N] [--multi-step K]
 *      [--int8-gemv off|auto|force] [--tune]
 * `--tune` autotunes the matmuls of buckets 1 and 8 at start (minutes on llvmpipe); without it
 * every matmul runs its default kernel.
 * Prints a Markdown section on stdout; progress on stderr.
 */
import { parseArgs } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { LlamaEngine } from "../engines/llama/mod.ts";
import { parseGenerateRequest } from "../src/engine/generate_request.ts";
import { createRequestContext } from "../src/engine/request_context.ts";
import { acquireRuntimeGpu } from "../src/runtime/gpu_device.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import { createWebGpuBackend } from "../src/gpu/backends/webgpu_backend.ts";
import { memoryCacheStorage } from "../src/gpu/compile/kernel_cache_storage.ts";
import { copyBandwidth, median } from "./gpu_bench_util.ts";
import { writeFixtureModel } from "../tests/fixtures/model/fixture_model.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    size: { type: "string", default: "100m" },
    dtype: { type: "string", default: "q8_0" },
    backends: { type: "string", default: "cpu,webgpu-eager,webgpu" },
    decode: { type: "string", default: "6" },
    prefill: { type: "string", default: "32" },
    "multi-step": { type: "string", default: "16" },
    "int8-gemv": { type: "string", default: "auto" },
    tune: { type: "boolean", default: false },
  },
});
const log = (s: string) => console.error(`[llama-bench] ${s}`);
const size = values.size as "tiny" | "100m";
const dtype = values.dtype as "f32" | "f16" | "q8_0" | "q4_0";
const decodeTokens = Number(values.decode), prefillTokens = Number(values.prefill);
const multiStep = Number(values["multi-step"]);
const dir = await mkdtemp(join(tmpdir(), "sluice-llama-bench-"));
const path = join(dir, `fixture-${size}-${dtype}.gguf`);
const fileBytes = await writeFixtureModel(path, { size, dtype });
log(`fixture ${path}: ${(fileBytes / 1e6).toFixed(1)} MB`);
const gpu = await acquireRuntimeGpu(log);

/**
 * Bytes each backend reads per decode step: weights as stored there (`cpu` holds Q8_0 / Q4_0 as
 * int8 + an f32 scale per 32 and f16 as f32; `cpu-js` dequantises everything to f32).
 */
function weightBytes(engine: LlamaEngine, backend: string): number {
  const c = engine.loaded!.checkpoint;
  let params = 0, stored = 0;
  const add = (w: { shape: readonly number[]; data: ArrayBufferView }) => {
    params += w.shape[0] * w.shape[1];
    stored += w.data.byteLength;
  };
  for (const l of c.layers) for (const w of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) add(w);
  add(c.lmHead ?? c.embedding);
  // The embedding gather reads one row per token: negligible.
  if (backend === "cpu-js" || (backend.startsWith("cpu") && !dtype.startsWith("q"))) {
    return params * 4;
  }
  return backend.startsWith("cpu") ? params * (1 + 4 / 32) : stored;
}

/** Copy bandwidth (GB/s, read + write) of the backend's memory. */
async function bandwidth(backend: string): Promise<number> {
  if (backend.startsWith("cpu")) {
    const src = new Float32Array(16 << 20).fill(1), dst = new Float32Array(16 << 20);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      dst.set(src);
      times.push(performance.now() - t);
    }
    return (2 * src.byteLength) / (median(times) * 1e6);
  }
  return (await copyBandwidth(new KernelRuntime(gpu!), 64 << 20, 5)).gbs;
}

/** Median latency (ms) of reading back one small tensor. */
async function readbackMs(backend: string): Promise<number> {
  if (backend.startsWith("cpu")) return 0;
  const b = createWebGpuBackend(new KernelRuntime(gpu!), { fused: true });
  try {
    const t = b.upload(new Float32Array(4), [4]);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      b.write(t, new Float32Array([i, 0, 0, 0]));
      const s = performance.now();
      await b.read(t);
      times.push(performance.now() - s);
    }
    return median(times);
  } finally {
    b.destroy();
  }
}

async function generate(engine: LlamaEngine, prompt: number[], maxTokens: number) {
  const { context } = createRequestContext();
  const request = parseGenerateRequest({
    model: "m",
    token_ids: prompt,
    stop_conditions: { max_tokens: maxTokens, ignore_eos: true },
    sampling_options: { temperature: 0 },
  });
  const start = performance.now();
  let first = 0, count = 0;
  for await (const c of engine.generate(request, context)) {
    if (c.token_ids.length && !first) first = performance.now();
    count += c.token_ids.length;
  }
  return { start, first, end: performance.now(), count };
}

const rows: string[] = [];
for (const name of values.backends!.split(",")) {
  if (!name.startsWith("cpu") && !gpu) {
    log(`skipping ${name}: no GPU`);
    continue;
  }
  log(`${name}: starting`);
  const engine = new LlamaEngine({
    model: path,
    backend: name.startsWith("cpu") ? "cpu" : name as "webgpu",
    cpuKernels: name === "cpu-js" ? "js" : "wasm",
    cpuThreads: name === "cpu-1t" ? 1 : undefined,
    int8Gemv: values["int8-gemv"] as "auto",
    log: (l) => log(`${name}: ${l}`),
    gpu: () => Promise.resolve(gpu),
    kernelCache: {
      storage: memoryCacheStorage(),
      root: "/bench",
      disabled: true,
      tune: values.tune,
    },
    warmBuckets: [1, 8],
    maxModelLen: 256,
    maxNumBatchedTokens: 256,
    multiStep,
  });
  await engine.start("bench");
  try {
    const prompt = Array.from({ length: prefillTokens }, (_, i) => (i * 37) % 400 + 3);
    await generate(engine, [1, 2, 3], 2); // first-dispatch compiles out of the timings
    const pre = await generate(engine, prompt, 1);
    const prefillTps = prefillTokens / ((pre.first - pre.start) / 1000);
    log(`${name}: prefill ${prefillTps.toFixed(1)} tok/s`);
    /** Decode tokens/s at batch 1 and batch 8 (aggregate), after a warm-up of both sizes. */
    const decode = async (label: string) => {
      // Warm-up: compiles (and, multi-step, captures the T = 1 and T = 8 plans) out of the timings.
      await generate(engine, [1, 4, 9], 4);
      await Promise.all(Array.from({ length: 8 }, (_, i) => generate(engine, [2, 5 + i, 9], 4)));
      const one = await generate(engine, [1, 5, 9], decodeTokens + 1);
      const b1 = decodeTokens / ((one.end - one.first) / 1000);
      const eight = await Promise.all(
        Array.from({ length: 8 }, (_, i) => generate(engine, [1, 5 + i, 9], decodeTokens + 1)),
      );
      const firstAll = Math.max(...eight.map((r) => r.first)),
        endAll = Math.max(...eight.map((r) => r.end));
      const b8 = (8 * decodeTokens) / ((endAll - firstAll) / 1000);
      log(`${name}: ${label} decode b1 ${b1.toFixed(2)} tok/s, b8 ${b8.toFixed(2)} tok/s`);
      return { b1, b8 };
    };
    engine.setMultiStep(1);
    const single = await decode("one step per submit:");
    let multi: { b1: number; b8: number } | undefined;
    if (!name.startsWith("cpu")) {
      engine.setMultiStep(multiStep);
      const windows = engine.multiStepWindows();
      multi = await decode(`multi-step (K ≤ ${multiStep}):`);
      // Not a throw: the other rows of a (costly) GPU run still print.
      if (engine.multiStepWindows() === windows) {
        log(`${name}: the multi-step path never ran; its columns are left out`);
        multi = undefined;
      } else log(`${name}: ${engine.multiStepWindows() - windows} multi-step windows`);
    }
    const bytes = weightBytes(engine, name);
    const gbs = await bandwidth(name);
    const bound = (gbs * 1e9) / bytes;
    const rb = await readbackMs(name);
    const best = Math.max(single.b1, multi?.b1 ?? 0);
    const f = (x: number | undefined, d = 2) => x === undefined ? "—" : x.toFixed(d);
    rows.push(
      `| ${name} | ${prefillTps.toFixed(1)} | ${f(single.b1)} | ${f(single.b8)} | ${
        f(single.b8 / single.b1, 1)
      }× | ${f(multi?.b1)} | ${f(multi?.b8)} | ${multi ? `${f(multi.b8 / multi.b1, 1)}×` : "—"} | ${
        multi ? `${f(multi.b1 / single.b1, 1)}×` : "—"
      } | ` +
        `${(bytes / 1e6).toFixed(0)} MB | ${gbs.toFixed(1)} GB/s | ${bound.toFixed(1)} | ${
          ((100 * best) / bound).toFixed(0)
        }% | ${rb ? `${rb.toFixed(2)} ms → ${(1000 / rb).toFixed(0)}` : "—"} |`,
    );
  } finally {
    await engine.cleanup();
  }
}
gpu?.destroy();
await rm(dir, { recursive: true, force: true });

console.log(
  `### Llama engine (${size} fixture, ${dtype}; ${runtimeLabel()}; ${
    new Date().toISOString().slice(0, 10)
  })

Prompt ${prefillTokens} tokens for prefill; ${decodeTokens} decode tokens per request after the first
(greedy). "1 step": one forward step and one logits readback per token; "multi": up to
${multiStep} greedy steps per submit with the ids fed back on the GPU and one readback per window
(same engine, same run). Bound = copy bandwidth ÷ weight bytes read per decode step (cpu reads the
dequantised f32); "best b1 ÷ bound" takes the faster b1.

| backend | prefill tok/s | 1 step b1 tok/s | 1 step b8 tok/s (aggregate) | b8 ÷ b1 | multi b1 tok/s | multi b8 tok/s (aggregate) | b8 ÷ b1 | multi ÷ 1 step (b1) | bytes/token | copy bandwidth | bound tok/s | best b1 ÷ bound | one readback → 1/latency tok/s |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}
`,
);
