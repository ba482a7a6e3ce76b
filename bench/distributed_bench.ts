/**
 * 1,000 concurrent streams across one `sluice frontend` and two `sluice worker` processes
 * over NATS (NATS-KV discovery, TCP), sample engine with short outputs. Goal: zero errors,
 * and the frontend's and workers' memory (RSS from /proc) back within 10% of the start after
 * the load. "Start" is measured after one warm-up round of the same load (code compiled,
 * pools and buffers at their working size), so the comparison shows what the load leaves
 * behind, not first-use growth; the RSS before the warm-up is reported too. Every process runs
 * through bench/gc_cli.ts, and both measurements follow a full GC in it (SIGUSR2), so garbage
 * not yet collected does not count as memory kept; the process then reports its JS heap in use
 * (`process.memoryUsage().heapUsed`), which separates a leak (heap grows) from an allocator
 * that keeps freed pages (RSS stays up, heap back).
 *
 * Baseline, same run and load: `sluice serve` (the embedded stack: frontend and engine in one
 * process, no NATS), to tell the distributed path's memory from the HTTP server's.
 *
 *     deno run -A bench/distributed_bench.ts [--streams 1000] [--rounds 3] [--tokens 8]
 *     bun bench/distributed_bench.ts
 *
 * Linux only (reads /proc/PID/status).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import process from "node:process";
import { eventually, startCluster } from "../tests/distributed/_cluster.ts";
import { type Fixture, runtimeCommand, spawnCommand } from "../tests/fixtures/spawn_fixture.ts";
import { runtimeLabel, writeJson } from "./bench_util.ts";

const { values } = parseArgs({
  options: {
    streams: { type: "string" },
    rounds: { type: "string" },
    tokens: { type: "string" },
    "delay-ms": { type: "string" },
    json: { type: "string" },
  },
});
const STREAMS = Number(values.streams ?? 1000);
const ROUNDS = Number(values.rounds ?? 3);
const TOKENS = Number(values.tokens ?? 8);
const DELAY_MS = Number(values["delay-ms"] ?? 5);
const MODEL = "sample-model";
const GC_CLI = "bench/gc_cli.ts";

/** Resident set size of `pid` in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}

interface Round {
  streams: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
}

/** One round: `STREAMS` streams at once; each must end with `[DONE]` and `TOKENS` tokens. */
async function round(url: string): Promise<Round> {
  const errorSamples: string[] = [];
  const t0 = performance.now();
  const one = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: MODEL,
          prompt: [1, 2, 3],
          max_tokens: TOKENS,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      const text = await res.text();
      const ok = res.status === 200 && text.includes("data: [DONE]") &&
        !text.includes('"error"') && text.includes(`"completion_tokens":${TOKENS}`);
      if (!ok && errorSamples.length < 3) errorSamples.push(`${res.status} ${text.slice(-300)}`);
      return ok;
    } catch (error) {
      if (errorSamples.length < 3) errorSamples.push(String(error));
      return false;
    }
  };
  const results = await Promise.all(Array.from({ length: STREAMS }, one));
  return {
    streams: STREAMS,
    errors: results.filter((ok) => !ok).length,
    errorSamples,
    seconds: (performance.now() - t0) / 1000,
  };
}

interface Memory {
  /** RSS before the GC (MiB). */
  rssBeforeGc: number;
  /** RSS after it (MiB). */
  rss: number;
  /** JS heap in use after it (MiB). */
  heap: number;
}

/** A system under load: its URL and its processes by name. */
interface Target {
  url: string;
  procs: Record<string, Fixture>;
  close(): Promise<void>;
}

const GC_ENV = { DENO_V8_FLAGS: "--expose-gc" };

async function startDistributed(): Promise<Target> {
  const cluster = await startCluster({
    discovery: "nats",
    cli: GC_CLI,
    env: GC_ENV,
    workers: [0, 1].map(() => ({ engine: "sample", model: MODEL, delayMs: DELAY_MS })),
  });
  return {
    url: cluster.url,
    procs: {
      frontend: cluster.frontend,
      worker0: cluster.workers[0].process,
      worker1: cluster.workers[1].process,
    },
    close: () => cluster.close(),
  };
}

async function startEmbedded(): Promise<Target> {
  const args = ["serve", "--engine", "sample", "--port", "0", "--host", "127.0.0.1"];
  const child = spawnCommand(
    ...runtimeCommand(GC_CLI, [...args, "--delay-ms", String(DELAY_MS)]),
    { ...GC_ENV, DYN_LOG: "warn" },
  );
  let url = "";
  try {
    await eventually("sluice serve listening", () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(child.stdout());
      url = match?.[1] ?? "";
      return match !== null;
    }, 30_000);
  } catch (error) {
    await child[Symbol.asyncDispose]();
    throw error;
  }
  return { url, procs: { serve: child }, close: async () => await child[Symbol.asyncDispose]() };
}

