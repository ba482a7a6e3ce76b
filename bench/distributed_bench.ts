/**
 * 1,000 concurrent streams across one `sluice frontend` and two `sluice worker` processes
 * over NATS (NATS-KV discovery, TCP), sample engine with short outputs. Goal: zero errors,
 * and the frontend's and workers' memory (RSS from /proc) back within 10% of the start after
 * the load. "Start" is measured after one warm-up round of the same load (code compiled,
 * pools and buffers at their working size), so the comparison shows what the load leaves
 * behind, not first-use growth; the RSS before the warm-up is reported too.
 *
 *     deno run -A bench/distributed_bench.ts [--streams 1000] [--rounds 3] [--tokens 8]
 *     bun bench/distributed_bench.ts
 *
 * Linux only (reads /proc/PID/status).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import process from "node:process";
import { startCluster } from "../tests/distributed/_cluster.ts";
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

const cluster = await startCluster({
  discovery: "nats",
  workers: [0, 1].map(() => ({ engine: "sample", model: MODEL, delayMs: DELAY_MS })),
});
try {
  const pids = {
    frontend: cluster.frontend.pid,
    worker0: cluster.workers[0].process.pid,
    worker1: cluster.workers[1].process.pid,
  };
  const sample = async () =>
    Object.fromEntries(
      await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await rssMiB(pid)])),
    ) as Record<keyof typeof pids, number>;
  const settle = () => new Promise((r) => setTimeout(r, 3000));

  const cold = await sample();
  const warmup = await round(cluster.url);
  await settle();
  const start = await sample();
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push(await round(cluster.url));
    process.stderr.write(
      `round ${i + 1}/${ROUNDS}: ${rounds[i].errors} errors, ${rounds[i].seconds.toFixed(2)} s\n`,
    );
  }
  await settle();
  const end = await sample();
  const errors = rounds.reduce((a, r) => a + r.errors, 0) + warmup.errors;
  const ratio = Object.fromEntries(
    Object.keys(pids).map((k) => [k, end[k as keyof typeof pids] / start[k as keyof typeof pids]]),
  );
  const within = Object.values(ratio).every((r) => r <= 1.1);
  const report = {
    runtime: runtimeLabel(),
    streams: STREAMS,
    rounds: ROUNDS,
    tokens: TOKENS,
    delayMs: DELAY_MS,
    warmup,
    rounds_: rounds,
    errors,
    rssMiB: { cold, start, end },
    ratio,
    goals: { zeroErrors: errors === 0, memoryWithin10pct: within },
  };
  console.log(
    `distributed bench (${report.runtime}): ${STREAMS} concurrent streams × ${ROUNDS} rounds ` +
      `(+1 warm-up), ${TOKENS} tokens, ${DELAY_MS} ms/token, 1 frontend + 2 workers over NATS`,
  );
  for (const [i, r] of [warmup, ...rounds].entries()) {
    console.log(
      `  ${i === 0 ? "warm-up" : `round ${i}`}: ${r.errors} errors, ${r.seconds.toFixed(2)} s, ` +
        `${(r.streams / r.seconds).toFixed(0)} streams/s${
          r.errorSamples.length ? ` ${r.errorSamples[0]}` : ""
        }`,
    );
  }
  for (const k of Object.keys(pids) as (keyof typeof pids)[]) {
    console.log(
      `  ${k} RSS MiB: cold ${cold[k].toFixed(1)}, start ${start[k].toFixed(1)}, ` +
        `end ${end[k].toFixed(1)} (end/start ${ratio[k].toFixed(3)})`,
    );
  }
  console.log(
    `  goals: zero errors ${errors === 0 ? "MET" : "NOT MET"}, memory within 10% ${
      within ? "MET" : "NOT MET"
    }`,
  );
  if (values.json) await writeJson(values.json, report);
} finally {
  await cluster.close();
}
