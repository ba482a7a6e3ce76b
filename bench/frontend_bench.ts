/**
 * The frontend benchmark: streams of 100 tokens (sample engine, zero delay) through
 * `sluice serve`, against a bare hono SSE route emitting 100 events
 * (`bench/sse_baseline.ts`) on the same runtime, in the same run. For each concurrency
 * level and repeat it measures the baseline and then Sluice with the load generator
 * (`bench/load.ts` over `src/bench/load_generator.ts`), and reports medians and the streams/s ratio.
 *
 *     deno run -A bench/frontend_bench.ts --server deno     (servers under Deno)
 *     deno run -A bench/frontend_bench.ts --server bun      (servers under Bun)
 *
 * Processes are spawned with `spawnCommand` from `tests/fixtures/spawn_fixture.ts`.
 * The load generator runs as its own process, under Bun by default (`--client`): Deno's
 * `fetch` client tops out near 350 streams/s of 100 events here, below either server,
 * which would measure the client instead of the servers.
 *
 * @module
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import process from "node:process";
import type { LoadResult } from "../src/bench/load_generator.ts";
import { type Fixture, spawnCommand } from "../tests/fixtures/spawn_fixture.ts";
import { writeJson } from "./bench_util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BIN = { deno: `${ROOT}node_modules/.bin/deno`, bun: `${ROOT}node_modules/.bin/bun` };
type RuntimeName = keyof typeof BIN;

function script(runtime: RuntimeName, file: string, args: string[]): [string, string[]] {
  const path = `${ROOT}${file}`;
  return runtime === "deno" ? [BIN.deno, ["run", "-A", path, ...args]] : [BIN.bun, [path, ...args]];
}

/** Starts a server process and resolves with its URL once it prints "listening on …:PORT". */
async function startServer(runtime: RuntimeName, file: string, args: string[]) {
  const child = spawnCommand(...script(runtime, file, args), { DYN_LOG: "warn" });
  try {
    const match = await child.waitForStdout(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
    return { url: `http://127.0.0.1:${match[1]}`, child };
  } catch (error) {
    await child[Symbol.asyncDispose]();
    throw new Error(`Cannot start ${file}`, { cause: error });
  }
}

/** SIGTERM, then SIGKILL after 10 s. */
async function stop(child: Fixture): Promise<void> {
  const timer = setTimeout(() => child[Symbol.asyncDispose](), 10_000);
  try {
    child.kill("SIGTERM");
    await child.exited;
  } catch {
    // Already gone.
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one load level in a child load-generator process; returns its result. */
async function load(client: RuntimeName, url: string, concurrency: number, requests: number) {
  const out = `${ROOT}bench/out/load-${process.pid}-${concurrency}.json`;
  await using child = spawnCommand(
    ...script(client, "bench/load.ts", [
      "--url",
      url,
      "--concurrency",
      String(concurrency),
      "--requests",
      String(requests),
      "--warmup",
      String(Math.max(concurrency, 300)),
      "--json",
      out,
      "--quiet",
    ]),
    {},
  );
  const code = await child.exited;
  if (code !== 0) throw new Error(`load generator exited with ${code}:\n${child.stderr()}`);
  const [result] = JSON.parse(await readFile(out, "utf8")) as LoadResult[];
  await rm(out);
  return result;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    server: { type: "string", default: "deno" },
    client: { type: "string", default: "bun" },
    levels: { type: "string", default: "1,64,512" },
    repeats: { type: "string", default: "3" },
    requests: { type: "string", default: "1:500,64:4000,512:6000" },
  },
});
const server = values.server as RuntimeName;
const client = values.client as RuntimeName;
if (!(server in BIN) || !(client in BIN)) throw new TypeError("--server/--client: deno or bun");
const requestsFor = new Map(
  values.requests!.split(",").map((pair) => pair.split(":").map(Number) as [number, number]),
);
const levels = values.levels!.split(",").map(Number);
const repeats = Number(values.repeats);
await mkdir(`${ROOT}bench/out`, { recursive: true });

const baseline = await startServer(server, "bench/sse_baseline.ts", ["--port", "0"]);
const sluice = await startServer(server, "apps/cli/main.ts", [
  "serve",
  "--engine",
  "sample",
  "--delay-ms",
  "0",
  "--port",
  "0",
  "--host",
  "127.0.0.1",
]);
const rows: Record<string, unknown>[] = [];
try {
  for (const concurrency of levels) {
    const requests = requestsFor.get(concurrency) ?? 2000;
    const runs: { baseline: LoadResult; sluice: LoadResult }[] = [];
    for (let r = 0; r < repeats; r++) {
      const b = await load(client, baseline.url, concurrency, requests);
      const s = await load(client, sluice.url, concurrency, requests);
      console.error(
        `${server} c=${concurrency} #${r + 1}: baseline ${b.requestsPerSecond.toFixed(0)}/s, ` +
          `sluice ${s.requestsPerSecond.toFixed(0)}/s (${s.errors + b.errors} errors)`,
      );
      runs.push({ baseline: b, sluice: s });
    }
    const pick = (f: (run: { baseline: LoadResult; sluice: LoadResult }) => number) =>
      median(runs.map(f));
    rows.push({
      concurrency,
      requests,
      baselineStreamsPerSecond: pick((x) => x.baseline.requestsPerSecond),
      sluiceStreamsPerSecond: pick((x) => x.sluice.requestsPerSecond),
      ratio: pick((x) => x.sluice.requestsPerSecond / x.baseline.requestsPerSecond),
      sluiceOutputTokensPerSecond: pick((x) => x.sluice.outputTokensPerSecond),
      sluiceTtftP50: pick((x) => x.sluice.ttftMs.p50),
      sluiceTtftP90: pick((x) => x.sluice.ttftMs.p90),
      sluiceTtftP99: pick((x) => x.sluice.ttftMs.p99),
      sluiceItlP50: pick((x) => x.sluice.itlMs.p50),
      sluiceItlP99: pick((x) => x.sluice.itlMs.p99),
      sluiceLatencyP50: pick((x) => x.sluice.latencyMs.p50),
      sluiceLatencyP90: pick((x) => x.sluice.latencyMs.p90),
      sluiceLatencyP99: pick((x) => x.sluice.latencyMs.p99),
      baselineLatencyP50: pick((x) => x.baseline.latencyMs.p50),
      errors: runs.reduce((sum, x) => sum + x.sluice.errors + x.baseline.errors, 0),
      runs,
    });
  }
} finally {
  await stop(baseline.child);
  await stop(sluice.child);
}
await writeJson(`${ROOT}bench/out/frontend_${server}.json`, { server, client, repeats, rows });
const f = (n: unknown, d = 0) => (n as number).toFixed(d);
console.log(
  `\nServer runtime ${server}, load generator ${client}; medians of ${repeats} runs.\n\n` +
    "| concurrency | bare hono SSE streams/s | sluice serve streams/s | ratio | sluice output tok/s | TTFT p50 / p90 / p99 ms | ITL p50 / p99 ms | latency p50 / p90 / p99 ms | errors |\n" +
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
);
for (const row of rows) {
  console.log(
    `| ${row.concurrency} | ${f(row.baselineStreamsPerSecond)} | ${
      f(row.sluiceStreamsPerSecond)
    } | ${f((row.ratio as number) * 100)}% | ${f(row.sluiceOutputTokensPerSecond)} | ${
      f(row.sluiceTtftP50, 2)
    } / ${f(row.sluiceTtftP90, 2)} / ${f(row.sluiceTtftP99, 2)} | ${f(row.sluiceItlP50, 3)} / ${
      f(row.sluiceItlP99, 3)
    } | ${f(row.sluiceLatencyP50, 1)} / ${f(row.sluiceLatencyP90, 1)} / ${
      f(row.sluiceLatencyP99, 1)
    } | ${row.errors} |`,
  );
}
