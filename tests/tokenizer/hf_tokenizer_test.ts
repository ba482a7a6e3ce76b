import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHfTokenizer } from "../../src/tokenizer/hf_tokenizer.ts";
import { createIncrementalDecoder } from "../../src/tokenizer/incremental_decoder.ts";
import { tokenizerConformance } from "./tokenizer_conformance.ts";
import { tinySentencePieceConfig, tinySentencePieceJson } from "./tiny_sentencepiece.ts";

function tiny() {
  return createHfTokenizer(tinySentencePieceJson(), { config: tinySentencePieceConfig() });
}

tokenizerConformance("HfTokenizer, SentencePiece BPE with byte fallback", {
  create: tiny,
  roundTripTexts: [
    "hello world",
    "Hello, wörld! 😀 中文",
    "naïve café 👩‍💻 ok",
    "  two  spaces ",
  ],
});

describe("createHfTokenizer", () => {
  it("accepts the files as text, bytes, ArrayBuffer or objects alike", () => {
    const text = JSON.stringify(tinySentencePieceJson());
    const config = JSON.stringify(tinySentencePieceConfig());
    const bytes = new TextEncoder().encode(text);
    const expected = tiny().encode("hello world");
    assert.deepEqual(createHfTokenizer(text, { config }).encode("hello world"), expected);
    assert.deepEqual(createHfTokenizer(bytes).encode("hello world"), expected);
    assert.deepEqual(createHfTokenizer(bytes.slice().buffer).encode("hello world"), expected);
    assert.deepEqual(expected, [1, 333, 338]);
  });

  it("reads BOS and EOS from tokenizer_config.json, string or AddedToken form", () => {
    const tokenizer = tiny();
    assert.equal(tokenizer.bosTokenId, 1);
    assert.deepEqual(tokenizer.eosTokenIds, [2]);
    const bare = createHfTokenizer(tinySentencePieceJson());
    assert.equal(bare.bosTokenId, undefined);
    assert.deepEqual(bare.eosTokenIds, []);
  });

  it("appends extra EOS ids once and range-checks them", () => {
    const tokenizer = createHfTokenizer(tinySentencePieceJson(), {
      config: tinySentencePieceConfig(),
      eosTokenIds: [2, 0, 0],
    });
    assert.deepEqual(tokenizer.eosTokenIds, [2, 0]);
    assert.throws(
      () => createHfTokenizer(tinySentencePieceJson(), { eosTokenIds: [100_000] }),
      RangeError,
    );
  });

  it("adds the BOS post-processor only with addSpecialTokens", () => {
    const tokenizer = tiny();
    assert.deepEqual(tokenizer.encode("hello"), [1, 333]);
    assert.deepEqual(tokenizer.encode("hello", { addSpecialTokens: false }), [333]);
  });

  it("rejects malformed or unsupported files with a TypeError", () => {
    assert.throws(() => createHfTokenizer("{not json"), {
      name: "TypeError",
      message: /tokenizer\.json: it is not valid JSON/,
    });
    assert.throws(() => createHfTokenizer("[1, 2]"), {
      name: "TypeError",
      message: /expected a JSON object/,
    });
    const unsupported = { ...tinySentencePieceJson(), model: { type: "NoSuchModel" } };
    assert.throws(() => createHfTokenizer(unsupported), {
      name: "TypeError",
      message: /Cannot load tokenizer\.json: Unknown TokenizerModel type: NoSuchModel/,
    });
    const { model: _model, ...modelless } = tinySentencePieceJson();
    assert.throws(() => createHfTokenizer(modelless), {
      name: "TypeError",
      message: /Cannot load tokenizer\.json/,
    });
    assert.throws(
      () => createHfTokenizer(tinySentencePieceJson(), { config: { eos_token: "<x>" } }),
      {
        name: "TypeError",
        message: /eos_token "<x>" is not in the vocabulary/,
      },
    );
  });

  it("rejects a non-string text", () => {
    assert.throws(() => tiny().encode(42 as unknown as string), TypeError);
  });

  it("streams the first token's leading space when given the prompt as context", () => {
    const tokenizer = tiny();
    const prompt = tokenizer.encode("hello");
    const completion = tokenizer.encode("world", { addSpecialTokens: false });
    const full = tokenizer.decode([...prompt, ...completion]);
    const expected = full.slice(tokenizer.decode(prompt).length);
    assert.equal(expected, " world");
    const withContext = createIncrementalDecoder(tokenizer, { context: prompt });
    assert.equal(withContext.push(completion) + withContext.flush(), " world");
    const without = createIncrementalDecoder(tokenizer);
    assert.equal(without.push(completion) + without.flush(), "world");
  });
});
