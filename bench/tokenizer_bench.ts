/**
 * Frontend text-processing micro-benchmarks (mitata), runnable on Deno and Bun:
 *
 *     node_modules/.bin/deno run -A bench/tokenizer_bench.ts
 *     node_modules/.bin/bun bench/tokenizer_bench.ts
 *
 * - streaming detokenization of n generated tokens, one push per token: the incremental
 *   decoder (prefix/read-offset window) against the naive approach (re-decode everything so far
 *   on every token and emit the new suffix), in the same run;
 * - encode of a ~2k-token prompt (warm BPE cache; the first, cold encode is printed too);
 * - stop-string matching over the streamed text.
 *
 * Text: the first 2,000 tokens of `node_modules/openai/CHANGELOG.md` (real English/markdown),
 * read with `fetch` on its file URL (a Web API; both runtimes serve `file:` URLs).
 *
 * @module
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import { loadDefaultTokenizer } from "../src/tokenizer/default_tokenizer.ts";
import { createIncrementalDecoder } from "../src/tokenizer/incremental_decoder.ts";
import { createStopMatcher } from "../src/tokenizer/stop_matcher.ts";
import type { Tokenizer } from "../src/tokenizer/tokenizer.ts";

const loadStart = performance.now();
const tokenizer = await loadDefaultTokenizer();
const loadMs = performance.now() - loadStart;

const corpusUrl = new URL("../node_modules/openai/CHANGELOG.md", import.meta.url);
const corpus = await (await fetch(corpusUrl)).text();
const allIds = tokenizer.encode(corpus.slice(0, 40_000), { addSpecialTokens: false });
const prompt = tokenizer.decode(allIds.slice(0, 2000));
const coldStart = performance.now();
const promptTokens = tokenizer.encode(prompt, { addSpecialTokens: false }).length;
const coldMs = performance.now() - coldStart;
console.log(
  `load Qwen3 tokenizer: ${
    loadMs.toFixed(0)
  } ms; first (cold) encode of the ${promptTokens}-token ` +
    `prompt: ${coldMs.toFixed(2)} ms`,
);

function streamIncremental(t: Tokenizer, ids: readonly number[]): number {
  const decoder = createIncrementalDecoder(t, { skipSpecialTokens: true });
  let length = 0;
  for (const id of ids) length += decoder.push([id]).length;
  return length + decoder.flush().length;
}

function streamNaive(t: Tokenizer, ids: readonly number[]): number {
  let emitted = 0;
  for (let end = 1; end <= ids.length; end++) {
    const text = t.decode(ids.slice(0, end), { skipSpecialTokens: true });
    if (!text.endsWith("\uFFFD")) emitted = text.length;
  }
  return emitted;
}

for (const n of [256, 1024]) {
  const ids = allIds.slice(2000, 2000 + n);
  if (streamIncremental(tokenizer, ids) !== streamNaive(tokenizer, ids)) {
    throw new Error("incremental and naive detokenization disagree");
  }
  summary(() => {
    bench(`incremental decode, ${n} tokens one at a time`, () => {
      do_not_optimize(streamIncremental(tokenizer, ids));
    });
    bench(`naive full re-decode, ${n} tokens one at a time`, () => {
      do_not_optimize(streamNaive(tokenizer, ids));
    });
  });
}

bench(`encode ${promptTokens}-token prompt`, () => {
  do_not_optimize(tokenizer.encode(prompt, { addSpecialTokens: false }));
});

const pieces = allIds.slice(2000, 3024).map((id) => tokenizer.tokenString(id));
bench("stop matcher, 1024 streamed pieces, 3 stop strings", () => {
  const matcher = createStopMatcher(["</answer>", "\n\nUser:", "<|endoftext|>"]);
  let length = 0;
  for (const piece of pieces) length += matcher.push(piece).emit.length;
  do_not_optimize(length + matcher.flush().length);
});

await run({ colors: false });
