/**
 * Multi-step greedy decode on the WebGPU backends (lavapipe under Deno, Dawn under Bun): K
 * decode steps per submit with the ids fed back on the GPU give exactly the tokens of one
 * step per submit — batch > 1, `max_tokens` not a multiple of K, EOS and stop ids inside a
 * window — free every block, keep the prefix cache right, and fall back to single steps for
 * logprobs requests.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "../gpu/_device.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { fixtureRoot, ggufModel } from "./_fixture_dir.ts";

const device = await acquireTestDevice();
const skip = device.skip;

let root: Awaited<ReturnType<typeof fixtureRoot>>;
let path: string;
before(async () => {
  root = await fixtureRoot();
  path = await ggufModel(root.path, "multi-step", { dtype: "f32" });
});
after(() => root.dispose());

const NUM_BLOCKS = 64;

async function withEngine<T>(
  backend: "webgpu" | "webgpu-eager",
  multiStep: number,
  body: (engine: LlamaEngine) => Promise<T>,
  numBlocks = NUM_BLOCKS,
): Promise<T> {
  const engine = new LlamaEngine({
    model: path,
    backend,
    log: () => {},
    gpu: () => Promise.resolve(device.context),
    kernelCache: { storage: memoryCacheStorage(), root: "/k", disabled: true, tune: false },
    warmBuckets: [1],
    maxModelLen: 64,
    blockSize: 4,
    numBlocks,
    multiStep,
  });
  await engine.start("1");
  try {
    return await body(engine);
  } finally {
    await engine.cleanup();
  }
}

async function collect(engine: LlamaEngine, input: Record<string, unknown>) {
  const request = parseGenerateRequest({ model: "m", ...input });
  const { context } = createRequestContext();
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(request, context)) chunks.push(c);
  return {
    tokens: chunks.flatMap((c) => c.token_ids),
    finish: chunks.at(-1)!.finish_reason,
    cached: chunks.at(-1)!.completion_usage?.prompt_tokens_details?.cached_tokens ?? 0,
    logprobs: chunks.flatMap((c) => c.log_probs ?? []),
  };
}

const greedy = (prompt: number[], maxTokens: number, extra: Record<string, unknown> = {}) => ({
  token_ids: prompt,
  stop_conditions: { max_tokens: maxTokens, ignore_eos: true },
  sampling_options: { temperature: 0 },
  ...extra,
});

const PROMPTS = [[1, 50, 60], [1, 7, 8, 9, 10], [2, 33, 44, 55, 66, 77, 88, 99, 111]];
/** Not multiples of K = 4. */
const MAX_TOKENS = [7, 10, 13];

/** The first output position ≥ 2 whose token did not occur before it (an EOS candidate). */
function freshAt(tokens: number[]): number {
  const i = tokens.findIndex((t, j) => j >= 2 && !tokens.slice(0, j).includes(t));
  assert.ok(i > 0, `no fresh token in ${tokens}`);
  return i;
}

describe("llama engine multi-step decode", { skip }, () => {
  for (const backend of ["webgpu", "webgpu-eager"] as const) {
    it(`${backend}: K steps per submit give the tokens of single steps (batch 3, EOS and stop inside a window)`, async () => {
      const run = (multiStep: number) =>
        withEngine(backend, multiStep, async (engine) => {
          // Batch of 3 with max_tokens not multiples of K.
          const batch = await Promise.all(
            PROMPTS.map((p, i) => collect(engine, greedy(p, MAX_TOKENS[i]))),
          );
          // EOS inside a window: an id the free run produced at position e ≥ 2.
          const free = batch[2].tokens, e = freshAt(free);
          const eos = await collect(engine, {
            ...greedy(PROMPTS[2], 13),
            stop_conditions: { max_tokens: 13 },
            eos_token_ids: [free[e]],
          });
          const stop = await collect(engine, {
            ...greedy(PROMPTS[2], 13),
            stop_conditions: { max_tokens: 13, ignore_eos: true, stop_token_ids: [free[e]] },
          });
          // The same prompt again: served from the prefix cache, same output.
          const again = await collect(engine, greedy(PROMPTS[2], 13));
          assert.equal(engine.freeBlocks(), NUM_BLOCKS, "every block is free or cached");
          return { batch, eos, stop, again, e, windows: engine.multiStepWindows() };
        });
      const single = await run(1);
      const multi = await run(4);
      assert.equal(single.windows, 0);
      assert.ok(multi.windows > 0, "the multi-step path ran");
      assert.deepEqual(multi.batch, single.batch);
      multi.batch.forEach((r, i) => {
        assert.equal(r.tokens.length, MAX_TOKENS[i]);
        assert.equal(r.finish, "length");
      });
      assert.deepEqual(multi.eos, single.eos);
      assert.equal(multi.eos.finish, "eos");
      assert.deepEqual(multi.eos.tokens, single.batch[2].tokens.slice(0, single.e));
      assert.deepEqual(multi.stop, single.stop);
      assert.equal(multi.stop.finish, "stop");
      assert.deepEqual(multi.stop.tokens, single.batch[2].tokens.slice(0, single.e));
      assert.deepEqual(multi.again.tokens, single.batch[2].tokens);
      assert.ok(multi.again.cached > 0, "the repeated prompt hit the prefix cache");
    });
  }

  it("a logprobs request decodes one step per submit, beside greedy ones", async () => {
    await withEngine("webgpu", 4, async (engine) => {
      const withLogprobs = await collect(
        engine,
        greedy(PROMPTS[0], 6, {
          output_options: { logprobs: 1 },
        }),
      );
      assert.equal(engine.multiStepWindows(), 0, "no window while a logprobs request runs");
      assert.equal(withLogprobs.logprobs.length, 6);
      const plain = await collect(engine, greedy(PROMPTS[0], 6));
      assert.ok(engine.multiStepWindows() > 0);
      assert.deepEqual(plain.tokens, withLogprobs.tokens);
    });
  });

  it("when a window's blocks run short, single steps run (and preempt) with the same tokens", async () => {
    // 9 blocks of 4; two requests that end at 21 tokens need 5 each (the KV of 20).
    const prompts = [[1, 20, 30, 40, 50, 60, 70, 80, 90], [3, 21, 31, 41, 51, 61, 71, 81, 91]];
    const run = (multiStep: number) =>
      withEngine("webgpu", multiStep, async (engine) => {
        const out = await Promise.all(prompts.map((p) => collect(engine, greedy(p, 12))));
        assert.equal(engine.freeBlocks(), 9);
        return { out, windows: engine.multiStepWindows() };
      }, 9);
    const single = await run(1), multi = await run(16);
    assert.ok(multi.windows > 0);
    assert.deepEqual(multi.out, single.out);
    for (const r of multi.out) assert.equal(r.tokens.length, 12);
  });

  it("cancellation inside a window frees every block", async () => {
    await withEngine("webgpu", 4, async (engine) => {
      const request = parseGenerateRequest({ model: "m", ...greedy(PROMPTS[1], 40) });
      const { context, cancel } = createRequestContext();
      let got = 0;
      let finish: GenerateChunk["finish_reason"];
      for await (const c of engine.generate(request, context)) {
        got += c.token_ids.length;
        finish = c.finish_reason ?? finish;
        if (got >= 3 && !context.isStopped()) cancel("stop");
      }
      assert.equal(finish, "cancelled");
      assert.ok(engine.multiStepWindows() > 0);
      // The window in flight when the request was cancelled ends before the scheduler idles.
      for (let i = 0; i < 200 && engine.stats().running_requests; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(engine.freeBlocks(), NUM_BLOCKS);
    });
  });
});
