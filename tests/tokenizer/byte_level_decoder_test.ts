/**
 * The byte-level fast detokenizer must produce exactly what `tokenizer.decode` produces
 * for the whole sequence, whatever the chunking, and never emit half a character.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ByteLevelVocabulary } from "../../src/tokenizer/byte_level_decoder.ts";
import { loadDefaultTokenizer, loadDefaultTokenizerFiles } from "../../src/tokenizer/mod.ts";
import { createIncrementalDecoder } from "../../src/tokenizer/mod.ts";

const TEXTS = [
  "Hello, world! héllo 😀👍🏽 🇫🇷 👩‍💻",
  "日本語のテキストと中文混合 龘靐齉齾爩鱻 𠀀𠀁",
  "\uFEFFa byte-order mark, then  spaces\n\ttabs\r\n",
  "<|im_start|>user\nhi<|im_end|>\n<think>reasoning</think>answer<|endoftext|>",
];

/** A tiny deterministic PRNG, so a failure can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe("ByteLevelVocabulary", () => {
  let tokenizer: Awaited<ReturnType<typeof loadDefaultTokenizer>>;
  let files: Awaited<ReturnType<typeof loadDefaultTokenizerFiles>>;
  let vocabulary: ByteLevelVocabulary;

  before(async () => {
    tokenizer = await loadDefaultTokenizer();
    files = await loadDefaultTokenizerFiles();
    vocabulary = ByteLevelVocabulary.fromTokenizerJson(files.tokenizerJson, files.tokenizerConfig)!;
  });

  function decodeStream(ids: number[], skip: boolean, chunk: number): string[] {
    const decoder = vocabulary.createDecoder({ skipSpecialTokens: skip });
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += chunk) out.push(decoder.push(ids.slice(i, i + chunk)));
    out.push(decoder.flush());
    return out;
  }

  it("applies to the bundled Qwen3 tokenizer and not to post-edited ones", () => {
    assert.ok(vocabulary);
    assert.equal(vocabulary.vocabSize, tokenizer.vocabSize);
    const cleanup = { ...files.tokenizerConfig, clean_up_tokenization_spaces: true };
    assert.equal(ByteLevelVocabulary.fromTokenizerJson(files.tokenizerJson, cleanup), undefined);
    assert.equal(ByteLevelVocabulary.fromTokenizerJson(files.tokenizerJson, undefined), undefined);
    const metaspace = { ...files.tokenizerJson, decoder: { type: "Metaspace" } };
    assert.equal(
      ByteLevelVocabulary.fromTokenizerJson(metaspace, files.tokenizerConfig),
      undefined,
    );
  });

  it("equals tokenizer.decode on mixed scripts, emoji, a BOM and special tokens", () => {
    for (const text of TEXTS) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      for (const skip of [true, false]) {
        for (const chunk of [1, 2, 5]) {
          const pieces = decodeStream(ids, skip, chunk);
          assert.equal(pieces.join(""), tokenizer.decode(ids, { skipSpecialTokens: skip }), text);
          // Only the generic decoder's final flush may carry U+FFFD; these texts have none.
          for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), `${text}: ${piece}`);
        }
      }
    }
  });

  it("equals tokenizer.decode and the generic decoder on random ids (partial bytes, specials)", () => {
    const random = lcg(7);
    for (let round = 0; round < 200; round++) {
      const ids = Array.from({ length: 30 }, () => {
        const r = random();
        if (r < 0.1) return 151643 + Math.floor(random() * 20); // added / special tokens
        if (r < 0.6) return Math.floor(random() * 256); // single bytes, often partial UTF-8
        return Math.floor(random() * 151643);
      });
      for (const skip of [true, false]) {
        const expected = tokenizer.decode(ids, { skipSpecialTokens: skip });
        assert.equal(decodeStream(ids, skip, 1).join(""), expected, JSON.stringify(ids));
        const generic = createIncrementalDecoder(tokenizer, { skipSpecialTokens: skip });
        const viaGeneric = ids.map((id) => generic.push([id])).join("") + generic.flush();
        assert.equal(viaGeneric, expected);
      }
    }
  });

  it("throws a RangeError for an id outside the vocabulary", () => {
    const decoder = vocabulary.createDecoder();
    assert.throws(() => decoder.push([tokenizer.vocabSize + 10]), RangeError);
    assert.throws(() => decoder.push([-1]), RangeError);
  });
});
