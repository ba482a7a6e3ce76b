import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadDefaultTokenizer } from "../../src/tokenizer/default_tokenizer.ts";
import { createIncrementalDecoder } from "../../src/tokenizer/incremental_decoder.ts";
import type { DecodeOptions, Tokenizer } from "../../src/tokenizer/tokenizer.ts";

let shared: ReturnType<typeof loadDefaultTokenizer> | undefined;
const qwen3 = () => (shared ??= loadDefaultTokenizer());

/** Wraps a tokenizer and records how many ids each `decode` call received. */
function countingTokenizer(inner: Tokenizer): Tokenizer & { decodedLengths: number[] } {
  const decodedLengths: number[] = [];
  return {
    decodedLengths,
    vocabSize: inner.vocabSize,
    eosTokenIds: inner.eosTokenIds,
    bosTokenId: inner.bosTokenId,
    encode: (text, options) => inner.encode(text, options),
    decode(ids: readonly number[], options?: DecodeOptions) {
      decodedLengths.push(ids.length);
      return inner.decode(ids, options);
    },
    tokenString: (id) => inner.tokenString(id),
  };
}

describe("createIncrementalDecoder", () => {
  it("holds back a character cut between tokens until it completes", async () => {
    const tokenizer = await qwen3();
    const ids = tokenizer.encode("龘!", { addSpecialTokens: false });
    assert.ok(ids.length >= 3, "龘 takes two byte-level tokens");
    assert.ok(tokenizer.decode(ids.slice(0, 1)).endsWith("\uFFFD"));
    const decoder = createIncrementalDecoder(tokenizer);
    assert.equal(decoder.push(ids.slice(0, 1)), "");
    assert.equal(decoder.push(ids.slice(1)), "龘!");
    assert.equal(decoder.flush(), "");
  });

  it("emits the complete text before a cut character right away", async () => {
    const tokenizer = await qwen3();
    const ids = tokenizer.encode("ok 龘", { addSpecialTokens: false });
    const decoder = createIncrementalDecoder(tokenizer);
    assert.equal(decoder.push(ids.slice(0, -1)), "ok ");
    assert.equal(decoder.push(ids.slice(-1)), "龘");
  });

  it("flushes an unfinished character as U+FFFD, like a full decode", async () => {
    const tokenizer = await qwen3();
    const ids = tokenizer.encode("a龘", { addSpecialTokens: false }).slice(0, -1);
    const decoder = createIncrementalDecoder(tokenizer);
    const text = decoder.push(ids) + decoder.flush();
    assert.equal(text, tokenizer.decode(ids));
    assert.equal(text, "a\uFFFD");
  });

  it("keeps or skips special tokens as asked", async () => {
    const tokenizer = await qwen3();
    const ids = tokenizer.encode("Hi<|im_end|>", { addSpecialTokens: false });
    for (const skipSpecialTokens of [false, true]) {
      const decoder = createIncrementalDecoder(tokenizer, { skipSpecialTokens });
      const text = ids.map((id) => decoder.push([id])).join("") + decoder.flush();
      assert.equal(text, skipSpecialTokens ? "Hi" : "Hi<|im_end|>");
    }
  });

  it("treats an endless run of invalid bytes as U+FFFD with bounded work", async () => {
    const tokenizer = countingTokenizer(await qwen3());
    // The second token of 龘 is a lone UTF-8 continuation byte: invalid on its own, forever.
    const continuation = tokenizer.encode("龘", { addSpecialTokens: false })[1];
    const ids = Array.from({ length: 500 }, () => continuation);
    const decoder = createIncrementalDecoder(tokenizer);
    let text = "";
    for (const id of ids) text += decoder.push([id]);
    text += decoder.flush();
    const longest = Math.max(...tokenizer.decodedLengths);
    assert.ok(longest <= 80, `window grew to ${longest} tokens`);
    assert.equal(text, tokenizer.decode(ids));
    assert.equal(text, "\uFFFD".repeat(500));
  });

  it("does O(1) decoding work per token, not a full re-decode", async () => {
    const tokenizer = countingTokenizer(await qwen3());
    const text = "Streaming 流式 détokenisation 🚀 keeps a small window. ".repeat(100);
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(ids.length > 1500);
    tokenizer.decodedLengths.length = 0;
    const decoder = createIncrementalDecoder(tokenizer);
    let streamed = "";
    for (const id of ids) streamed += decoder.push([id]);
    assert.equal(streamed + decoder.flush(), text);
    const total = tokenizer.decodedLengths.reduce((a, b) => a + b, 0);
    assert.ok(Math.max(...tokenizer.decodedLengths) <= 8, "window stays a few tokens");
    assert.ok(total <= 5 * ids.length, `decoded ${total} ids for ${ids.length} tokens`);
  });

  it("returns nothing for an empty push", async () => {
    const decoder = createIncrementalDecoder(await qwen3());
    assert.equal(decoder.push([]), "");
    assert.equal(decoder.flush(), "");
  });

  it("uses context ids without emitting them", async () => {
    const tokenizer = await qwen3();
    const prompt = tokenizer.encode("The answer is", { addSpecialTokens: false });
    const completion = tokenizer.encode(" 42 ✓", { addSpecialTokens: false });
    const decoder = createIncrementalDecoder(tokenizer, { context: prompt });
    const text = completion.map((id) => decoder.push([id])).join("") + decoder.flush();
    assert.equal(text, " 42 ✓");
  });
});
