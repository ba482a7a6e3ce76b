import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatTrace,
  generateWorkload,
  parseTrace,
  TRACE_BLOCK_TOKENS,
  traceTokens,
} from "../../src/bench/workload_trace.ts";
import { parseLoadArgs, runLoadCommandLine } from "../../src/bench/load_command_line.ts";
import { replayTrace } from "../../src/bench/trace_replay.ts";
import { createEmbeddedServer } from "../../src/serve/embedded_server.ts";
import { MockerEngine } from "../../engines/mocker/mod.ts";
import { createLogger } from "../../src/logging/logger.ts";

test("the workload generator: shared prefixes, multi-turn growth, Poisson arrivals, deterministic", () => {
  const options = { requests: 2000, groups: 5, rate: 20, seed: 7, turns: 3 };
  const trace = generateWorkload(options);
  assert.deepEqual(generateWorkload(options), trace, "same seed, same trace");
  assert.notDeepEqual(generateWorkload({ ...options, seed: 8 }), trace);
  assert.equal(trace.length, 2000);
  // Arrivals: increasing, mean gap ≈ 1/rate (Poisson), gaps vary (coefficient of variation ≈ 1).
  const gaps = trace.slice(1).map((e, i) => e.timestamp - trace[i].timestamp);
  assert.ok(gaps.every((g) => g >= 0));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(Math.abs(mean - 50) < 5, `mean gap ${mean} ms`);
  const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
  assert.ok(sd / mean > 0.8 && sd / mean < 1.2, `cv ${sd / mean}`);
  // Exactly `groups` distinct first blocks: the shared prefixes, 2k–8k tokens each.
  const firsts = new Set(trace.map((e) => e.hash_ids[0]));
  assert.equal(firsts.size, 5);
  for (const e of trace) {
    assert.equal(e.input_length, e.hash_ids.length * TRACE_BLOCK_TOKENS);
    assert.ok(e.input_length >= 2048 + 64);
  }
  // Later turns extend an earlier prompt of the same conversation.
  const extended = trace.filter((e, i) =>
    trace.slice(0, i).some((p) =>
      p.hash_ids.length < e.hash_ids.length && p.hash_ids.every((h, j) => e.hash_ids[j] === h)
    )
  );
  assert.ok(extended.length > 500, `${extended.length} follow-up turns`);
});

test("traces round-trip through JSON lines and expand to deterministic token ids", () => {
  const trace = generateWorkload({ requests: 20, groups: 2, rate: 5 });
  assert.deepEqual(parseTrace(formatTrace(trace)), trace);
  const tokens = traceTokens(trace[0]);
  assert.equal(tokens.length, trace[0].input_length);
  assert.deepEqual(traceTokens(trace[0]), tokens);
  assert.ok(tokens.every((t) => t >= 1 && t < 32000));
  // Equal hash ids are equal token blocks.
  const a = traceTokens({ timestamp: 0, input_length: 512, output_length: 1, hash_ids: [3] });
  const b = traceTokens({ timestamp: 0, input_length: 1024, output_length: 1, hash_ids: [3, 4] });
  assert.deepEqual(b.slice(0, 512), a);
  assert.throws(() => parseTrace('{"timestamp":0}\n'), /trace line 1/);
  assert.throws(() => parseTrace("nope"), /trace line 1: not JSON/);
  assert.throws(
    () => parseLoadArgs(["--make-trace", "x", "--prefix-tokens", "9-1"]),
    /--prefix-tokens/,
  );
  assert.throws(() => parseLoadArgs(["--time-scale", "0"]), /--time-scale/);
});

test("sluice bench --make-trace then --trace replays against mocker workers", async () => {
  const files = new Map<string, string>();
  const io = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    log: () => {},
    writeTextFile: (path: string, text: string) => Promise.resolve(void files.set(path, text)),
    readTextFile: (path: string) => Promise.resolve(files.get(path)!),
  };
  await runLoadCommandLine([
    "--make-trace",
    "t.jsonl",
    "--requests",
    "24",
    "--groups",
    "2",
    "--prefix-tokens",
    "1024-2048",
    "--rate",
    "50",
    "--output-tokens",
    "4",
  ], io);
  assert.equal(parseTrace(files.get("t.jsonl")!).length, 24);
  const server = await createEmbeddedServer({
    engine: MockerEngine,
    engineArgs: ["--speedup-ratio", "0"],
    workers: 2,
    routerMode: "kv",
    port: 0,
    hostname: "127.0.0.1",
    healthCanary: false,
    logger: createLogger({ level: "error" }),
  });
  try {
    const [result] = await runLoadCommandLine(
      ["--url", server.url, "--model", "mocker-model", "--trace", "t.jsonl", "--quiet"],
      io,
    );
    assert.equal(result.errors, 0);
    assert.ok("cacheHitRate" in result);
    assert.equal(result.completed, 24);
    assert.ok(result.cacheHitRate > 0.3, `cache hit rate ${result.cacheHitRate}`);
    // The library call directly, twice as fast.
    const again = await replayTrace({
      url: server.url,
      model: "mocker-model",
      trace: parseTrace(files.get("t.jsonl")!).slice(0, 4),
      timeScale: 0.5,
    });
    assert.equal(again.completed, 4);
  } finally {
    await server.shutdown();
  }
});
