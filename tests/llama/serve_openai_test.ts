/**
 * End to end: `sluice serve --engine llama --model fixture.gguf` in a child process, asked by
 * the official `openai` client. The frontend tokenizes with the model's own GGUF vocabulary
 * and chat template (from the model card), so the prompt token count and the completion text
 * must equal what that tokenizer and the engine produce directly.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import OpenAI from "openai";
import { type ServeProcess, startServe } from "../frontend/_helpers.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { fixtureRoot, ggufModel } from "./_fixture_dir.ts";

describe("openai client against sluice serve --engine llama", () => {
  let root: Awaited<ReturnType<typeof fixtureRoot>>;
  let server: ServeProcess;
  let client: OpenAI;
  let model: string;

  before(async () => {
    root = await fixtureRoot();
    model = await ggufModel(root.path, "served", { dtype: "q8_0" });
    server = await startServe(["--engine", "llama", "--model", model]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });

  after(async () => {
    const code = await server?.stop();
    await root?.dispose();
    assert.equal(code, 0, `sluice serve should exit cleanly:\n${server?.output()}`);
  });

  it("chats with the model's own tokenizer and template, greedy as the engine decodes", async () => {
    const res = await client.chat.completions.create({
      model: "served",
      messages: [{ role: "user", content: "What is the answer?" }],
      max_tokens: 12,
      temperature: 0,
    });
    const metadata = parseGgufHeader(new Uint8Array(await readFile(model)), { metadataOnly: true })
      .metadata;
    const tokenizer = createGgufTokenizer(metadata);
    const prompt = tokenizer.encode(
      "<|im_start|>user\nWhat is the answer?<|im_end|>\n<|im_start|>assistant\n",
      { addSpecialTokens: false }, // chat prompts: the template places any special tokens
    );
    assert.equal(res.usage?.prompt_tokens, prompt.length);
    const engine = new LlamaEngine({ model, log: () => {} });
    await engine.start("1");
    const ids: number[] = [];
    let finish = "";
    try {
      const request = parseGenerateRequest({
        model: "served",
        token_ids: prompt,
        stop_conditions: { max_tokens: 12 },
        sampling_options: { temperature: 0 },
      });
      for await (const c of engine.generate(request, createRequestContext().context)) {
        ids.push(...c.token_ids);
        if (c.finish_reason) finish = String(c.finish_reason);
      }
    } finally {
      await engine.cleanup();
    }
    assert.ok(ids.length > 0);
    assert.equal(res.usage?.completion_tokens, ids.length);
    assert.equal(
      res.choices[0].message.content,
      tokenizer.decode(ids, { skipSpecialTokens: true }),
    );
    assert.equal(res.choices[0].finish_reason, finish === "length" ? "length" : "stop");
  });
});
