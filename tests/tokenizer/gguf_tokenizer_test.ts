import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { encodeGguf } from "../../src/model/gguf/gguf_writer.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { fixtureGgufSpec } from "../fixtures/model/fixture_model.ts";
import { tokenizerConformance } from "./tokenizer_conformance.ts";

async function fixtureMetadata(vocab: "llama" | "gpt2") {
  const spec = fixtureGgufSpec({ vocab });
  const bytes = await encodeGguf({ metadata: spec.metadata, tensors: [] });
  return parseGgufHeader(bytes, { metadataOnly: true }).metadata;
}

const roundTripTexts = [
  "The river ran past the mill",
  "Hello, wörld! 😀 中文",
  "naïve café 👩‍💻 ok",
  "  two  spaces \n\tand tabs ",
];

tokenizerConformance("GgufTokenizer, llama (SentencePiece) fixture vocabulary", {
  create: async () => createGgufTokenizer(await fixtureMetadata("llama")),
  roundTripTexts,
});

tokenizerConformance("GgufTokenizer, gpt2 (byte-level BPE) fixture vocabulary", {
  create: async () => createGgufTokenizer(await fixtureMetadata("gpt2")),
  roundTripTexts,
});

describe("GgufTokenizer", () => {
  it("adds BOS for llama vocabularies, uses the ▁ prefix and byte fallback", async () => {
    const t = createGgufTokenizer(await fixtureMetadata("llama"));
    assert.equal(t.bosTokenId, 1);
    const ids = t.encode("the 中");
    assert.equal(ids[0], 1);
    assert.equal(t.tokenString(ids[1]), "the");
    assert.deepEqual(t.tokenBytes(ids[1]), new TextEncoder().encode(" the"));
    // 中 is not in the vocabulary: three <0xXX> byte tokens.
    assert.deepEqual(ids.slice(-3).map((id) => t.vocab.tokens[id]), ["<0xE4>", "<0xB8>", "<0xAD>"]);
    assert.equal(t.decode(ids, { skipSpecialTokens: true }), "the 中");
  });

  it("parses special tokens in text and starts a fresh ▁ prefix after them", async () => {
    const t = createGgufTokenizer(await fixtureMetadata("llama"));
    const ids = t.encode("<|im_start|>user\nhi<|im_end|>", { addSpecialTokens: false });
    const start = t.vocab.tokens.indexOf("<|im_start|>");
    const end = t.vocab.tokens.indexOf("<|im_end|>");
    assert.equal(ids[0], start);
    assert.equal(ids.at(-1), end);
    assert.equal(t.vocab.tokens[ids[1]].startsWith("▁"), true);
    assert.ok(t.eosTokenIds.includes(end) && t.eosTokenIds[0] === 2);
  });

  it("reads the chat template and end-of-generation ids of a gpt2 vocabulary", async () => {
    const t = createGgufTokenizer(await fixtureMetadata("gpt2"));
    assert.match(t.chatTemplate!, /<\|im_start\|>/);
    assert.equal(t.encode("hi")[0] === t.bosTokenId, false); // add_bos_token false
    const names = t.eosTokenIds.map((id) => t.vocab.tokens[id]);
    assert.deepEqual(names.sort(), ["<|endoftext|>", "<|im_end|>"]);
  });

  it("rejects malformed or unsupported metadata naming the key", () => {
    assert.throws(() => createGgufTokenizer({}), /tokenizer\.ggml\.model/);
    assert.throws(
      () => createGgufTokenizer({ "tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": ["a"] }),
      /"bert" is not supported/,
    );
    assert.throws(
      () =>
        createGgufTokenizer({
          "tokenizer.ggml.model": "gpt2",
          "tokenizer.ggml.pre": "made-up",
          "tokenizer.ggml.tokens": ["a"],
          "tokenizer.ggml.merges": [],
        }),
      /pre-tokenizer "made-up"/,
    );
    assert.throws(
      () =>
        createGgufTokenizer({
          "tokenizer.ggml.model": "llama",
          "tokenizer.ggml.tokens": ["a"],
          "tokenizer.ggml.eos_token_id": 7,
        }),
      /eos_token_id 7 is not below 1/,
    );
  });
});
