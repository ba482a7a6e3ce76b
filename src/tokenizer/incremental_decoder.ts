/**
 * Streaming detokenization: token ids in, newly completed text out, without ever emitting
 * half of a UTF-8 character and without re-decoding the whole sequence on every token.
 *
 * The algorithm is vLLM's / TGI's prefix-offset window. The decoder keeps only the tokens from
 * `prefix` on: `window[0, read)` was already emitted and is kept as context (so decoders that
 * depend on neighbours, like SentencePiece's leading-space rule, see the same text as a full
 * decode), `window[read, …)` is pending. Each push decodes the window once; when the decoded
 * text does not end in U+FFFD it is complete, the window slides forward (`prefix ← read`,
 * `read ← end`) and stays a few tokens long. When it does end in U+FFFD (a byte-level token cut
 * a character), the text before the trailing U+FFFD run is emitted and the rest waits for the
 * next push. Sliding decodes the new context once more, so a push costs two decodes of a
 * window a few tokens long: O(new tokens) amortised (a single push of k ids costs O(k) and
 * leaves a k-token context, decoded once more by the next push). After more than
 * `MAX_PENDING_TOKENS` tokens that never complete a character, the trailing U+FFFD is taken
 * as invalid bytes from the model: it is emitted and the window restarts empty.
 *
 * Known limit, shared with vLLM: a tokenizer whose decoding rewrites earlier text once later
 * tokens arrive (`clean_up_tokenization_spaces: true` turning `" ."` into `"."`) can stream
 * text that differs from a full decode by such cleanups (Qwen3 has it off).
 *
 * @module
 */
import type { Tokenizer } from "./tokenizer.ts";

/**
 * Pending tokens after which a trailing U+FFFD is taken as real (invalid bytes from the model,
 * not a character still arriving), so a garbage stream cannot grow the window without bound.
 * A UTF-8 character has at most 4 bytes; real text never comes near this.
 */
const MAX_PENDING_TOKENS = 64;

const REPLACEMENT_CHARACTER = 0xfffd;

/** Options for {@linkcode createIncrementalDecoder}. */
export interface IncrementalDecoderOptions {
  /** Drop special tokens from the text, like `Tokenizer.decode`. Default `false`. */
  skipSpecialTokens?: boolean;
  /**
   * Ids that precede the stream (the prompt), used as decoding context and never emitted.
   * Only the last few are kept. SentencePiece tokenizers need it to render the first
   * generated token's leading space as a full decode of prompt + completion would.
   */
  context?: readonly number[];
}

/** Turns a stream of token ids into a stream of text; see {@linkcode createIncrementalDecoder}. */
export interface IncrementalDecoder {
  /**
   * Adds ids and returns the text they complete (possibly `""`). Concatenating every `push`
   * result and the final `flush` MUST equal `tokenizer.decode(allIds)`.
   */
  push(ids: readonly number[]): string;
  /** Ends the stream: returns held-back text (an incomplete character as U+FFFD). */
  flush(): string;
}

/** Context tokens kept from `options.context`. */
const CONTEXT_TOKENS = 6;

/**
 * Creates an incremental decoder over `tokenizer`.
 *
 * @example
 * ```ts
 * import { createIncrementalDecoder } from "./incremental_decoder.ts";
 * import { loadDefaultTokenizer } from "./default_tokenizer.ts";
 * const tokenizer = await loadDefaultTokenizer();
 * const ids = tokenizer.encode("héllo 😀", { addSpecialTokens: false });
 * const decoder = createIncrementalDecoder(tokenizer);
 * let text = "";
 * for (const id of ids) text += decoder.push([id]); // never a broken "😀"
 * text += decoder.flush();
 * console.assert(text === "héllo 😀");
 * ```
 */
export function createIncrementalDecoder(
  tokenizer: Tokenizer,
  options: IncrementalDecoderOptions = {},
): IncrementalDecoder {
  return new WindowDecoder(tokenizer, options);
}

class WindowDecoder implements IncrementalDecoder {
  #tokenizer: Tokenizer;
  #skipSpecialTokens: boolean;
  /** Tokens from the prefix offset on. */
  #window: number[];
  /** Index in `#window` of the first token not yet emitted (the read offset). */
  #read: number;
  /** Characters of `decode(#window)` already emitted or given as context. */
  #emitted: number;

  constructor(tokenizer: Tokenizer, options: IncrementalDecoderOptions) {
    this.#tokenizer = tokenizer;
    this.#skipSpecialTokens = options.skipSpecialTokens ?? false;
    this.#window = (options.context ?? []).slice(-CONTEXT_TOKENS);
    this.#read = this.#window.length;
    this.#emitted = this.#decode(this.#window).length;
  }

  push(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    for (const id of ids) this.#window.push(id);
    const text = this.#decode(this.#window);
    let end = text.length;
    while (end > 0 && text.charCodeAt(end - 1) === REPLACEMENT_CHARACTER) end--;
    const forced = end < text.length && this.#window.length - this.#read > MAX_PENDING_TOKENS;
    if (forced) end = text.length;
    const out = end > this.#emitted ? text.slice(this.#emitted, end) : "";
    if (forced) {
      // Invalid bytes: no clean boundary to keep as context, start over.
      this.#window = [];
      this.#read = 0;
      this.#emitted = 0;
    } else if (end === text.length) {
      // Slide: the tokens just emitted become the context for the next push.
      this.#window = this.#window.slice(this.#read);
      this.#read = this.#window.length;
      this.#emitted = this.#decode(this.#window).length;
    } else {
      this.#emitted = Math.max(this.#emitted, end);
    }
    return out;
  }

  flush(): string {
    const text = this.#decode(this.#window);
    const out = text.length > this.#emitted ? text.slice(this.#emitted) : "";
    this.#window = [];
    this.#read = 0;
    this.#emitted = 0;
    return out;
  }

  #decode(ids: readonly number[]): string {
    return this.#tokenizer.decode(ids, { skipSpecialTokens: this.#skipSpecialTokens });
  }
}
