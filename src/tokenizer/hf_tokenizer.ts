/**
 * A {@linkcode Tokenizer} over a Hugging Face `tokenizer.json`, backed by
 * `@huggingface/tokenizers` (tokenizers.js).
 *
 * Why this library rather than `@lenml/tokenizers`: it is Hugging Face's own pure-JS port,
 * maintained with transformers.js (v4 uses it), has zero dependencies (~100 kB unminified),
 * ships its own types, and translates the Oniguruma pre-tokenizer regexes of `tokenizer.json`
 * structurally instead of passing them to `RegExp` as is. `@lenml/tokenizers` is a one-person
 * fork of transformers.js v3. On the Qwen3 tokenizer both produced identical ids for twenty
 * 8 kB chunks of English/markdown text, at similar speed (2-core Debian, warm: 1.6 µs per token
 * for both on Deno; on Bun 1.2 µs here vs 0.9 µs for lenml), so maintenance, footprint and
 * regex fidelity decided. A 2k-token prompt encodes in 2–4 ms (see bench/RESULTS.md).
 *
 * @module
 */
import { Tokenizer as HfCoreTokenizer } from "@huggingface/tokenizers";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";
import { parseJsonInput, specialTokenContent } from "./tokenizer_config.ts";
import type { JsonInput } from "./tokenizer_config.ts";

/** Options for {@linkcode createHfTokenizer}. */
export interface HfTokenizerOptions {
  /** `tokenizer_config.json` (text, bytes or object): EOS/BOS tokens, cleanup, specials. */
  config?: JsonInput;
  /**
   * Extra ids that end generation, e.g. `eos_token_id` from `generation_config.json`
   * (Qwen3 lists `<|im_end|>` and `<|endoftext|>`). Appended after the config's `eos_token`.
   */
  eosTokenIds?: readonly number[];
}

/**
 * Loads a tokenizer from a Hugging Face `tokenizer.json` (and optional `tokenizer_config.json`).
 * Throws a `TypeError` when a file is not valid JSON or describes an unsupported tokenizer.
 * Construction costs a few hundred milliseconds for a 150k vocabulary: build once and share.
 *
 * @example
 * ```ts
 * import { createHfTokenizer } from "./hf_tokenizer.ts";
 * const tokenizer = createHfTokenizer({
 *   model: { type: "BPE", vocab: { h: 0, i: 1, hi: 2 }, merges: ["h i"] },
 *   decoder: { type: "Fuse" }, normalizer: null, pre_tokenizer: null, post_processor: null,
 *   added_tokens: [],
 * });
 * console.assert(tokenizer.encode("hih").join() === "2,0");
 * console.assert(tokenizer.decode([2, 0]) === "hih");
 * ```
 */
export function createHfTokenizer(
  tokenizerJson: JsonInput,
  options: HfTokenizerOptions = {},
): HfTokenizer {
  return new HfTokenizer(tokenizerJson, options);
}

