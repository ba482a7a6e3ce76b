/**
 * A fast incremental decoder for byte-level BPE tokenizers (GPT-2 family: Qwen,
 * Llama 3, Mistral Nemo, …): the fast path of {@linkcode decoderFactory}.
 *
 * Why it exists: the generic window decoder (`createIncrementalDecoder`) calls
 * `tokenizer.decode` twice per token, ~3 µs per token on Deno, which was a third of
 * the frontend's cost per streamed token. For a byte-level tokenizer the text of a
 * stream is exactly the UTF-8 decoding of the concatenated token bytes (added tokens
 * as their content), so the decoder can keep a tiny byte tail instead: a token whose
 * bytes are complete UTF-8 on their own is appended as a precomputed string (the
 * common case, O(1)); otherwise its bytes join the tail, and the tail is decoded up
 * to its last complete character. UTF-8 decoding is prefix-consistent when cut before
 * a lead byte, so the concatenated output equals `tokenizer.decode(allIds)`; the tests
 * check that against the tokenizer on mixed-script text, emoji and special tokens.
 *
 * It mirrors `@huggingface/tokenizers`' `ByteLevel` decoder: skipped special tokens
 * vanish without breaking a byte run, other added tokens end the run (an incomplete
 * character before one becomes U+FFFD, as there), and a BOM is kept. It applies only
 * when the tokenizer's output is not post-edited: decoder exactly `ByteLevel`, BPE
 * without end-of-word suffix, and `clean_up_tokenization_spaces` explicitly false;
 * otherwise {@linkcode ByteLevelVocabulary.fromTokenizerJson} returns `undefined` and
 * the caller uses the generic decoder ({@linkcode decoderFactory} makes that choice).
 *
 * @module
 */
import { createIncrementalDecoder, type IncrementalDecoder } from "./incremental_decoder.ts";
import type { TokenizerConfig } from "./tokenizer_config.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** GPT-2's `bytes_to_unicode` inverted: the byte each vocabulary character stands for. */
function unicodeToBytes(): Map<number, number> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<number, number>();
  for (const b of printable) map.set(b, b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) map.set(256 + n++, b);
  }
  return map;
}

/** What one id of a {@linkcode ByteLevelVocabulary} decodes to. */
export interface ByteLevelEntry {
  /** Raw bytes (byte-level tokens) or UTF-8 content (added tokens). */
  bytes: Uint8Array;
  /** The text when `bytes` is complete UTF-8 on its own, else `undefined`. */
  text: string | undefined;
  /** An added token: ends the byte run. */
  added: boolean;
  /** Dropped when special tokens are skipped. */
  special: boolean;
}

const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

/** Bytes a UTF-8 sequence starting with `lead` needs (1 for ASCII and invalid leads). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  return 1;
}

/** Length of the prefix of `bytes` that ends before an incomplete trailing character. */
function completePrefix(bytes: Uint8Array, length: number): number {
  for (let i = length - 1; i >= 0 && i >= length - 4; i--) {
    const b = bytes[i];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    return length - i < sequenceLength(b) ? i : length;
  }
  return length;
}

/**
 * The vocabulary of a byte-level BPE tokenizer, as bytes per id.
 *
 * @example
 * ```ts ignore
 * const vocabulary = ByteLevelVocabulary.fromTokenizerJson(tokenizerJson, tokenizerConfig);
 * const decoder = vocabulary?.createDecoder({ skipSpecialTokens: true });
 * ```
 */
export class ByteLevelVocabulary {
  /** One more than the largest id. */
  readonly vocabSize: number;
  #strings: (string | undefined)[];
  #added: Set<string>;
  #special: Set<string>;
  #entries: (ByteLevelEntry | undefined)[] = [];
  #bytesOf: Map<number, number>;

  private constructor(strings: (string | undefined)[], added: Set<string>, special: Set<string>) {
    this.#strings = strings;
    this.#added = added;
    this.#special = special;
    this.vocabSize = strings.length;
    this.#bytesOf = unicodeToBytes();
  }

  /**
   * Builds the vocabulary from a parsed `tokenizer.json`, or returns `undefined` when the
   * tokenizer is not plain byte-level BPE (see the module doc).
   */
  static fromTokenizerJson(
    json: Record<string, unknown>,
    config: TokenizerConfig | undefined,
  ): ByteLevelVocabulary | undefined {
    const model = json.model as Record<string, unknown> | undefined;
    const decoder = json.decoder as Record<string, unknown> | null | undefined;
    if (decoder?.type !== "ByteLevel" || model?.type !== "BPE") return undefined;
    if (model.end_of_word_suffix || config?.clean_up_tokenization_spaces !== false) {
      return undefined;
    }
    const vocab = model.vocab as Record<string, number> | undefined;
    if (typeof vocab !== "object" || vocab === null) return undefined;
    const strings: (string | undefined)[] = [];
    for (const token in vocab) strings[vocab[token]] = token;
    const added = new Set<string>();
    const special = new Set<string>();
    const addedTokens = (json.added_tokens ?? []) as {
      id: number;
      content: string;
      special?: boolean;
    }[];
    for (const token of addedTokens) {
      strings[token.id] = token.content;
      added.add(token.content);
      if (token.special) special.add(token.content);
    }
    const extra = config?.additional_special_tokens;
    if (Array.isArray(extra)) {
      for (const token of extra) {
        const content = typeof token === "string"
          ? token
          : (token as { content?: unknown })?.content;
        if (typeof content === "string") special.add(content);
      }
    }
    return new ByteLevelVocabulary(strings, added, special);
  }

