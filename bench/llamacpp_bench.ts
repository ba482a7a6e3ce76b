/**
 * `--engine llamacpp` decode throughput: `sluice serve` (HTTP, streaming SSE, a child process)
 * versus `node-llama-cpp` called directly in this process, on the same GGUF file, prompt,
 * threads and greedy settings; batch 1 and 8 concurrent requests. Runs alternate (direct b1,
 * serve b1, direct b8, serve b8) and the table reports medians over the repeats.
 *
 * Decode tokens/s of one request = (tokens − 1) ÷ (time of last token − time of first token),
 * so prefill is excluded; aggregate for 8 = Σ(tokens − 1) ÷ (last token of any − first token
 * of any).
 *
 *   deno run -A bench/llamacpp_bench.ts [--model PATH] [--threads 1] [--tokens 64] [--repeats 3]
 *
 * Without `--model` it writes (once) the ~100M-parameter Q8_0 fixture to
 * `bench/out/fixture_100m_q8_0.gguf`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { loadNodeLlamaCpp } from "../engines/llamacpp/node_llama_cpp.ts";
import { writeFixtureModel } from "../tests/fixtures/model/fixture_model.ts";
import { openGgufFile } from "../src/model/gguf/gguf_file.ts";
import { currentRuntime } from "../src/runtime/runtime.ts";
import { createGgufTokenizer } from "../src/tokenizer/gguf_tokenizer.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "1" },
    tokens: { type: "string", default: "64" },
    repeats: { type: "string", default: "3" },
  },
});
const threads = Number(values.threads);
const tokens = Number(values.tokens);
const repeats = Number(values.repeats);
const PROMPT = "The river ran quietly past the old mill, and the water turned the wheel as it had";
const CONCURRENCY = 8;

let model = values.model;
if (model === undefined) {
  model = "bench/out/fixture_100m_q8_0.gguf";
  if (!existsSync(model)) {
    mkdirSync("bench/out", { recursive: true });
    console.error(`writing the ~100M-parameter fixture to ${model}`);
    await writeFixtureModel(model, { size: "100m", dtype: "q8_0", vocab: "gpt2" });
  }
}

interface Timed {
  /** Arrival times (ms) of each token or SSE event carrying tokens. */
  times: number[];
  tokens: number;
}

function decodeRate(runs: Timed[]): number {
  const first = Math.min(...runs.map((r) => r.times[0]));
  const last = Math.max(...runs.map((r) => r.times.at(-1)!));
  const decoded = runs.reduce((sum, r) => sum + r.tokens - 1, 0);
  return (decoded / (last - first)) * 1000;
}

// --- node-llama-cpp directly -------------------------------------------------------------
const mod = await loadNodeLlamaCpp();
const llama = await mod.getLlama({ gpu: false, build: "never", logLevel: "error" });
const direct = await llama.loadModel({ modelPath: model });
const context = await direct.createContext({ contextSize: 512, sequences: CONCURRENCY, threads });
const sequences = Array.from({ length: CONCURRENCY }, () => context.getSequence());
// The frontend's tokens for the prompt (the GGUF tokenizer, checked equal to llama.cpp's).
const header = await openGgufFile(model, currentRuntime());
const promptIds = createGgufTokenizer(header.header.metadata).encode(PROMPT);

// deno-lint-ignore no-explicit-any
async function directRun(sequence: any): Promise<Timed> {
  const times: number[] = [];
  for await (const _ of sequence.evaluate(promptIds, { temperature: 0 })) {
    times.push(performance.now());
    if (times.length >= tokens) break;
  }
  await sequence.clearHistory();
  return { times, tokens: times.length };
}

// --- sluice serve ------------------------------------------------------------------------
// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const command = g.Deno ? [process.execPath, "run", "-A"] : [process.execPath];
const child = spawn(command[0], [
  ...command.slice(1),
  "src/cli/main.ts",
  "serve",
  "--port",
  "0",
  "--host",
  "127.0.0.1",
  "--engine",
  "llamacpp",
  "--model",
  model,
  "--model-name",
  "bench",
  "--gpu",
  "off",
  "--threads",
  String(threads),
  "--ctx-size",
  "512",
  "--parallel",
  String(CONCURRENCY),
], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, DYN_LOG: "warn" } });
const url = await new Promise<string>((resolve, reject) => {
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (data: string) => {
    out += data;
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (match) resolve(match[1]);
  });
  child.once("exit", (code) => reject(new Error(`sluice serve exited with ${code}`)));
});

async function serveRun(): Promise<Timed> {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      prompt: PROMPT,
      max_tokens: tokens,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const times: number[] = [];
  let count = 0;
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body!) {
    const now = performance.now();
    buffer += decoder.decode(bytes, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop()!;
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.usage) count = chunk.usage.completion_tokens;
      if (chunk.choices?.[0]?.text) times.push(now);
    }
  }
  return { times, tokens: count };
}

// --- runs --------------------------------------------------------------------------------
const results: Record<string, number[]> = {
  direct1: [],
  serve1: [],
  direct8: [],
  serve8: [],
};
await serveRun(); // warm-up: first request pays for lazy tokenizer loading
await directRun(sequences[0]);
for (let r = 0; r < repeats; r++) {
  results.direct1.push(decodeRate([await directRun(sequences[0])]));
  results.serve1.push(decodeRate([await serveRun()]));
  results.direct8.push(decodeRate(await Promise.all(sequences.map((s) => directRun(s)))));
  results.serve8.push(
    decodeRate(await Promise.all(Array.from({ length: CONCURRENCY }, () => serveRun()))),
  );
  console.error(
    `run ${r + 1}/${repeats}: ` +
      Object.entries(results).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(1)}`).join(", "),
  );
}
child.kill("SIGTERM");
await new Promise((resolve) => child.once("exit", resolve));
await context.dispose();
await direct.dispose();
await llama.dispose();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
console.log(
  `\n${runtimeLabel()}, model ${model}, threads ${threads}, ${tokens} tokens, ` +
    `median of ${repeats}\n`,
);
console.log("| path | batch 1 decode tok/s | 8 concurrent aggregate tok/s | 8 ÷ 1 |");
console.log("| --- | ---: | ---: | ---: |");
console.log(
  `| node-llama-cpp direct | ${m.direct1.toFixed(1)} | ${m.direct8.toFixed(1)} | ${
    (m.direct8 / m.direct1).toFixed(2)
  }× |`,
);
console.log(
  `| sluice serve (HTTP SSE) | ${m.serve1.toFixed(1)} | ${m.serve8.toFixed(1)} | ${
    (m.serve8 / m.serve1).toFixed(2)
  }× |`,
);
console.log(
  `\nsluice ÷ direct at batch 1: ${(m.serve1 / m.direct1 * 100).toFixed(0)}% (goal ≥ 90%); ` +
    `at 8: ${(m.serve8 / m.direct8 * 100).toFixed(0)}%`,
);
// Ratios within each run (adjacent measurements share the machine's load), then their median.
const pairs = (num: number[], den: number[]) => median(num.map((x, i) => x / den[i]));
console.log(
  `per-run ratios, median: sluice ÷ direct at batch 1 ${
    (pairs(results.serve1, results.direct1) * 100).toFixed(0)
  }%; sluice 8 ÷ 1 ${pairs(results.serve8, results.serve1).toFixed(2)}×; direct 8 ÷ 1 ${
    pairs(results.direct8, results.direct1).toFixed(2)
  }×`,
);
console.log(`raw: ${JSON.stringify(results)}`);
