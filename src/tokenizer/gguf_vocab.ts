/**
 * The tokenizer part of a GGUF file's metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`),
 * validated with zod and normalised the way llama.cpp's `llama_vocab::load` reads it: default
 * special ids and flags per tokenizer model, overridden by the keys present, and the set of
 * end-of-generation ids (EOS, EOT, EOM, and the tokens llama.cpp recognises by their text).
 *
 * @module
 */
import { z } from "zod";

/** GGUF token types (`llama_token_type`). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** Texts llama.cpp treats as end of generation whatever the metadata says. */
const EOG_TEXTS = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "<|end_of_text|>",
  "<end_of_utterance>",
  "<｜end▁of▁sentence｜>",
]);

/** A GGUF vocabulary, ready for a tokenizer. */
export interface GgufVocab {
  /** `llama` (SentencePiece BPE by scores) or `gpt2` (byte-level BPE by merges). */
  model: "llama" | "gpt2";
  /** `tokenizer.ggml.pre` (gpt2 only; `default` when absent). */
  pre: string;
  tokens: readonly string[];
  scores: Float32Array;
  /** Token types (`TokenType`); tokens llama.cpp treats as EOG are CONTROL here too. */
  types: Uint8Array;
  /** Merges as `[left, right]` in rank order (gpt2). */
  merges: readonly (readonly [string, string])[];
  bosId: number | undefined;
  eosId: number | undefined;
  unkId: number | undefined;
  /** End-of-generation ids, EOS first. */
  eogIds: readonly number[];
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** llama.cpp's `ignore_merges` (whole-word lookup first; the Llama 3 pre-tokenizer). */
  ignoreMerges: boolean;
  chatTemplate: string | undefined;
}

const id = z.number().int().nonnegative();
const metadataSchema = z.object({
  "tokenizer.ggml.model": z.string(),
  "tokenizer.ggml.pre": z.string().optional(),
  "tokenizer.ggml.tokens": z.array(z.string()).min(1),
  "tokenizer.ggml.scores": z.array(z.number()).optional(),
  "tokenizer.ggml.token_type": z.array(z.number().int()).optional(),
  "tokenizer.ggml.merges": z.array(z.string()).optional(),
  "tokenizer.ggml.bos_token_id": id.optional(),
  "tokenizer.ggml.eos_token_id": id.optional(),
  "tokenizer.ggml.eot_token_id": id.optional(),
  "tokenizer.ggml.eom_token_id": id.optional(),
  "tokenizer.ggml.unknown_token_id": id.optional(),
  "tokenizer.ggml.add_bos_token": z.boolean().optional(),
  "tokenizer.ggml.add_eos_token": z.boolean().optional(),
  "tokenizer.ggml.add_space_prefix": z.boolean().optional(),
  "tokenizer.chat_template": z.string().optional(),
});

/** Pre-tokenizer names that add BOS and ignore merges in llama.cpp (`LLAMA_VOCAB_PRE_TYPE_LLAMA3`). */
const LLAMA3_PRE = new Set(["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"]);

/**
 * Reads the vocabulary from GGUF metadata (a `Map` as `parseGgufHeader` returns, or a plain
 * object). Throws a `TypeError` naming the key for missing or malformed keys, and for tokenizer
 * models other than `llama` and `gpt2`.
 */
export function ggufVocabFromMetadata(
  metadata: ReadonlyMap<string, unknown> | Record<string, unknown>,
): GgufVocab {
  const raw = metadata instanceof Map
    ? Object.fromEntries(metadata)
    : metadata as Record<string, unknown>;
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(
      `Cannot read the GGUF tokenizer: ${issue.path.join(".") || "metadata"} ${issue.message}`,
    );
  }
  const m = parsed.data;
  const model = m["tokenizer.ggml.model"];
  if (model !== "llama" && model !== "gpt2") {
    throw new TypeError(
      `Cannot read the GGUF tokenizer: tokenizer.ggml.model "${model}" is not supported ` +
        `(Sluice reads "llama" and "gpt2" vocabularies)`,
    );
  }
  const tokens = m["tokenizer.ggml.tokens"];
  const n = tokens.length;
  const check = (key: string, value: number | undefined) => {
    if (value !== undefined && value >= n) {
      throw new TypeError(`Cannot read the GGUF tokenizer: ${key} ${value} is not below ${n}`);
    }
    return value;
  };
  const scores = new Float32Array(n);
  const rawScores = m["tokenizer.ggml.scores"];
  if (rawScores !== undefined) {
    if (rawScores.length !== n) {
      throw new TypeError("Cannot read the GGUF tokenizer: tokenizer.ggml.scores length differs");
    }
    scores.set(rawScores);
  }
  const types = new Uint8Array(n).fill(TokenType.NORMAL);
  const rawTypes = m["tokenizer.ggml.token_type"];
  if (rawTypes !== undefined) {
    if (rawTypes.length !== n) {
      throw new TypeError(
        "Cannot read the GGUF tokenizer: tokenizer.ggml.token_type length differs",
      );
    }
    types.set(rawTypes);
  }
  const pre = m["tokenizer.ggml.pre"] ?? "default";
  const merges: [string, string][] = [];
  if (model === "gpt2") {
    const lines = m["tokenizer.ggml.merges"];
    if (lines === undefined) {
      throw new TypeError("Cannot read the GGUF tokenizer: tokenizer.ggml.merges is missing");
    }
    for (const line of lines) {
      const at = line.indexOf(" ", 1);
      if (at < 0) {
        throw new TypeError(`Cannot read the GGUF tokenizer: merge "${line}" has no space`);
      }
      merges.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  const spm = model === "llama";
  const bosId = check("tokenizer.ggml.bos_token_id", m["tokenizer.ggml.bos_token_id"]) ??
    (spm ? 1 : undefined);
  const eosId = check("tokenizer.ggml.eos_token_id", m["tokenizer.ggml.eos_token_id"]) ??
    (spm ? 2 : undefined);
  const eot = check("tokenizer.ggml.eot_token_id", m["tokenizer.ggml.eot_token_id"]);
  const eom = check("tokenizer.ggml.eom_token_id", m["tokenizer.ggml.eom_token_id"]);
  const eog: number[] = [];
  for (const x of [eosId, eot, eom]) if (x !== undefined && !eog.includes(x)) eog.push(x);
  tokens.forEach((text, i) => {
    if (EOG_TEXTS.has(text)) {
      types[i] = TokenType.CONTROL;
      if (!eog.includes(i)) eog.push(i);
    }
  });
  const llama3 = !spm && LLAMA3_PRE.has(pre);
  return {
    model,
    pre,
    tokens,
    scores,
    types,
    merges,
    bosId,
    eosId,
    unkId: check("tokenizer.ggml.unknown_token_id", m["tokenizer.ggml.unknown_token_id"]) ??
      (spm ? 0 : undefined),
    eogIds: eog,
    addBos: m["tokenizer.ggml.add_bos_token"] ?? (spm || llama3),
    addEos: m["tokenizer.ggml.add_eos_token"] ?? false,
    addSpacePrefix: spm ? (m["tokenizer.ggml.add_space_prefix"] ?? true) : false,
    ignoreMerges: llama3,
    chatTemplate: m["tokenizer.chat_template"],
  };
}