/** Warm-up, memory, `ROUNDS` rounds, memory: what one system keeps after the load. */
async function measureTarget(label: string, target: Target) {
  const { procs } = target;
  const names = Object.keys(procs);
  let seq = 0;
  const measure = async (): Promise<Record<string, Memory>> => {
    const before = await Promise.all(names.map((n) => rssMiB(procs[n].pid)));
    seq++;
    for (const n of names) procs[n].kill("SIGUSR2");
    const heaps = await Promise.all(
      names.map((n) => procs[n].waitFor((e) => e.event === "memory" && e.seq === seq, 10_000)),
    );
    const after = await Promise.all(names.map((n) => rssMiB(procs[n].pid)));
    return Object.fromEntries(names.map((n, i) => [n, {
      rssBeforeGc: before[i],
      rss: after[i],
      heap: Number(heaps[i].heapUsed) / 2 ** 20,
    }]));
  };
  const settle = () => new Promise((r) => setTimeout(r, 3000));

  const cold = await measure();
  const warmup = await round(target.url);
  await settle();
  const start = await measure();
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push(await round(target.url));
    process.stderr.write(
      `${label} round ${i + 1}/${ROUNDS}: ${rounds[i].errors} errors, ${
        rounds[i].seconds.toFixed(2)
      } s\n`,
    );
  }
  await settle();
  const end = await measure();
  const errors = rounds.reduce((a, r) => a + r.errors, 0) + warmup.errors;
  const ratio = (key: keyof Memory) =>
    Object.fromEntries(names.map((n) => [n, end[n][key] / start[n][key]]));
  const rssRatio = ratio("rss");
  const heapRatio = ratio("heap");
  const rssWithin = Object.values(rssRatio).every((r) => r <= 1.1);
  const heapWithin = Object.values(heapRatio).every((r) => r <= 1.1);
  console.log(`${label}:`);
  for (const [i, r] of [warmup, ...rounds].entries()) {
    console.log(
      `  ${i === 0 ? "warm-up" : `round ${i}`}: ${r.errors} errors, ${r.seconds.toFixed(2)} s, ` +
        `${(r.streams / r.seconds).toFixed(0)} streams/s${
          r.errorSamples.length ? ` ${r.errorSamples[0]}` : ""
        }`,
    );
  }
  const f = (v: number) => v.toFixed(1);
  for (const n of names) {
    console.log(
      `  ${n} MiB: RSS cold ${f(cold[n].rss)}, start ${f(start[n].rss)}, end ${f(end[n].rss)} ` +
        `(end/start ${rssRatio[n].toFixed(3)}; before GC ${f(start[n].rssBeforeGc)} → ` +
        `${f(end[n].rssBeforeGc)}); JS heap after GC start ${f(start[n].heap)}, end ` +
        `${f(end[n].heap)} (end/start ${heapRatio[n].toFixed(3)})`,
    );
  }
  console.log(
    `  goals: zero errors ${errors === 0 ? "MET" : "NOT MET"}; RSS within 10% ${
      rssWithin ? "MET" : "NOT MET"
    }; JS heap within 10% ${heapWithin ? "MET" : "NOT MET"}`,
  );
  return {
    warmup,
    rounds,
    errors,
    memoryMiB: { cold, start, end },
    rssRatio,
    heapRatio,
    goals: { zeroErrors: errors === 0, rssWithin10pct: rssWithin, heapWithin10pct: heapWithin },
  };
}

console.log(
  `distributed bench (${runtimeLabel()}): ${STREAMS} concurrent streams × ${ROUNDS} rounds ` +
    `(+1 warm-up), ${TOKENS} tokens, ${DELAY_MS} ms/token, sample engine`,
);
const results: Record<string, unknown> = {};
for (
  const [label, start] of [
    ["1 frontend + 2 workers over NATS", startDistributed],
    ["baseline: sluice serve (embedded, one process)", startEmbedded],
  ] as const
) {
  const target = await start();
  try {
    results[label] = await measureTarget(label, target);
  } finally {
    await target.close();
  }
}
if (values.json) {
  await writeJson(values.json, {
    runtime: runtimeLabel(),
    streams: STREAMS,
    rounds: ROUNDS,
    tokens: TOKENS,
    delayMs: DELAY_MS,
    results,
  });
}
