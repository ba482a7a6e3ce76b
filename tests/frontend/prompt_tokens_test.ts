/**
 * Prompt size bound and chunked, yielding tokenization (issue 8, defect 3): the chunks
 * encode to exactly the ids of one `encode` call, and a prompt that cannot fit is refused
 * from its size.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadDefaultTokenizer } from "../../src/tokenizer/default_tokenizer.ts";
import { createHfTokenizer, utf8Length } from "../../src/tokenizer/hf_tokenizer.ts";
import {
  checkPromptSize,
  CHUNK_CHARS,
  encodeYielding,
  splitAtLineStarts,
} from "../../src/frontend/prompt_tokens.ts";
import { isSluiceError } from "../../src/errors/sluice_error.ts";

/** About `chars` of mixed text: prose, code, markdown, CJK, emoji, digits, odd spacing. */
function mixedText(chars: number): string {
  const lines = [
    "The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it?",
    "  def f(x):\n\treturn x ** 2  # squared",
    "## Heading\n- item one\n- item two\n\n> quoted",
    "東京は日本の首都です。Ünïcödé façade — naïve café.",
    "emoji 🎉🚀 and numbers 1234567890 and symbols {}[]()<>!?",
    "trailing spaces   \n\n\nindented after blank lines",
    "<|im_start|>user\nliteral special token text<|im_end|>",
    "Ωmega line starting with a non-ASCII letter",
  ];
  let text = "";
  for (let i = 0; text.length < chars; i++) text += lines[i % lines.length] + "\n";
  return text;
}

describe("prompt tokens", () => {
  it("splits only just after a newline that precedes a letter", () => {
    const text = mixedText(5 * CHUNK_CHARS);
    const pieces = splitAtLineStarts(text);
    assert.ok(pieces.length >= 4, `${pieces.length} pieces`);
    assert.equal(pieces.join(""), text);
    for (const piece of pieces.slice(0, -1)) assert.ok(piece.endsWith("\n"));
    for (const piece of pieces.slice(1)) assert.match(piece, /^\p{L}/u);
  });

  it("chunked encoding equals one encode call (default Qwen3 tokenizer)", async () => {
    const tokenizer = await loadDefaultTokenizer();
    assert.equal(tokenizer.separableAtLineStarts, true);
    assert.equal(tokenizer.maxTokenBytes, 128);
    const text = mixedText(6 * CHUNK_CHARS + 123);
    for (const addSpecialTokens of [false, true]) {
      const whole = tokenizer.encode(text, { addSpecialTokens });
      const chunked = await encodeYielding(tokenizer, text, { addSpecialTokens });
      assert.equal(chunked.length, whole.length);
      assert.deepEqual(chunked, whole);
    }
  });

  it("yields to the event loop while encoding a long text", async () => {
    const tokenizer = await loadDefaultTokenizer();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await encodeYielding(tokenizer, mixedText(20 * CHUNK_CHARS), { addSpecialTokens: false });
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 5, `timers ran ${ticks} times during the encode`);
  });

  it("does not chunk a tokenizer that is not separable at line starts", async () => {
    const tokenizer = createHfTokenizer({
      model: { type: "BPE", vocab: { a: 0, "\n": 1, "a\na": 2 }, merges: [] },
      decoder: null,
      normalizer: { type: "Lowercase" },
      pre_tokenizer: null,
      post_processor: null,
      added_tokens: [],
    });
    assert.equal(tokenizer.separableAtLineStarts, false);
    const text = "a\n".repeat(CHUNK_CHARS);
    assert.deepEqual(await encodeYielding(tokenizer, text), tokenizer.encode(text));
  });

  it("refuses a prompt from its size when it cannot fit the context", async () => {
    const tokenizer = await loadDefaultTokenizer();
    const bound = 2048 * tokenizer.maxTokenBytes!;
    checkPromptSize(["x".repeat(bound)], tokenizer, 2048, "prompt");
    checkPromptSize(["x".repeat(bound)], tokenizer, undefined, "prompt");
    for (
      const texts of [["x".repeat(bound + 1)], ["é".repeat(bound / 2 + 1)], [
        "a",
        "b".repeat(bound),
      ]]
    ) {
      assert.throws(
        () => checkPromptSize(texts, tokenizer, 2048, "messages"),
        (e) =>
          isSluiceError(e) && e.kind === "InvalidArgument" && e.param === "messages" &&
          e.code === "context_length_exceeded" && /maximum context length is 2048/.test(e.message),
      );
    }
    assert.equal(utf8Length("é😀a"), 2 + 4 + 1);
  });
});
