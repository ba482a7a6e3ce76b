/**
 * A {@linkcode Tokenizer} built from a GGUF file's `tokenizer.ggml.*` metadata, tokenizing as
 * llama.cpp does (`llama_vocab::impl::tokenize` with `parse_special`), so a frontend and a
 * llama.cpp (or GGUF-reading) engine agree token for token:
 *
 * 1. Special tokens (CONTROL, USER_DEFINED and UNKNOWN types) are cut out of the text first,
 *    longest first, leftmost occurrence first (`tokenizer_st_partition`).
 * 2. `llama` vocabularies: each remaining fragment gets a leading space when
 *    `add_space_prefix` is set and it starts the text or follows a special token, spaces become
 *    `▁`, and SentencePiece BPE merges by score with byte fallback (`gguf_merge.ts`).
 * 3. `gpt2` vocabularies: each fragment is split by the pre-tokenizer regex that
 *    `tokenizer.ggml.pre` names (gpt-2, llama3, qwen2 or llama.cpp's default), each piece is
 *    byte-level encoded and merged by rank.
 * 4. `add_bos` prepends BOS when `addSpecialTokens` is true (the default).
 *
 * Decoding concatenates token bytes (`▁` back to spaces, `<0xXX>` as bytes, byte-level
 * characters back to bytes) and decodes UTF-8 leniently; for `llama` vocabularies with
 * `add_space_prefix` the leading space of the first token decoded (after skipped special tokens)
 * is dropped, as Hugging Face's SentencePiece decoders do (llama.cpp keeps it after a skipped BOS).
 * No `clean_up_tokenization_spaces` rewrite is applied (it breaks streaming prefixes).
 *
 * @module
 */
import { bpeMerge, spmMerge } from "./gguf_merge.ts";
import { type GgufVocab, ggufVocabFromMetadata, TokenType } from "./gguf_vocab.ts";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";

/** Pre-tokenizer regexes by `tokenizer.ggml.pre` (llama.cpp's `llm_tokenizer_bpe`). */
const GPT2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)/gu;
const LLAMA3 =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const QWEN2 =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const DEFAULT = [
  /[\p{P}$+<=>^~|]+/gu,
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)/gu,
  /\p{N}+/gu,
  /[0-9][0-9][0-9]/gu,
];

function preTokenizer(pre: string): RegExp[] {
  if (pre === "default") return DEFAULT;
  if (["gpt-2", "phi-2", "jina-es", "jina-de", "mpt", "olmo", "jais"].includes(pre)) return [GPT2];
  if (["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"].includes(pre)) return [LLAMA3];
  if (["qwen2", "deepseek-r1-qwen", "stablelm2"].includes(pre)) return [QWEN2];
  throw new TypeError(
    `Cannot build the GGUF tokenizer: pre-tokenizer "${pre}" (tokenizer.ggml.pre) is not ` +
      "supported; Sluice supports default, gpt-2, llama3/llama-bpe and qwen2",
  );
}

/** Splits `text` by each regex in turn, keeping unmatched gaps as pieces (llama.cpp's rule). */
function regexSplit(text: string, regexes: readonly RegExp[]): string[] {
  let pieces = [text];
  for (const re of regexes) {
    const next: string[] = [];
    for (const piece of pieces) {
      let at = 0;
      for (const m of piece.matchAll(re)) {
        if (m.index > at) next.push(piece.slice(at, m.index));
        if (m[0].length > 0) next.push(m[0]);
        at = m.index + m[0].length;
      }
      if (at < piece.length) next.push(piece.slice(at));
    }
    pieces = next;
  }
  return pieces;
}

