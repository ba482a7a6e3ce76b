/**
 * A hand-built Llama-2-style `tokenizer.json` (SentencePiece BPE with byte fallback): a few
 * hundred tokens where every non-ASCII character falls back to one token per UTF-8 byte and
 * the decoder strips the leading space of a sequence. It exercises what the Qwen3 byte-level
 * tokenizer does not: `<0xNN>` byte tokens, Metaspace `▁`, a BOS post-processor.
 *
 * @module
 */

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.!?'-:";
const MERGES: readonly [string, string][] = [
  ["▁", "h"],
  ["▁h", "e"],
  ["l", "l"],
  ["▁he", "ll"],
  ["▁hell", "o"],
  ["▁", "w"],
  ["o", "r"],
  ["▁w", "or"],
  ["l", "d"],
  ["▁wor", "ld"],
];

function specialToken(id: number, content: string) {
  return {
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
}

/** The parsed `tokenizer.json`: `<unk>` 0, `<s>` 1, `</s>` 2, bytes 3–258, then pieces. */
export function tinySentencePieceJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let byte = 0; byte < 256; byte++) {
    vocab[`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + byte;
  }
  let next = 259;
  for (const piece of ["▁", ...LETTERS, ...MERGES.map(([a, b]) => a + b)]) {
    if (!(piece in vocab)) vocab[piece] = next++;
  }
  return {
    version: "1.0",
    added_tokens: [specialToken(0, "<unk>"), specialToken(1, "<s>"), specialToken(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** The matching `tokenizer_config.json`. */
export function tinySentencePieceConfig(): Record<string, unknown> {
  return {
    bos_token: { content: "<s>", __type: "AddedToken" },
    eos_token: "</s>",
    clean_up_tokenization_spaces: false,
  };
}
