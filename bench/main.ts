/**
 * Runs the project's benchmarks by name, each in its own process (so one
 * benchmark's JIT and heap state cannot colour another's), under Deno.
 *
 *   deno task bench                    # list
 *   deno task bench stream_path frontend
 *   deno task bench all
 */
import { spawnSync } from "node:child_process";
import process from "node:process";

const DENO = "node_modules/deno/deno";

/** Benchmarks by name: the command line that runs each. */
const BENCHES: Record<string, { args: string[]; what: string }> = {
  stream_path: {
    args: [DENO, "run", "-A", "bench/stream_path_bench.ts"],
    what: "runtime stream path vs a bare ReadableStream pipe (issue 2)",
  },
  stream_memory: {
    args: [DENO, "run", "-A", "--v8-flags=--expose-gc", "bench/stream_memory_bench.ts"],
    what: "10,000 sequential requests: heap and open handles (issue 2)",
  },
  frontend: {
    args: [DENO, "run", "-A", "bench/frontend_bench.ts", "--server", "deno"],
    what: "sluice serve vs a bare hono SSE route, concurrency 1/64/512 (issue 3)",
  },
  large_prompt: {
    args: [DENO, "run", "-A", "bench/large_prompt_bench.ts", "--server", "deno"],
    what: "worst inter-token gap of streams while large prompts arrive, vs none (issue 8)",
  },
  tokenizer: {
    args: [DENO, "run", "-A", "bench/tokenizer_bench.ts"],
    what: "incremental vs naive detokenization, prompt encoding",
  },
  gpu_kernels: {
    args: [DENO, "run", "-A", "bench/gpu_kernels.ts"],
    what: "GEMV/GEMM, kernel cache cold vs warm, decode plan (issue 4)",
  },
  kv_indexer: {
    args: [DENO, "run", "-A", "bench/kv_indexer_bench.ts"],
    what: "KV indexer: 100k blocks / 16 workers vs brute force; kv routing decision p99 (issue 11)",
  },
  kv_routing: {
    args: [DENO, "run", "-A", "bench/kv_routing_bench.ts"],
    what: "4 mocker workers, prefix-heavy trace: kv vs round-robin vs random TTFT (issue 11)",
  },
  llamacpp: {
    args: [DENO, "run", "-A", "bench/llamacpp_bench.ts"],
    what: "--engine llamacpp: sluice serve vs node-llama-cpp direct, batch 1 and 8 (issue 10)",
  },
  gpu_decode_step: {
    args: [DENO, "run", "-A", "bench/gpu_decode_step.ts"],
    what: "Llama decode step: captured plan (K = 1/4/16 per submit) vs op at a time",
  },
  gpu_gemv_batch: {
    args: [DENO, "run", "-A", "bench/gpu_gemv_batch.ts"],
    what: "token-batched GEMV at m = 8 vs per-row GEMV and GEMM (issue 12)",
  },
  gpu_gemv_i8: {
    args: [DENO, "run", "-A", "bench/gpu_gemv_i8.ts"],
    what: "int8-activation GEMV (dot4I8Packed) vs the float GEMV and copy (issue 12)",
  },
  llama_engine: {
    args: [DENO, "run", "-A", "bench/llama_engine.ts", "--size", "100m"],
    what:
      "--engine llama on the 100m fixture: prefill, decode b1/b8, multi-step, per backend (issue 12)",
  },
  cpu_attention: {
    args: [DENO, "run", "-A", "bench/cpu_attention.ts"],
    what: "cpu backend paged attention: reference vs arranged vs WebAssembly SIMD (issue 12)",
  },
  cpu_matmul: {
    args: [DENO, "run", "-A", "bench/cpu_matmul.ts"],
    what: "cpu backend WebAssembly SIMD matmul (1 and N threads) vs TypedArray (issue 12)",
  },
};

const names = process.argv.slice(2);
if (names.length === 0) {
  console.log("Usage: deno task bench <name...> | all\n");
  for (const [name, b] of Object.entries(BENCHES)) console.log(`  ${name.padEnd(14)} ${b.what}`);
  process.exit(0);
}
const selected = names.includes("all") ? Object.keys(BENCHES) : names;
let failed = 0;
for (const name of selected) {
  const bench = BENCHES[name];
  if (bench === undefined) {
    console.error(`unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(", ")})`);
    process.exit(2);
  }
  console.error(`\n== ${name}: ${bench.what}`);
  const [command, ...args] = bench.args;
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`== ${name} failed (exit ${result.status ?? result.signal})`);
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
