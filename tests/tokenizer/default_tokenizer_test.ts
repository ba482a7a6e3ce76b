import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  loadDefaultTokenizer,
  loadDefaultTokenizerFiles,
  QWEN3_EOS_TOKEN_IDS,
} from "../../src/tokenizer/default_tokenizer.ts";
import { createIncrementalDecoder } from "../../src/tokenizer/incremental_decoder.ts";
import { tokenizerConformance } from "./tokenizer_conformance.ts";

let shared: ReturnType<typeof loadDefaultTokenizer> | undefined;
const qwen3 = () => (shared ??= loadDefaultTokenizer());

tokenizerConformance("default tokenizer (Qwen3, byte-level BPE)", {
  create: qwen3,
  roundTripTexts: [
    "Hello, world!",
    "Grüße aus Köln – naïve café",
    "日本語のテキストと中文混合",
    "Emoji: 😀👍🏽 🇫🇷 👩‍💻 done",
    "Привет, мир! Γειά σου κόσμε",
    "  spaces  \n\ttabs and\r\nnewlines",
    "龘靐齉齾爩鱻 𠀀𠀁",
  ],
});

describe("loadDefaultTokenizer", () => {
  it("produces Qwen3's reference ids", async () => {
    const tokenizer = await qwen3();
    // Reference ids from the Qwen2/Qwen3 vocabulary (transformers' Qwen2TokenizerFast).
    assert.deepEqual(tokenizer.encode("Hello, world!"), [9707, 11, 1879, 0]);
    assert.deepEqual(tokenizer.encode("<|im_start|>user\nhi<|im_end|>"), [
      151644,
      872,
      198,
      6023,
      151645,
    ]);
  });

  it("knows Qwen3's special ids and vocabulary size", async () => {
    const tokenizer = await qwen3();
    assert.deepEqual(tokenizer.eosTokenIds, QWEN3_EOS_TOKEN_IDS);
    assert.equal(tokenizer.decode([...QWEN3_EOS_TOKEN_IDS]), "<|im_end|><|endoftext|>");
    assert.equal(tokenizer.bosTokenId, undefined);
    assert.equal(tokenizer.vocabSize, 151669);
    assert.equal(tokenizer.tokenString(1879), " world");
  });

  it("detokenizes the sample engine's ids (i + 1) % 32000 to text", async () => {
    const tokenizer = await qwen3();
    const ids = Array.from({ length: 300 }, (_, i) => (i + 1) % 32000);
    const full = tokenizer.decode(ids);
    assert.ok(full.startsWith("\"#$%&'()*+,-./0123456789:;<=>?@ABC"), full.slice(0, 40));
    const decoder = createIncrementalDecoder(tokenizer, { skipSpecialTokens: true });
    let streamed = "";
    for (const id of ids) streamed += decoder.push([id]);
    assert.equal(streamed + decoder.flush(), full);
  });

  it("ships the Qwen3 chat template in its tokenizer_config.json", async () => {
    const { tokenizerConfig } = await loadDefaultTokenizerFiles();
    assert.equal(tokenizerConfig.eos_token, "<|im_end|>");
    assert.equal(typeof tokenizerConfig.chat_template, "string");
    assert.match(tokenizerConfig.chat_template as string, /<\|im_start\|>assistant\\n/);
  });
});
