/**
 * The tokenizer contract the frontend preprocesses and postprocesses with: text to ids for
 * prompts, ids to text for streamed completions and logprobs. Implementations sit beside this
 * file (`hf_tokenizer.ts`) and import it, never the reverse; every implementation runs the
 * shared conformance suite in `tests/tokenizer/tokenizer_conformance.ts`.
 *
 * @module
 */

/** Options for {@linkcode Tokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Apply the tokenizer's post-processor (e.g. prepend `<s>` / BOS). Default `true`.
   * Pass `false` for text rendered by a chat template, which already contains the BOS text.
   */
  addSpecialTokens?: boolean;
}

/** Options for {@linkcode Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (EOS, `<|im_start|>`, …) from the text. Default `false`. */
  skipSpecialTokens?: boolean;
}

/**
 * A text tokenizer.
 *
 * Implementations MUST be synchronous and side-effect free after construction, so one instance
 * can be shared by every request. `decode` MUST throw a `RangeError` for an id that is not an
 * integer in `[0, vocabSize)`, so a corrupt engine stream fails loudly instead of silently
 * dropping text. Decoding an id sequence that ends inside a UTF-8 character MUST end in U+FFFD
 * (the incremental decoder relies on this to hold such text back).
 *
 * @example
 * ```ts
 * import type { Tokenizer } from "./tokenizer.ts";
 * function countTokens(tokenizer: Tokenizer, text: string): number {
 *   return tokenizer.encode(text, { addSpecialTokens: false }).length;
 * }
 * ```
 */
export interface Tokenizer {
  /** One more than the largest token id the tokenizer knows (added tokens included). */
  readonly vocabSize: number;
  /** Ids that end generation (EOS, end of turn), first the tokenizer's own `eos_token`. */
  readonly eosTokenIds: readonly number[];
  /** The BOS id, or `undefined` when the tokenizer has none (Qwen). */
  readonly bosTokenId: number | undefined;
  /**
   * The most UTF-8 bytes of input text one token can stand for (the longest vocabulary
   * entry), when known: a text of more than `n × maxTokenBytes` bytes MUST encode to more
   * than `n` tokens, so a prompt that cannot fit a context is refused before encoding.
   */
  readonly maxTokenBytes?: number;
  /**
   * True when encoding is separable at line starts: for any `a` ending in `"\n"` and `b`
   * starting with a letter, `encode(a + b)` equals `encode(a)` followed by `encode(b)`
   * (without special tokens). Long texts are then encoded in chunks, yielding between them.
   */
  readonly separableAtLineStarts?: boolean;
  /** Text to token ids. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Token ids to text; an incomplete trailing UTF-8 character decodes to U+FFFD. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /**
   * The text of one token on its own, for logprob display (`"Ġworld"` shows as `" world"`);
   * special tokens show their content, a token holding part of a character shows U+FFFD.
   * MUST throw a `RangeError` like `decode` for an invalid id.
   */
  tokenString(id: number): string;
}