/** The {@linkcode Tokenizer} returned by {@linkcode createHfTokenizer}. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  readonly maxTokenBytes: number;
  readonly separableAtLineStarts: boolean;
  #core: HfCoreTokenizer;
  #tokenStrings: (string | undefined)[] = [];

  /** See {@linkcode createHfTokenizer}. */
  constructor(tokenizerJson: JsonInput, options: HfTokenizerOptions = {}) {
    const json = parseJsonInput(tokenizerJson, "tokenizer.json");
    const config = options.config === undefined ? {} : parseJsonInput(
      options.config,
      "tokenizer_config.json",
    );
    try {
      this.#core = new HfCoreTokenizer(json, config);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new TypeError(`Cannot load tokenizer.json: ${reason}`, { cause });
    }
    let maxId = -1;
    let maxBytes = 1;
    // Byte-level vocabularies spell each byte as one (BMP) character; others are UTF-8 text.
    const byteLevel = JSON.stringify(json.pre_tokenizer ?? null).includes('"ByteLevel"');
    for (const [token, id] of this.#core.get_vocab(true)) {
      maxId = Math.max(maxId, id);
      const bytes = byteLevel ? token.length : utf8Length(token);
      if (bytes > maxBytes) maxBytes = bytes;
    }
    this.vocabSize = maxId + 1;
    this.maxTokenBytes = maxBytes;
    this.separableAtLineStarts = isSeparableAtLineStarts(json);
    this.bosTokenId = this.#specialId(config.bos_token, "bos_token");
    const eos = this.#specialId(config.eos_token, "eos_token");
    const eosIds = eos === undefined ? [] : [eos];
    for (const id of options.eosTokenIds ?? []) {
      this.#checkId(id, "use as an end-of-sequence id");
      if (!eosIds.includes(id)) eosIds.push(id);
    }
    this.eosTokenIds = Object.freeze(eosIds);
  }

  /** Text to token ids; `addSpecialTokens` (default `true`) applies the post-processor. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") {
      throw new TypeError(`Cannot encode: expected a string, got ${typeof text}`);
    }
    return this.#core.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Token ids to text; throws a `RangeError` for an id outside `[0, vocabSize)`. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    for (const id of ids) this.#checkId(id);
    return this.#core.decode(ids as number[], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
    });
  }

  /** The text of one token for logprob display; cached per id. */
  tokenString(id: number): string {
    this.#checkId(id, "show");
    let text = this.#tokenStrings[id];
    if (text === undefined) {
      text = this.#core.decode([id], { skip_special_tokens: false });
      this.#tokenStrings[id] = text;
    }
    return text;
  }

  #checkId(id: number, action = "decode"): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(
        `Cannot ${action} token id ${id}: expected an integer in [0, ${this.vocabSize})`,
      );
    }
  }

  #specialId(value: unknown, field: string): number | undefined {
    const content = specialTokenContent(value);
    if (content === undefined) return undefined;
    const id = this.#core.token_to_id(content);
    if (id === undefined) {
      throw new TypeError(
        `Cannot load tokenizer_config.json: ${field} "${content}" is not in the vocabulary`,
      );
    }
    return id;
  }
}

/** UTF-8 length of `text` without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** The GPT-4 / Llama 3 / Qwen split rule: a newline run is its own piece (`\s*[\r\n]+`). */
const LINE_SPLIT = "\\s*[\\r\\n]+";

/**
 * Whether a tokenizer.json pre-tokenizes so that no piece spans a newline followed by a
 * letter: a ByteLevel pre-tokenizer (GPT-2 regex), or a Split with the GPT-4-style regex
 * then ByteLevel without its own regex; normalizer none or NFC (composition never joins
 * across a base letter); no added token containing a newline.
 */
function isSeparableAtLineStarts(json: Record<string, unknown>): boolean {
  const normalizer = json.normalizer as { type?: string } | null | undefined;
  if (normalizer != null && normalizer.type !== "NFC") return false;
  const added = (json.added_tokens ?? []) as { content?: string }[];
  if (added.some((t) => typeof t.content === "string" && /[\r\n]/.test(t.content))) return false;
  const pre = json.pre_tokenizer as
    | { type?: string; use_regex?: boolean; add_prefix_space?: boolean; pretokenizers?: unknown[] }
    | null
    | undefined;
  if (pre == null) return false;
  if (pre.type === "ByteLevel") return pre.use_regex !== false && pre.add_prefix_space !== true;
  if (pre.type !== "Sequence" || !Array.isArray(pre.pretokenizers)) return false;
  const steps = pre.pretokenizers as {
    type?: string;
    pattern?: { Regex?: string };
    behavior?: string;
    use_regex?: boolean;
    add_prefix_space?: boolean;
  }[];
  if (steps.length !== 2) return false;
  const [split, byteLevel] = steps;
  return split.type === "Split" && split.behavior === "Isolated" &&
    typeof split.pattern?.Regex === "string" && split.pattern.Regex.includes(LINE_SPLIT) &&
    byteLevel.type === "ByteLevel" && byteLevel.use_regex === false &&
    byteLevel.add_prefix_space !== true;
}