  /** A decoder for one stream. */
  createDecoder(options: { skipSpecialTokens?: boolean } = {}): IncrementalDecoder {
    return new ByteLevelDecoder(this, options.skipSpecialTokens ?? false);
  }

  /** The entry of `id`; throws a `RangeError` for an id outside the vocabulary. */
  entry(id: number): ByteLevelEntry {
    const cached = this.#entries[id];
    if (cached !== undefined) return cached;
    const token = Number.isInteger(id) && id >= 0 ? this.#strings[id] : undefined;
    if (token === undefined) {
      throw new RangeError(
        `Cannot decode token id ${id}: expected an integer in [0, ${this.vocabSize})`,
      );
    }
    const added = this.#added.has(token);
    let bytes: Uint8Array;
    if (added) {
      bytes = encoder.encode(token);
    } else {
      bytes = new Uint8Array(token.length);
      let n = 0;
      for (const char of token) bytes[n++] = this.#bytesOf.get(char.codePointAt(0)!) ?? 0;
      bytes = bytes.subarray(0, n);
    }
    let text: string | undefined;
    try {
      text = fatal.decode(bytes);
    } catch {
      text = undefined;
    }
    const entry: ByteLevelEntry = { bytes, text, added, special: this.#special.has(token) };
    this.#entries[id] = entry;
    return entry;
  }
}

class ByteLevelDecoder implements IncrementalDecoder {
  #vocabulary: ByteLevelVocabulary;
  #skipSpecial: boolean;
  #tail = new Uint8Array(64);
  #tailLength = 0;

  constructor(vocabulary: ByteLevelVocabulary, skipSpecial: boolean) {
    this.#vocabulary = vocabulary;
    this.#skipSpecial = skipSpecial;
  }

  push(ids: readonly number[]): string {
    let out = "";
    for (let i = 0; i < ids.length; i++) {
      const entry = this.#vocabulary.entry(ids[i]);
      if (entry.special && this.#skipSpecial) continue;
      if (entry.added) {
        out += this.flush() + entry.text;
        continue;
      }
      if (this.#tailLength === 0 && entry.text !== undefined) {
        out += entry.text;
        continue;
      }
      this.#append(entry.bytes);
      const end = completePrefix(this.#tail, this.#tailLength);
      if (end > 0) {
        out += lenient.decode(this.#tail.subarray(0, end));
        this.#tail.copyWithin(0, end, this.#tailLength);
        this.#tailLength -= end;
      }
    }
    return out;
  }

  flush(): string {
    if (this.#tailLength === 0) return "";
    const text = lenient.decode(this.#tail.subarray(0, this.#tailLength));
    this.#tailLength = 0;
    return text;
  }

  #append(bytes: Uint8Array): void {
    if (this.#tailLength + bytes.length > this.#tail.length) {
      const grown = new Uint8Array(
        Math.max(this.#tail.length * 2, this.#tailLength + bytes.length),
      );
      grown.set(this.#tail.subarray(0, this.#tailLength));
      this.#tail = grown;
    }
    this.#tail.set(bytes, this.#tailLength);
    this.#tailLength += bytes.length;
  }
}

/** Options a stream's decoder is made with. */
export interface StreamDecoderOptions {
  /** When true, special tokens are left out of the text. */
  skipSpecialTokens: boolean;
  /** Prompt ids (context for tokenizers whose first token's text depends on it). */
  promptTokenIds?: readonly number[];
}

/**
 * Picks the incremental decoder for a tokenizer once: the byte-level fast path when
 * `tokenizerJson` qualifies, else the generic window decoder over `tokenizer`.
 */
export function decoderFactory(
  tokenizer: Tokenizer,
  tokenizerJson: Record<string, unknown>,
  config: TokenizerConfig | undefined,
): (options: StreamDecoderOptions) => IncrementalDecoder {
  const byteLevel = ByteLevelVocabulary.fromTokenizerJson(tokenizerJson, config);
  if (byteLevel !== undefined) {
    return (options) => byteLevel.createDecoder({ skipSpecialTokens: options.skipSpecialTokens });
  }
  return (options) =>
    createIncrementalDecoder(tokenizer, {
      skipSpecialTokens: options.skipSpecialTokens,
      context: options.promptTokenIds,
    });
}
