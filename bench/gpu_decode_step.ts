/**
 * Llama decode step on the `webgpu` backend: milliseconds per token op at a time (queue one
 * step, read the sampled id back: what an engine without a plan does) against the same step
 * captured into a DecodePlan and run K = 1, 4 and 16 steps per submit (one readback per K
 * steps, the sampled id fed back on the GPU). Same process, same weights, modes interleaved
 * per trial; the greedy ids of every mode are checked to be identical.
 *
 * The backend runs what an engine would: the step's matmuls tuned per bucket through the
 * kernel compile cache (warm up → create the backend with the warmed kernel set). The cache persists in
 * `$TMPDIR/sluice-kernel-cache` (or the kernel-cache env vars), so only the first run pays for
 * autotuning; `--untuned` runs the default kernels instead.
 *
 * Run: node_modules/.bin/deno run -A bench/gpu_decode_step.ts [--quick] [--untuned]
 * Prints a Markdown section on stdout; progress on stderr.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireGpuContext } from "../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../src/gpu/device/gpu_provider.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { CapturingBackend } from "../src/gpu/ops/backend.ts";
import { createWebGpuBackend } from "../src/gpu/backends/webgpu_backend.ts";
import { warmUpKernelSet } from "../src/gpu/backends/matmul_tuning.ts";
import type { CompiledKernelSet } from "../src/gpu/compile/kernel_set.ts";
import { KernelCompileCache } from "../src/gpu/compile/compile_cache.ts";
import { cacheKeyFactors, kernelCacheEnv } from "../src/gpu/compile/cache_key_factors.ts";
import { fsKernelCacheStorage } from "../src/runtime/gpu_cache_storage.ts";
import type { LlamaKernelConfig } from "../src/gpu/compile/model_kernel_set.ts";
import { createLlamaDecodeStep, releaseLlamaWeights } from "../src/gpu/llama/llama_decode_step.ts";
import { randomLlamaWeights } from "../src/gpu/llama/llama_random_weights.ts";

const quick = Deno.args.includes("--quick");
const untuned = Deno.args.includes("--untuned");
const log = (s: string) => console.error(`[decode-step-bench] ${s}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const TOKENS = quick ? 16 : 32; // tokens per trial and mode (a multiple of 16)
const TRIALS = quick ? 3 : 5;
const LAYERS = quick ? 2 : 4;
const config: LlamaKernelConfig = {
  hidden: quick ? 256 : 512,
  intermediate: quick ? 704 : 1408,
  heads: quick ? 4 : 8,
  kvHeads: 2,
  headDim: 64,
  vocab: quick ? 2048 : 8192,
  dtype: "q8_0",
  blockSize: 16,
  maxBlocks: TOKENS / 16,
  ropeTheta: 1e4,
  ropeMode: "neox",
  eps: 1e-5,
};

const ctx = await acquireGpuContext(navigatorGpuProvider(), {
  runtime: `Deno/${Deno.version.deno}`,
});
const rt = new KernelRuntime(ctx);
let kernels: CompiledKernelSet | undefined, tuned = "default kernels (--untuned)";
if (!untuned) {
  const cache = await KernelCompileCache.open(rt, {
    storage: fsKernelCacheStorage(),
    ...kernelCacheEnv(Deno.env.toObject(), join(tmpdir(), "sluice-kernel-cache")),
    factors: cacheKeyFactors(ctx, config, config.dtype),
    autotune: { repeats: 2, trials: 2 },
  });
  log(`warming up the kernel set, bucket 1 (cache: ${cache.directory ?? "disabled"})`);
  kernels = await warmUpKernelSet(cache, config, {
    buckets: [1],
    onProgress: (p) => log(`warm-up ${p.done}/${p.total} ${p.name}`),
  });
  await cache.save();
  const c = cache.counters;
  tuned = `autotuned per bucket (compile cache: ${c.cacheHits} hits, ${c.tunings} pieces tuned ` +
    `in this run)`;
}
const backend: CapturingBackend = createWebGpuBackend(rt, { fused: true, kernels });
const weights = randomLlamaWeights(backend, config, { layers: LAYERS, seed: 1 });
const step = createLlamaDecodeStep(backend, { config, weights }, {
  blockTable: Uint32Array.from({ length: config.maxBlocks }, (_, i) => i),
  numBlocks: config.maxBlocks,
  maxSteps: TOKENS,
  sampling: [{ temperature: 0, topK: 0, topP: 1, seed: 0 }],
});
const plan = await backend.capture(() => step.encode(), { history: step.history });
const restart = () => {
  step.reset(new Uint32Array([1]), new Uint32Array([0]));
  plan.resetHistory();
};

/** One trial of a mode: TOKENS tokens from position 0; returns ms per token and the ids. */
async function trial(k: number | "op"): Promise<{ ms: number; ids: number[] }> {
  restart();
  await backend.read(step.state); // the reset has landed before the clock starts
  const ids: number[] = [];
  const start = performance.now();
  if (k === "op") {
    for (let i = 0; i < TOKENS; i++) {
      step.encode();
      ids.push(...await backend.read(step.ids));
    }
  } else {
    for (let i = 0; i < TOKENS; i += k) ids.push(...await plan.run(k));
  }
  return { ms: (performance.now() - start) / TOKENS, ids };
}

