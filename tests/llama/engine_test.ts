import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runConformance } from "../../src/entries/testing.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "../../src/model/model_loader.ts";
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { tinySentencePieceJson } from "../tokenizer/tiny_sentencepiece.ts";
import { fixtureRoot, ggufModel, safetensorsModel } from "./_fixture_dir.ts";

let root: Awaited<ReturnType<typeof fixtureRoot>>;
let model: string;
let gguf: string;
before(async () => {
  root = await fixtureRoot();
  model = await safetensorsModel(root.path, "tiny-llama");
  gguf = await ggufModel(root.path, "tiny-llama-q8", { dtype: "q8_0" });
});
after(() => root.dispose());

const quiet = () => {};

async function collect(
  engine: LlamaEngine,
  input: Record<string, unknown>,
  id = crypto.randomUUID(),
) {
  const request = parseGenerateRequest({ model: "m", ...input });
  const { context } = createRequestContext({ id });
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(request, context)) chunks.push(c);
  return chunks;
}

const tokensOf = (chunks: GenerateChunk[]) => chunks.flatMap((c) => c.token_ids);

describe("llama engine (cpu)", () => {
  it("passes runConformance", async () => {
    const report = await runConformance(LlamaEngine, {
      argv: ["--model", model, "--backend", "cpu"],
    });
    assert.ok(report.checks.includes("cancellation"));
  });

  it("gives 8 concurrent greedy requests the tokens of 8 sequential ones", async () => {
    const engine = new LlamaEngine({ model, log: quiet, maxNumBatchedTokens: 32, blockSize: 4 });
    await engine.start("1");
    try {
      const prompts = Array.from(
        { length: 8 },
        (_, i) => Array.from({ length: 5 + 3 * i }, (_, j) => (7 + 13 * i + 5 * j) % 300 + 3),
      );
      const req = (p: number[]) => ({
        token_ids: p,
        stop_conditions: { max_tokens: 12, ignore_eos: true },
        sampling_options: { temperature: 0 },
      });
      const sequential: number[][] = [];
      for (const p of prompts) sequential.push(tokensOf(await collect(engine, req(p))));
      const stepsBefore = engine.steps();
      const concurrent = await Promise.all(
        prompts.map(async (p) => tokensOf(await collect(engine, req(p)))),
      );
      assert.deepEqual(concurrent, sequential);
      // Batched: far fewer steps than 8 × (prefill + 12 decode steps).
      assert.ok(engine.steps() - stepsBefore < 40, `took ${engine.steps() - stepsBefore} steps`);
      // Greedy output of the fixture is not one repeated token.
      assert.ok(new Set(sequential.flat()).size > 8);
    } finally {
      await engine.cleanup();
    }
  });

  it("reports cached prompt tokens on a repeated prompt and produces identical output", async () => {
    const engine = new LlamaEngine({ model, log: quiet, blockSize: 4 });
    await engine.start("1");
    try {
      const prompt = Array.from({ length: 19 }, (_, j) => (11 * j) % 200 + 3);
      const req = {
        token_ids: prompt,
        stop_conditions: { max_tokens: 6, ignore_eos: true },
        sampling_options: { temperature: 0 },
      };
      const first = await collect(engine, req);
      const second = await collect(engine, req);
      assert.equal(first.at(-1)!.completion_usage!.prompt_tokens_details, undefined);
      assert.equal(second.at(-1)!.completion_usage!.prompt_tokens_details?.cached_tokens, 16);
      assert.deepEqual(tokensOf(second), tokensOf(first));
      const stats = engine.stats();
      assert.equal(stats.kv_cache_hit_rate, 16 / 38, "16 of 2 × 19 prompt tokens were cached");
      assert.deepEqual([stats.running_requests, stats.waiting_requests, stats.kv_usage], [0, 0, 0]);
    } finally {
      await engine.cleanup();
    }
  });

  it("frees every block when a request is cancelled mid-prefill or mid-decode", async () => {
    const engine = new LlamaEngine({
      model,
      log: quiet,
      blockSize: 4,
      maxNumBatchedTokens: 8,
    });
    await engine.start("1");
    try {
      const total = engine.freeBlocks();
      // Mid-prefill: a 200-token prompt takes 25 steps of 8; cancel after the first steps.
      const long = Array.from({ length: 200 }, (_, j) => (j * 7) % 250 + 3);
      const ctl = createRequestContext({ id: "a" });
      const request = parseGenerateRequest({
        model: "m",
        token_ids: long,
        stop_conditions: { max_tokens: 4 },
      });
      const stream = engine.generate(request, ctl.context)[Symbol.asyncIterator]();
      const first = stream.next();
      while (engine.steps() < 3) await new Promise((r) => setTimeout(r, 1));
      assert.ok(engine.freeBlocks() < total, "prefill holds blocks");
      ctl.cancel("stop");
      const end = await first;
      assert.equal(end.value?.finish_reason, "cancelled");
      assert.equal(engine.freeBlocks(), total);
      // Mid-decode: cancel after two tokens.
      const ctl2 = createRequestContext({ id: "b" });
      const chunks: GenerateChunk[] = [];
      for await (
        const c of engine.generate(
          parseGenerateRequest({
            model: "m",
            token_ids: [5, 6, 7],
            stop_conditions: { max_tokens: 1000, ignore_eos: true },
          }),
          ctl2.context,
        )
      ) {
        chunks.push(c);
        if (tokensOf(chunks).length >= 2 && !ctl2.context.isStopped()) {
          assert.ok(engine.freeBlocks() < total);
          ctl2.cancel("stop");
        }
      }
      assert.equal(chunks.at(-1)!.finish_reason, "cancelled");
      assert.equal(engine.freeBlocks(), total);
    } finally {
      await engine.cleanup();
    }
  });

  it("passes runConformance on a GGUF Q8_0 model", async () => {
    const report = await runConformance(LlamaEngine, { argv: ["--model", gguf] });
    assert.ok(report.model.includes("tiny-llama-q8"));
  });

  it("samples reproducibly by seed, honours top_k 1, stop ids, EOS and logprobs", async () => {
    const engine = new LlamaEngine({ model: gguf, log: quiet });
    await engine.start("1");
    try {
      const prompt = [1, 30, 60, 90];
      const greedy = tokensOf(
        await collect(engine, {
          token_ids: prompt,
          stop_conditions: { max_tokens: 10, ignore_eos: true },
          sampling_options: { temperature: 0 },
        }),
      );
      const sampled = (seed: number, extra: Record<string, unknown> = {}) =>
        collect(engine, {
          token_ids: prompt,
          stop_conditions: { max_tokens: 10, ignore_eos: true },
          sampling_options: { temperature: 1.5, seed, ...extra },
        }).then(tokensOf);
      assert.deepEqual(await sampled(7), await sampled(7));
      const seeds = await Promise.all([1, 2, 3, 4].map((s) => sampled(s)));
      assert.ok(new Set(seeds.map((t) => t.join())).size > 1, "different seeds differ");
      assert.deepEqual(await sampled(9, { top_k: 1 }), greedy);
      assert.deepEqual(await sampled(9, { min_p: 1 }), greedy);
      // A stop id ends the stream with "stop" and is not part of the output.
      const stopAt = greedy[3];
      const stopped = await collect(engine, {
        token_ids: prompt,
        stop_conditions: { max_tokens: 10, stop_token_ids: [stopAt], ignore_eos: true },
        sampling_options: { temperature: 0 },
      });
      const cut = greedy.indexOf(stopAt);
      assert.deepEqual(tokensOf(stopped), greedy.slice(0, cut));
      assert.equal(stopped.at(-1)!.finish_reason, "stop");
      assert.equal(stopped.at(-1)!.completion_usage!.completion_tokens, cut);
      const eos = await collect(engine, {
        token_ids: prompt,
        eos_token_ids: [stopAt],
        stop_conditions: { max_tokens: 10 },
        sampling_options: { temperature: 0 },
      });
      assert.equal(eos.at(-1)!.finish_reason, "eos");
      // Logprobs: aligned with tokens, top entries sorted, the sampled token included.
      const lp = await collect(engine, {
        token_ids: prompt,
        stop_conditions: { max_tokens: 4, ignore_eos: true },
        sampling_options: { temperature: 0 },
        output_options: { logprobs: 3 },
      });
      const lps = lp.flatMap((c) => c.log_probs ?? []);
      const tops = lp.flatMap((c) => c.top_logprobs ?? []);
      assert.equal(lps.length, 4);
      tops.forEach((top, i) => {
        assert.equal(top.length, 3);
        assert.equal(top[0].token_id, greedy[i]);
        assert.ok(Math.abs(top[0].logprob - lps[i]) < 1e-9 && lps[i] < 0);
        assert.ok(top[0].logprob >= top[1].logprob && top[1].logprob >= top[2].logprob);
      });
      // Frequency and presence penalties change a greedy continuation long enough to repeat.
      const rep = [1, 50, 50, 50, 50, 50, 50];
      const plain = tokensOf(
        await collect(engine, {
          token_ids: rep,
          stop_conditions: { max_tokens: 48, ignore_eos: true },
          sampling_options: { temperature: 0 },
        }),
      );
      const penalised = tokensOf(
        await collect(engine, {
          token_ids: rep,
          stop_conditions: { max_tokens: 48, ignore_eos: true },
          sampling_options: {
            temperature: 0,
            frequency_penalty: 2,
            presence_penalty: 2,
          },
        }),
      );
      assert.ok(new Set(plain).size < plain.length, "the unpenalised output repeats a token");
      assert.notDeepEqual(penalised, plain);
      const repeats = (t: number[]) => t.length - new Set(t).size;
      assert.ok(repeats(penalised) < repeats(plain), "penalties reduce repetition");
    } finally {
      await engine.cleanup();
    }
  });

  it("refuses prompts longer than the context and bad flags with clear errors", async () => {
    await assert.rejects(LlamaEngine.fromArgs([]), /--model is required/);
    await assert.rejects(LlamaEngine.fromArgs(["--model", gguf, "--backend", "cuda"]), /--backend/);
    await assert.rejects(
      LlamaEngine.fromArgs(["--model", gguf, "--int8-gemv", "always"]),
      /--int8-gemv: "always" is not one of off, auto, force/,
    );
    await assert.rejects(
      LlamaEngine.fromArgs(["--model", gguf, "--cpu-threads", "0"]),
      /--cpu-threads/,
    );
    const engine = new LlamaEngine({ model: gguf, log: quiet, maxModelLen: 32 });
    await engine.start("1");
    try {
      await assert.rejects(
        collect(engine, { token_ids: Array.from({ length: 40 }, () => 5) }),
        /context is 32/,
      );
      const chunks = await collect(engine, {
        token_ids: Array.from({ length: 28 }, () => 5),
        stop_conditions: { max_tokens: 100, ignore_eos: true },
      });
      assert.equal(chunks.at(-1)!.finish_reason, "length");
      assert.equal(tokensOf(chunks).length, 4);
    } finally {
      await engine.cleanup();
    }
  });

  it("names the model's tokenizer files in its EngineConfig (the worker's model card)", async () => {
    const engine = new LlamaEngine({ model: gguf, log: quiet });
    const config = await engine.start("1");
    await engine.cleanup();
    const bytes = new Uint8Array(await readFile(gguf));
    const { metadataEnd } = parseGgufHeader(bytes);
    // The GGUF metadata prefix only: a frontend never reads the weights.
    assert.deepEqual(config.model_files, {
      gguf: {
        path: gguf,
        size: metadataEnd,
        sha256: await sha256Hex(bytes.subarray(0, metadataEnd)),
      },
    });
    await writeFile(join(model, "tokenizer.json"), JSON.stringify(tinySentencePieceJson()));
    const st = new LlamaEngine({ model, log: quiet });
    const stConfig = await st.start("1");
    await st.cleanup();
    assert.equal(stConfig.model_files?.tokenizer?.path, `${model}/tokenizer.json`);
    assert.equal(stConfig.model_files?.tokenizer_config, undefined);
    assert.equal(stConfig.model_files?.gguf, undefined);
  });

  it("preempts and recomputes when KV blocks run out, with the same greedy tokens", async () => {
    // 12 blocks of 4 tokens: four sequences of 10 + 14 tokens need 24 blocks at once.
    const engine = new LlamaEngine({
      model,
      log: quiet,
      blockSize: 4,
      numBlocks: 12,
      maxModelLen: 48,
    });
    await engine.start("1");
    try {
      const prompts = Array.from(
        { length: 4 },
        (_, i) => Array.from({ length: 10 }, (_, j) => 3 + ((i * 31 + j * 7) % 300)),
      );
      const req = (p: number[]) => ({
        token_ids: p,
        stop_conditions: { max_tokens: 14, ignore_eos: true },
        sampling_options: { temperature: 0 },
      });
      const sequential: number[][] = [];
      for (const p of prompts) sequential.push(tokensOf(await collect(engine, req(p))));
      const concurrent = await Promise.all(
        prompts.map(async (p) => tokensOf(await collect(engine, req(p)))),
      );
      assert.deepEqual(concurrent, sequential);
      assert.equal(engine.freeBlocks(), 12);
    } finally {
      await engine.cleanup();
    }
  });
});
