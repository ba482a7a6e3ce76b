/**
 * The conformance suite every {@linkcode Tokenizer} implementation runs: round trips, id
 * ranges, errors, the U+FFFD contract for cut characters, and streaming detokenization with
 * `createIncrementalDecoder` at every split point. Call it from an implementation's test file.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { createIncrementalDecoder } from "../../src/tokenizer/incremental_decoder.ts";

/** What the suite needs to know about the implementation under test. */
export interface TokenizerConformanceOptions {
  /** Builds the tokenizer (called once). */
  create: () => Tokenizer | Promise<Tokenizer>;
  /** Texts that MUST survive `decode(encode(text, {addSpecialTokens: false}))` unchanged. */
  roundTripTexts: readonly string[];
}

/** Registers the conformance tests for one implementation under `describe(name)`. */
export function tokenizerConformance(name: string, options: TokenizerConformanceOptions): void {
  let pending: Promise<Tokenizer> | undefined;
  const tokenizer = () => (pending ??= Promise.resolve(options.create()));
  const encode = (t: Tokenizer, text: string) => t.encode(text, { addSpecialTokens: false });

  describe(`Tokenizer conformance: ${name}`, () => {
    it("round-trips multilingual text and emoji", async () => {
      const t = await tokenizer();
      for (const text of options.roundTripTexts) {
        const ids = encode(t, text);
        assert.ok(ids.length > 0, `no ids for ${JSON.stringify(text)}`);
        assert.equal(t.decode(ids), text);
      }
    });

    it("encodes to integer ids inside the vocabulary", async () => {
      const t = await tokenizer();
      for (const text of options.roundTripTexts) {
        for (const id of t.encode(text)) {
          assert.ok(Number.isInteger(id) && id >= 0 && id < t.vocabSize, `bad id ${id}`);
        }
      }
    });

    it("decodes nothing to the empty string", async () => {
      assert.equal((await tokenizer()).decode([]), "");
    });

    it("rejects ids outside the vocabulary with a RangeError", async () => {
      const t = await tokenizer();
      for (const id of [-1, t.vocabSize, 1.5, Number.NaN]) {
        assert.throws(() => t.decode([0, id]), RangeError);
        assert.throws(() => t.tokenString(id), RangeError);
      }
    });

    it("has end-of-sequence ids that skipSpecialTokens removes", async () => {
      const t = await tokenizer();
      assert.ok(t.eosTokenIds.length > 0);
      const ids = encode(t, options.roundTripTexts[0]);
      for (const eos of t.eosTokenIds) {
        assert.ok(eos >= 0 && eos < t.vocabSize);
        assert.notEqual(t.decode([...ids, eos]), t.decode(ids));
        assert.equal(t.decode([...ids, eos], { skipSpecialTokens: true }), t.decode(ids));
      }
      if (t.bosTokenId !== undefined) assert.ok(t.bosTokenId < t.vocabSize);
    });

    it("shows each token on its own with tokenString", async () => {
      const t = await tokenizer();
      for (const id of encode(t, options.roundTripTexts.join(" "))) {
        assert.equal(t.tokenString(id), t.decode([id]));
      }
      assert.equal(t.tokenString(t.eosTokenIds[0]), t.decode([t.eosTokenIds[0]]));
    });

    it("decodes every id prefix to a prefix of the text or a trailing U+FFFD", async () => {
      const t = await tokenizer();
      for (const text of options.roundTripTexts) {
        const ids = encode(t, text);
        for (let end = 1; end <= ids.length; end++) {
          const partial = t.decode(ids.slice(0, end));
          const complete = partial.replace(/\uFFFD+$/, "");
          assert.ok(text.startsWith(complete), `${JSON.stringify(partial)} of ${text}`);
        }
      }
    });

    it("streams text equal to the full decode for every split point", async () => {
      const t = await tokenizer();
      for (const text of options.roundTripTexts) {
        const ids = encode(t, text);
        for (let i = 0; i <= ids.length; i++) {
          for (let j = i; j <= ids.length; j++) {
            const decoder = createIncrementalDecoder(t);
            const parts = [ids.slice(0, i), ids.slice(i, j), ids.slice(j)].map((p) =>
              decoder.push(p)
            );
            assert.equal(parts.join("") + decoder.flush(), text, `split at ${i}, ${j}`);
            assert.ok(!parts.some((p) => p.includes("\uFFFD")), `U+FFFD at ${i}, ${j}`);
          }
        }
      }
    });

    it("streams one token at a time without U+FFFD or lone surrogates", async () => {
      const t = await tokenizer();
      for (const text of options.roundTripTexts) {
        const decoder = createIncrementalDecoder(t);
        let streamed = "";
        for (const id of encode(t, text)) {
          const piece = decoder.push([id]);
          assert.ok(!piece.includes("\uFFFD") && piece.isWellFormed(), JSON.stringify(piece));
          streamed += piece;
        }
        assert.equal(streamed + decoder.flush(), text);
      }
    });
  });
}
