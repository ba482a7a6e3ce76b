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
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
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
    for await (
      const t of context.getSequence().evaluate(prompt, { temperature: 0, yieldEogToken: true })
    ) {
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

  it("stops within one token when cancelled and hands the sequence to the next request", async () => {
    const engine = await started(["--parallel", "1"]);
    try {
      const { context, cancel } = createRequestContext();
      const long = request({
        token_ids: PROMPT,
        stop_conditions: { max_tokens: 400, ignore_eos: true },
      });
      const chunks: GenerateChunk[] = [];
      let cancelledAt = 0;
      for await (const chunk of engine.generate(long, context)) {
        chunks.push(chunk);
        if (chunks.length === 3) {
          cancelledAt = performance.now();
          cancel("stop");
        }
      }
      const last = chunks.at(-1)!;
      assert.equal(last.finish_reason, "cancelled");
      assert.ok(chunks.length <= 5, `${chunks.length} chunks after cancelling at 3`);
      assert.ok(performance.now() - cancelledAt < 1000);
      assert.equal(last.completion_usage!.completion_tokens, tokens(chunks).length);
      assert.equal(engine.stats().running_requests, 0);
      const next = await collect(engine, {
        token_ids: [1, 5, 6],
        stop_conditions: { max_tokens: 4 },
      });
      assert.equal(
        next.at(-1)!.finish_reason === "length" || next.at(-1)!.finish_reason === "eos",
        true,
      );
    } finally {
      await engine.cleanup();
    }
  });

  it("queues requests when every sequence is busy and refuses past the queue bound", async () => {
    const engine = await started(["--parallel", "1", "--max-queue", "1"]);
    try {
      const hold = request({
        token_ids: PROMPT,
        stop_conditions: { max_tokens: 50, ignore_eos: true },
      });
      const first = engine.generate(hold, createRequestContext().context)[Symbol.asyncIterator]();
      await first.next(); // holds the only sequence while paused at a yield
      const waiting = collect(engine, { token_ids: [1, 7], stop_conditions: { max_tokens: 2 } });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(engine.stats().waiting_requests, 1);
      await assert.rejects(
        collect(engine, { token_ids: [1, 8], stop_conditions: { max_tokens: 2 } }),
        (e) => e instanceof SluiceError && e.code === "worker_overloaded",
      );
      await first.return(undefined); // a consumer that stops reading frees the sequence
      const done = await waiting;
      assert.ok(done.at(-1)!.finish_reason !== undefined);
      assert.equal(engine.stats().waiting_requests, 0);
    } finally {
      await engine.cleanup();
    }
  });

  it("reports cached prompt tokens, logprobs, EOS, stop ids, min_tokens and seeds", async () => {
    const engine = await started();
    try {
      const greedy = { temperature: 0 };
      const base = { token_ids: PROMPT, sampling_options: greedy };
      const first = await collect(engine, {
        ...base,
        stop_conditions: { max_tokens: 6, ignore_eos: true },
      });
      const again = await collect(engine, {
        ...base,
        stop_conditions: { max_tokens: 6, ignore_eos: true },
      });
      assert.deepEqual(tokens(again), tokens(first));
      const usage = again.at(-1)!.completion_usage!;
      assert.equal(usage.prompt_tokens_details?.cached_tokens, PROMPT.length - 1);
      assert.ok(engine.stats().kv_cache_hit_rate > 0);
      const ids = tokens(first);

      const withLogprobs = await collect(engine, {
        ...base,
        stop_conditions: { max_tokens: 3, ignore_eos: true },
        output_options: { logprobs: 3 },
      });
      for (const [i, chunk] of withLogprobs.entries()) {
        assert.equal(chunk.token_ids[0], ids[i]);
        assert.ok(chunk.log_probs![0] <= 0);
        const top = chunk.top_logprobs![0];
        assert.equal(top.length, 3);
        assert.equal(top[0].token_id, ids[i]); // greedy: the sampled token is the most likely
        assert.equal(top[0].logprob, chunk.log_probs![0]);
        assert.ok(top[1].logprob <= top[0].logprob && top[2].logprob <= top[1].logprob);
      }

      const eos = await collect(engine, {
        ...base,
        eos_token_ids: [ids[1]],
        stop_conditions: { max_tokens: 6 },
      });
      assert.deepEqual(tokens(eos), ids.slice(0, 1));
      assert.equal(eos.at(-1)!.finish_reason, "eos");
      const stopped = await collect(engine, {
        ...base,
        eos_token_ids: [],
        stop_conditions: { max_tokens: 6, stop_token_ids: [ids[2]] },
      });
      assert.equal(stopped.at(-1)!.finish_reason, "stop");
      assert.deepEqual(tokens(stopped), ids.slice(0, ids.indexOf(ids[2])));
      const atLeast = await collect(engine, {
        ...base,
        eos_token_ids: [ids[0]],
        stop_conditions: { max_tokens: 4, min_tokens: 3 },
      });
      assert.ok(tokens(atLeast).length >= 3);
      assert.notEqual(tokens(atLeast)[0], ids[0]);

      const sampled = (seed: number) =>
        collect(engine, {
          token_ids: PROMPT,
          sampling_options: {
            temperature: 1.5,
            seed,
            top_k: -1,
            top_p: 1,
            repetition_penalty: 1.1,
          },
          stop_conditions: { max_tokens: 12, ignore_eos: true },
        }).then(tokens);
      await assert.rejects(
        collect(engine, { token_ids: [1, 1_000_000] }),
        (e) =>
          e instanceof SluiceError && e.kind === "InvalidArgument" && /vocabulary/.test(e.message),
      );
      await assert.rejects(
        collect(engine, { token_ids: [1, 2], sampling_options: { n: 2 } }),
        (e) =>
          e instanceof SluiceError && e.kind === "InvalidArgument" && /n must be 1/.test(e.message),
      );
      await assert.rejects(
        collect(engine, { token_ids: new Array(600).fill(5) }),
        (e) => e instanceof SluiceError && e.code === "context_length_exceeded",
      );
      assert.deepEqual(await sampled(7), await sampled(7));
      assert.notDeepEqual(await sampled(7), await sampled(8));
    } finally {
      await engine.cleanup();
    }
  });

  it("constrains output to a choice, a JSON schema or a grammar, and refuses regex", async () => {
    const engine = await started();
    const bytes = new Uint8Array(await readFile(model));
    const tokenizer = createGgufTokenizer(parseGgufHeader(bytes, { metadataOnly: true }).metadata);
    const text = (chunks: GenerateChunk[]) => tokenizer.decode(tokens(chunks));
    try {
      const base = { token_ids: PROMPT, stop_conditions: { max_tokens: 200 } };
      const choices = ["alpha", "beta gamma", "delta"];
      for (const seed of [1, 2, 3]) {
        const out = await collect(engine, {
          ...base,
          sampling_options: { temperature: 1, seed, guided_decoding: { choice: choices } },
        });
        assert.ok(choices.includes(text(out)), text(out));
      }
      const schema = {
        type: "object",
        properties: {
          at: { type: "string", format: "time" },
          kind: { enum: ["cat", "dog"] },
          ok: { type: "boolean" },
          tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 2 },
        },
        required: ["at", "kind", "ok"],
      };
      const json = await collect(engine, {
        ...base,
        sampling_options: { temperature: 0, guided_decoding: { json: schema } },
      });
      const value = JSON.parse(text(json));
      assert.match(value.at, /^\d{2}:\d{2}:\d{2}/, JSON.stringify(value));
      assert.ok(["cat", "dog"].includes(value.kind));
      assert.equal(typeof value.ok, "boolean");
      const object = await collect(engine, {
        ...base,
        stop_conditions: { max_tokens: 400 },
        sampling_options: { temperature: 0, guided_decoding: { grammar: 'root ::= "yes" | "no"' } },
      });
      assert.ok(["yes", "no"].includes(text(object)));
      await assert.rejects(
        collect(engine, { ...base, sampling_options: { guided_decoding: { regex: "[a-z]+" } } }),
        (e) =>
          e instanceof SluiceError && e.kind === "InvalidArgument" &&
          /regular expression/.test(e.message),
      );
      await assert.rejects(
        collect(engine, {
          ...base,
          sampling_options: {
            guided_decoding: {
              json: { type: "object", properties: { n: { type: "integer", minimum: 3 } } },
            },
          },
        }),
        (e) =>
          e instanceof SluiceError && e.kind === "InvalidArgument" &&
          /"minimum" at \$\.properties\.n/.test(e.message),
      );
    } finally {
      await engine.cleanup();
    }
  });

  it("runs with a quantized KV cache", async () => {
    for (const kv of ["q8_0", "q4_0"]) {
      const engine = await started(["--kv-cache-type", kv]);
      try {
        const out = await collect(engine, {
          token_ids: PROMPT,
          stop_conditions: { max_tokens: 8, ignore_eos: true },
          sampling_options: { temperature: 0 },
        });
        assert.equal(tokens(out).length, 8, kv);
      } finally {
        await engine.cleanup();
      }
    }
  });

  it("fails clearly on a missing, truncated or foreign file and without node-llama-cpp", async () => {
    const dir = await fixtures.path;
    const engineFor = async (path: string) =>
      (await LlamaCppEngine.fromArgs(["--model", path, ...quiet])).engine;
    const missing = await engineFor(join(dir, "nope.gguf"));
    await assert.rejects(
      missing.start("1"),
      (e) => e instanceof SluiceError && e.kind === "CannotConnect" && /nope\.gguf/.test(e.message),
    );
    await missing.cleanup();
    const bytes = await readFile(model);
    const cut = join(dir, "cut.gguf");
    await writeFile(cut, bytes.subarray(0, bytes.length - 100));
    const truncated = await engineFor(cut);
    await assert.rejects(truncated.start("1"), /truncated download/);
    await truncated.cleanup();
    const foreign = join(dir, "foreign.gguf");
    await writeFile(
      foreign,
      new TextEncoder().encode("PK\x03\x04 this is a zip file, not a model"),
    );
    const notGguf = await engineFor(foreign);
    await assert.rejects(notGguf.start("1"), /Not a GGUF file/);
    await notGguf.cleanup();
    await assert.rejects(
      loadNodeLlamaCpp("node-llama-cpp-not-installed-for-this-test"),
      (e) =>
        e instanceof SluiceError && e.code === "node_llama_cpp_missing" &&
        e.message.includes("npm install --no-save node-llama-cpp@3.22.1"),
    );
    await assert.rejects(LlamaCppEngine.fromArgs([]), /--model/);
    await assert.rejects(LlamaCppEngine.fromArgs(["--model", "x", "--gpu", "cuda"]), /--gpu/);
    await assert.rejects(
      LlamaCppEngine.fromArgs(["--model", "x", "--kv-cache-type", "q3"]),
      /--kv-cache-type/,
    );
  });
});
