import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runConformance } from "../../mod.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
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

async function collect(engine: LlamaEngine, input: Record<string, unknown>, id = crypto.randomUUID()) {
  const request = parseGenerateRequest({ model: "m", ...input });
  const { context } = createRequestContext({ id });
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(request, context)) chunks.push(c);
  return chunks;
}

const tokensOf = (chunks: GenerateChunk[]) => chunks.flatMap((c) => c.token_ids);

describe("llama engine (cpu, safetensors fixture)", () => {
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
      const prompts = Array.from({ length: 8 }, (_, i) =>
        Array.from({ length: 5 + 3 * i }, (_, j) => (7 + 13 * i + 5 * j) % 300 + 3));
      const req = (p: number[]) => ({
        token_ids: p,
        stop_conditions: { max_tokens: 12, ignore_eos: true },
        sampling_options: { temperature: 0 },
      });
      const sequential: number[][] = [];
      for (const p of prompts) sequential.push(tokensOf(await collect(engine, req(p))));
      const stepsBefore = engine.steps();
      const concurrent = await Promise.all(prompts.map(async (p) => tokensOf(await collect(engine, req(p)))));
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
      const request = parseGenerateRequest({ model: "m", token_ids: long, stop_conditions: { max_tokens: 4 } });
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
});
