/**
 * Large prompts and streams in flight (issue 8, defect 3): the worst inter-token gap of
 * concurrent streams while large prompts arrive, against a baseline with no large request
 * in the same run and on the same server process.
 *
 * A `sluice serve` child (sample engine, `--delay-ms 10`, context 2048) runs `--streams`
 * streaming completions of 250 tokens (~2.5 s each). Phases, each on fresh streams:
 *
 * - `baseline`: no other request;
 * - `huge`: `--huge` chat requests of `--huge-mb` MB each (far beyond the context), sent
 *   0.5 s into the streams (the issue's case: four 7 MB prompts froze streams ~8 s);
 * - `fits-size`: `--huge` completions whose prompt is just under the size bound
 *   (2048 tokens × 128 bytes), so they are tokenized (in chunks) and then refused.
 *
 * Reported per phase: worst gap between consecutive chunks of any stream (client side),
 * p99 gap, and the large requests' status and latency. `--compare-root DIR` runs the same
 * phases against another checkout's `src/cli/main.ts` (e.g. the code before the fix).
 *
 *     deno run -A bench/large_prompt_bench.ts [--server deno|bun] [--compare-root /work/main]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Fixture, spawnCommand } from "../tests/fixtures/spawn_fixture.ts";
import { runtimeLabel, writeJson } from "./bench_util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BIN = { deno: `${ROOT}node_modules/.bin/deno`, bun: `${ROOT}node_modules/.bin/bun` };

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "deno" },
    streams: { type: "string", default: "4" },
    huge: { type: "string", default: "4" },
    "huge-mb": { type: "string", default: "7" },
    "compare-root": { type: "string" },
    json: { type: "string" },
  },
});
const server = values.server as keyof typeof BIN;
const STREAMS = Number(values.streams);
const HUGE = Number(values.huge);
const HUGE_BYTES = Number(values["huge-mb"]) * 1024 * 1024;
const TOKENS = 250;
const FIT_BYTES = 2048 * 128 - 1024;

async function startServe(root: string): Promise<{ url: string; child: Fixture }> {
  const main = `${root.replace(/\/$/, "")}/src/cli/main.ts`;
  const args = ["serve", "--port", "0", "--host", "127.0.0.1", "--delay-ms", "10"];
  const command: [string, string[]] = server === "deno"
    ? [BIN.deno, ["run", "-A", main, ...args]]
    : [BIN.bun, [main, ...args]];
  const child = spawnCommand(...command, { DYN_LOG: "warn" });
  const match = await child.waitForStdout(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 60_000);
  return { url: `http://127.0.0.1:${match[1]}`, child };
}

/** Streams one completion; returns the arrival time of every chunk. */
async function stream(url: string): Promise<number[]> {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "sample-model", prompt: "hi", max_tokens: TOKENS, stream: true }),
  });
  const times: number[] = [];
  const reader = response.body!.getReader();
  while (true) {
    const { done } = await reader.read();
    if (done) break;
    times.push(performance.now());
  }
  return times;
}

function filler(bytes: number): string {
  const line = "The quick brown fox jumps over the lazy dog, again and again.\n";
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

/** Bodies built before the streams start, so the client does no heavy work during them. */
function bodies(kind: "huge" | "fits-size"): Uint8Array[] {
  const encoder = new TextEncoder();
  const text = filler(kind === "huge" ? HUGE_BYTES : FIT_BYTES);
  const body = kind === "huge"
    ? { model: "sample-model", messages: [{ role: "user", content: text }], max_tokens: 8 }
    : { model: "sample-model", prompt: text, max_tokens: 8 };
  const bytes = encoder.encode(JSON.stringify(body));
  return Array.from({ length: HUGE }, () => bytes);
}

interface PhaseResult {
  phase: string;
  worstGapMs: number;
  p99GapMs: number;
  large?: { status: number[]; latencyMs: number[] };
}

async function phase(url: string, name: "baseline" | "huge" | "fits-size"): Promise<PhaseResult> {
  const payloads = name === "baseline" ? [] : bodies(name);
  const streams = Array.from({ length: STREAMS }, () => stream(url));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const large = await Promise.all(payloads.map(async (body) => {
    const t0 = performance.now();
    const response = await fetch(
      `${url}/v1/chat/completions`.replace(
        "chat/completions",
        name === "huge" ? "chat/completions" : "completions",
      ),
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body as Uint8Array<ArrayBuffer>,
      },
    );
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - t0 };
  }));
  const gaps: number[] = [];
  for (const times of await Promise.all(streams)) {
    // Skip the first chunk (time to first token is not a gap).
    for (let i = 2; i < times.length; i++) gaps.push(times[i] - times[i - 1]);
  }
  gaps.sort((a, b) => a - b);
  return {
    phase: name,
    worstGapMs: gaps.at(-1) ?? 0,
    p99GapMs: gaps[Math.floor(gaps.length * 0.99)] ?? 0,
    large: payloads.length === 0 ? undefined : {
      status: large.map((l) => l.status),
      latencyMs: large.map((l) => Math.round(l.ms)),
    },
  };
}

const roots: [string, string][] = [["this checkout", ROOT]];
if (values["compare-root"]) roots.push([values["compare-root"], values["compare-root"]]);
const results: Record<string, PhaseResult[]> = {};
console.error(
  `large_prompt_bench: client ${runtimeLabel()}, server ${server}, ${STREAMS} streams of ` +
    `${TOKENS} tokens at 10 ms, ${HUGE} large requests per phase`,
);
for (const [label, root] of roots) {
  const { url, child } = await startServe(root);
  try {
    await stream(url); // warm-up (tokenizer, JIT)
    results[label] = [];
    for (const name of ["baseline", "huge", "fits-size", "baseline"] as const) {
      console.error(`  ${label}: ${name} ...`);
      results[label].push(await phase(url, name));
    }
  } finally {
    child.kill("SIGTERM");
    await child.exited;
  }
}
console.log(
  "| server code | phase | worst gap ms | p99 gap ms | large requests: status / latency ms |",
);
console.log("| --- | --- | ---: | ---: | --- |");
for (const [label, rows] of Object.entries(results)) {
  for (const r of rows) {
    const large = r.large
      ? `${[...new Set(r.large.status)].join(",")} / ${r.large.latencyMs.join(", ")}`
      : "-";
    console.log(
      `| ${label} | ${r.phase} | ${r.worstGapMs.toFixed(1)} | ${
        r.p99GapMs.toFixed(1)
      } | ${large} |`,
    );
  }
}
if (values.json) await writeJson(values.json, results);