const modes: (number | "op")[] = ["op", 1, 4, 16];
log("warm-up (pipelines, first submits)");
const reference = (await trial("op")).ids;
for (const k of [1, 4, 16]) await trial(k);
const times = new Map(modes.map((m) => [m, [] as number[]]));
let agree = true;
for (let t = 0; t < TRIALS; t++) {
  log(`trial ${t + 1}/${TRIALS}`);
  for (const mode of modes) {
    const { ms, ids } = await trial(mode);
    times.get(mode)!.push(ms);
    agree &&= ids.join() === reference.join();
  }
}
if (!agree) throw new Error("Cannot report: the modes decoded different ids");

const weightBytes = (() => {
  const q8 = (params: number) => params / 32 * 34; // GGML Q8_0: 32 int8 + one f16 scale
  const q = config.heads * config.headDim, kv = config.kvHeads * config.headDim;
  const layer = (q + 2 * kv) * config.hidden + config.hidden * q +
    2 * config.intermediate * config.hidden + config.hidden * config.intermediate;
  return q8(LAYERS * layer + config.vocab * config.hidden) + config.hidden * 4; // + 1 gathered row
})();
const dispatches = plan.steps.filter((s) => s.kind === "dispatch").length;
const out: string[] = [];
const row = (...cells: (string | number)[]) => out.push(`| ${cells.join(" | ")} |`);
const opMs = median(times.get("op")!);
out.push(
  `### Llama decode step: captured plan vs op at a time (webgpu, ${quick ? "quick" : "full"} run)`,
  "",
  `Model: hidden ${config.hidden}, intermediate ${config.intermediate}, ${config.heads}/${config.kvHeads} heads × ${config.headDim}, vocab ${config.vocab}, ${LAYERS} layers, ${config.dtype} (${
    (weightBytes / 2 ** 20).toFixed(1)
  } MiB of weights read per token), 1 sequence, block size ${config.blockSize}, greedy; ${dispatches} dispatches per step; matmuls: ${tuned}. Device: ${
    ctx.adapter.description || ctx.adapter.vendor
  } (${ctx.providerName}), ${ctx.runtime}.`,
  "",
);
row("mode", "submits + readbacks per token", "ms per token", "tokens/s", "weight GB/s", "speed-up");
row("---", "---", "---", "---", "---", "---");
for (const mode of modes) {
  const ms = median(times.get(mode)!);
  row(
    mode === "op" ? "op at a time (queue step, read id)" : `captured plan, K = ${mode}`,
    mode === "op" ? "1 + 1" : `1/${mode} + 1/${mode}`,
    ms.toFixed(2),
    (1000 / ms).toFixed(1),
    (weightBytes / (ms * 1e6)).toFixed(2),
    `${(opMs / ms).toFixed(2)}×`,
  );
}
out.push(
  "",
  `Median of ${TRIALS} trials of ${TOKENS} tokens from position 0 per mode (modes interleaved); ` +
    `the greedy ids of all modes were identical. The captured plan at K = 16 takes ` +
    `**${(opMs / median(times.get(16)!)).toFixed(2)}×** less time per token than op at a time.`,
);

plan.destroy();
step.release();
releaseLlamaWeights(backend, weights);
backend.destroy();
rt.destroy();
ctx.destroy();
console.log(out.join("\n"));