/** GPT-2's `bytes_to_unicode` table and its inverse. */
function byteLevelTables(): { toChar: string[]; toByte: Map<string, number> } {
  const toChar: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    toChar[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  const toByte = new Map<string, number>();
  toChar.forEach((c, b) => toByte.set(c, b));
  return { toChar, toByte };
}

const encoder = new TextEncoder();
const lenient = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const WORD_CACHE_LIMIT = 20_000;

/** The tokenizer {@linkcode createGgufTokenizer} returns; also carries the chat template. */
export class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  /** `tokenizer.chat_template`, when the file has one. */
  readonly chatTemplate: string | undefined;
  /** The vocabulary read from the metadata. */
  readonly vocab: GgufVocab;
  #tokenId = new Map<string, number>();
  /** Special tokens to cut out of text, longest first. */
  #specials: { text: string; id: number; control: boolean }[] = [];
  #bytes: (Uint8Array | undefined)[] = [];
  #byteIds: Int32Array | undefined;
  #ranks = new Map<string, number>();
  #regexes: RegExp[] = [];
  #toChar: string[] = [];
  #toByte = new Map<string, number>();
  #wordCache = new Map<string, number[]>();

  /** See {@linkcode createGgufTokenizer}. */
  constructor(vocab: GgufVocab) {
    this.vocab = vocab;
    this.vocabSize = vocab.tokens.length;
    this.bosTokenId = vocab.bosId;
    this.eosTokenIds = Object.freeze([...vocab.eogIds]);
    this.chatTemplate = vocab.chatTemplate;
    vocab.tokens.forEach((text, id) => {
      if (!this.#tokenId.has(text)) this.#tokenId.set(text, id);
      const type = vocab.types[id];
      const special = type === TokenType.CONTROL || type === TokenType.USER_DEFINED ||
        type === TokenType.UNKNOWN;
      if (special && text.length > 0) {
        this.#specials.push({ text, id, control: type !== TokenType.USER_DEFINED });
      }
    });
    this.#specials.sort((a, b) => b.text.length - a.text.length || a.id - b.id);
    if (vocab.model === "llama") {
      this.#byteIds = new Int32Array(256).fill(-1);
      vocab.tokens.forEach((text, id) => {
        const m = vocab.types[id] === TokenType.BYTE ? BYTE_TOKEN.exec(text) : null;
        if (m) this.#byteIds![parseInt(m[1], 16)] = id;
      });
    } else {
      vocab.merges.forEach(([a, b], rank) => {
        const key = a + " " + b;
        if (!this.#ranks.has(key)) this.#ranks.set(key, rank);
      });
      this.#regexes = preTokenizer(vocab.pre);
      const tables = byteLevelTables();
      this.#toChar = tables.toChar;
      this.#toByte = tables.toByte;
    }
  }

  /**
   * Text to ids. Special-token text is always parsed as the special token (as Hugging Face
   * tokenizers do); `addSpecialTokens` (default `true`) prepends BOS when the file says so.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") {
      throw new TypeError(`Cannot encode: expected a string, got ${typeof text}`);
    }
    const out: number[] = [];
    const v = this.vocab;
    if ((options.addSpecialTokens ?? true) && v.addBos && v.bosId !== undefined) out.push(v.bosId);
    let prevSpecial = true;
    for (const fragment of this.#partition(text.toWellFormed())) {
      if (typeof fragment === "number") {
        out.push(fragment);
        prevSpecial = true;
        continue;
      }
      if (v.model === "llama") {
        const spaced = v.addSpacePrefix && prevSpecial ? " " + fragment : fragment;
        spmMerge(spaced.replaceAll(" ", "▁"), this.#tokenId, v.scores, (b) => this.#byteId(b), out);
      } else {
        for (const word of regexSplit(fragment, this.#regexes)) this.#bpeWord(word, out);
      }
      prevSpecial = false;
    }
    if ((options.addSpecialTokens ?? true) && v.addEos && v.eosId !== undefined) out.push(v.eosId);
    return out;
  }

  /** Token ids to text; throws a `RangeError` for an id outside `[0, vocabSize)`. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const parts: Uint8Array[] = [];
    let length = 0;
    let first = true;
    for (let i = 0; i < ids.length; i++) {
      this.#check(ids[i], "decode");
      const type = this.vocab.types[ids[i]];
      if (skip && (type === TokenType.CONTROL || type === TokenType.UNKNOWN)) continue;
      let bytes = this.tokenBytes(ids[i]);
      if (first && this.vocab.addSpacePrefix && type === TokenType.NORMAL && bytes[0] === 0x20) {
        bytes = bytes.subarray(1);
      }
      first = false;
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return lenient.decode(all);
  }

  /**
   * The text of one token on its own, as `decode([id])` gives it (U+FFFD for part of a
   * character; a SentencePiece token loses its leading space like a decoded text does; use
   * {@linkcode GgufTokenizer.tokenBytes} for the exact bytes).
   */
  tokenString(id: number): string {
    this.#check(id, "show");
    return this.decode([id]);
  }

  /** The raw bytes of one token (special tokens: their UTF-8 text). */
  tokenBytes(id: number): Uint8Array {
    this.#check(id, "decode");
    let bytes = this.#bytes[id];
    if (bytes !== undefined) return bytes;
    const text = this.vocab.tokens[id];
    const type = this.vocab.types[id];
    if (type === TokenType.BYTE) {
      const m = BYTE_TOKEN.exec(text);
      bytes = m ? Uint8Array.of(parseInt(m[1], 16)) : encoder.encode(text);
    } else if (type !== TokenType.NORMAL && type !== TokenType.UNDEFINED) {
      bytes = encoder.encode(text);
    } else if (this.vocab.model === "llama") {
      bytes = encoder.encode(text.replaceAll("▁", " "));
    } else {
      const out: number[] = [];
      for (const ch of text) {
        const b = this.#toByte.get(ch);
        if (b === undefined) out.push(...encoder.encode(ch));
        else out.push(b);
      }
      bytes = Uint8Array.from(out);
    }
    this.#bytes[id] = bytes;
    return bytes;
  }

  /** Cuts special tokens out of `text`: strings are raw text, numbers token ids. */
  #partition(text: string): (string | number)[] {
    let fragments: (string | number)[] = text.length > 0 ? [text] : [];
    for (const special of this.#specials) {
      const next: (string | number)[] = [];
      for (const fragment of fragments) {
        if (typeof fragment === "number" || !fragment.includes(special.text)) {
          next.push(fragment);
          continue;
        }
        let at = 0;
        for (;;) {
          const found = fragment.indexOf(special.text, at);
          if (found < 0) break;
          if (found > at) next.push(fragment.slice(at, found));
          next.push(special.id);
          at = found + special.text.length;
        }
        if (at < fragment.length) next.push(fragment.slice(at));
      }
      fragments = next;
    }
    return fragments;
  }

  #bpeWord(word: string, out: number[]): void {
    const cached = this.#wordCache.get(word);
    if (cached !== undefined) {
      for (const id of cached) out.push(id);
      return;
    }
    let encoded = "";
    for (const b of encoder.encode(word)) encoded += this.#toChar[b];
    const ids: number[] = [];
    const whole = this.vocab.ignoreMerges ? this.#tokenId.get(encoded) : undefined;
    if (whole !== undefined) ids.push(whole);
    else {
      for (const piece of bpeMerge(encoded, (a, b) => this.#ranks.get(a + " " + b) ?? -1)) {
        const id = this.#tokenId.get(piece);
        if (id !== undefined) ids.push(id);
        else {
          for (const ch of piece) {
            const single = this.#tokenId.get(ch);
            if (single !== undefined) ids.push(single);
          }
        }
      }
    }
    if (this.#wordCache.size >= WORD_CACHE_LIMIT) this.#wordCache.clear();
    this.#wordCache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  #byteId(byte: number): number {
    const id = this.#byteIds![byte];
    if (id < 0) {
      throw new TypeError(
        `Cannot encode byte 0x${byte.toString(16)}: the vocabulary has no <0x..> byte token`,
      );
    }
    return id;
  }

  #check(id: number, action: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(
        `Cannot ${action} token id ${id}: expected an integer in [0, ${this.vocabSize})`,
      );
    }
  }
}

/**
 * Builds a tokenizer from GGUF metadata (the `metadata` map of `parseGgufHeader`, or an
 * object of the same keys). Throws a `TypeError` naming the key when the vocabulary is missing,
 * malformed or of an unsupported kind. Build once per model and share: construction indexes
 * the whole vocabulary.
 *
 * @example
 * ```ts
 * import { createGgufTokenizer } from "./gguf_tokenizer.ts";
 * const tokenizer = createGgufTokenizer({
 *   "tokenizer.ggml.model": "llama",
 *   "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi"],
 *   "tokenizer.ggml.scores": [0, 0, 0, -10, -10, -10, -1, -2],
 *   "tokenizer.ggml.token_type": [2, 3, 3, 1, 1, 1, 1, 1],
 * });
 * console.assert(tokenizer.encode("hi").join() === "1,7");
 * console.assert(tokenizer.decode([1, 7], { skipSpecialTokens: true }) === "hi");
 * ```
 */
export function createGgufTokenizer(
  metadata: ReadonlyMap<string, unknown> | Record<string, unknown>,
): GgufTokenizer {
  return new GgufTokenizer(ggufVocabFromMetadata(metadata));
}
