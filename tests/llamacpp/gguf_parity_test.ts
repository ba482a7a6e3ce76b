// The GGUF writer and tokenizer checked against llama.cpp itself (node-llama-cpp, CPU build):
// every fixture format loads and decodes greedily without collapsing to one token, and the
// GGUF tokenizer gives llama.cpp's ids on tricky strings and random slices of text.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { FIXTURE_CORPUS } from "../fixtures/model/fixture_vocab.ts";
import type { FixtureModelOptions } from "../fixtures/model/fixture_model.ts";
import { cpuLlama, FixtureDir } from "./llama_cpp_helpers.ts";

const fixtures = new FixtureDir();
after(() => fixtures.dispose());

const TRICKY = [
  "",
  " ",
  "   ",
  "Hello world",
  " Hello",
  "Hello  world  ",
  "\n\nThe river\tran\n",
  "héllo wörld ñ 中文 日本語 한국어",
  "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷",
  "<s>Hello</s>",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "a<|im_end|>b<|im_end|><|im_end|>",
  "<unk>x<|endoftext|>",
  "it's don't WE'LL 12345 3.14159 1,000,000",
  "tabs\t\tand\r\nCRLF\r\n",
  "\u00a0nbsp\u2003em\u200bzwsp",
  "function add(a, b) { return a + b; }",
  "<<s>> <|im_start <|im_end|",
  "x".repeat(60),
  "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬ ¡™£¢∞§¶•ªº",
];

/** Deterministic slices of the corpus with random cuts (mid-word, mid-space). */
function corpusSlices(count: number): string[] {
  const out: string[] = [];
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < count; i++) {
    const start = Math.floor(next() * (FIXTURE_CORPUS.length - 80));
    out.push(FIXTURE_CORPUS.slice(start, start + 1 + Math.floor(next() * 80)));
  }
  return out;
}

describe("fixture GGUF files in llama.cpp", () => {
  const formats: FixtureModelOptions[] = [
    { dtype: "f32", vocab: "llama" },
    { dtype: "f16", vocab: "llama" },
    { dtype: "q8_0", vocab: "gpt2" },
    { dtype: "q4_0", vocab: "llama" },
    { dtype: "q8_0", vocab: "gpt2", arch: "qwen2" },
  ];
  for (const options of formats) {
    it(`loads and decodes ${JSON.stringify(options)} without collapsing`, async () => {
      const llama = await cpuLlama();
      const model = await llama.loadModel({ modelPath: await fixtures.model(options) });
      const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
      try {
        const sequence = context.getSequence();
        const prompt = model.tokenize("The river ran quietly past the old mill", false);
        const out: number[] = [];
        for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
          out.push(token);
          if (out.length >= 32) break;
        }
        assert.ok(out.length >= 8, `only ${out.length} tokens before end of generation`);
        const distinct = new Set(out).size;
        assert.ok(distinct >= out.length / 3, `${distinct} distinct in ${out}`);
        const tail = out.slice(-8);
        assert.ok(new Set(tail).size > 1, `collapsed to one token: ${out}`);
      } finally {
        await context.dispose();
        await model.dispose();
      }
    });
  }
});

describe("GgufTokenizer against llama.cpp's tokenizer", () => {
  for (const vocab of ["llama", "gpt2"] as const) {
    it(`gives llama.cpp's ids and text for the ${vocab} vocabulary`, async () => {
      const path = await fixtures.model({ vocab });
      const header = parseGgufHeader(new Uint8Array(await readFile(path)), { metadataOnly: true });
      const tokenizer = createGgufTokenizer(header.metadata);
      const llama = await cpuLlama();
      const model = await llama.loadModel({ modelPath: path });
      try {
        const texts = [...TRICKY, ...corpusSlices(200)];
        for (const text of texts) {
          const want = [...model.tokenize(text, true)];
          const got = tokenizer.encode(text, { addSpecialTokens: false });
          assert.deepEqual(got, want, JSON.stringify(text));
          assert.equal(tokenizer.decode(got), model.detokenize(want, true), JSON.stringify(text));
        }
        assert.deepEqual(
          [...tokenizer.eosTokenIds].sort(),
          [...new Set([model.tokens.eos, model.tokens.eot].filter((x) => x !== null))].sort(),
        );
        assert.equal(tokenizer.bosTokenId, model.tokens.bos);
      } finally {
        await model.dispose();
      }
    });
  }
});
