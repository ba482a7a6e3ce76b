/**
 * The parts of a Hugging Face `tokenizer_config.json` the frontend reads, and how tokenizer
 * files arrive: the caller reads the file (runtime adapters own file access) and passes its
 * text, its bytes or the parsed object.
 *
 * @module
 */

/** A special token in `tokenizer_config.json`: plain text, or an `AddedToken` dictionary. */
export type SpecialTokenValue = string | { content: string } | null | undefined;

/** One named chat template, as listed in `tokenizer_config.json`'s `chat_template` array. */
export interface NamedChatTemplate {
  /** The template's name (`default`, `tool_use`, `rag`…). */
  name: string;
  /** The Jinja source. */
  template: string;
}

/** The fields of `tokenizer_config.json` Sluice uses; others are passed through untouched. */
export interface TokenizerConfig {
  /** Beginning-of-sequence token: its id is the tokenizer's BOS, its text the templates' `bos_token`. */
  bos_token?: SpecialTokenValue;
  /** End-of-sequence token: first of the tokenizer's EOS ids, and the templates' `eos_token`. */
  eos_token?: SpecialTokenValue;
  /**
   * The chat template: one Jinja source, or named ones (`default`; `tool_use` for requests
   * with tools when present; another only when asked for by name).
   */
  chat_template?: string | NamedChatTemplate[] | null;
  /**
   * Whether decoding tidies spaces before punctuation. Only an explicit `false` allows the
   * byte-level fast decoder, whose output would otherwise differ from `tokenizer.decode`.
   */
  clean_up_tokenization_spaces?: boolean;
  /** Other fields, kept as read. */
  [key: string]: unknown;
}

/** A JSON file as the caller has it: text, raw bytes, or already parsed. */
export type JsonInput = string | Uint8Array | ArrayBuffer | Record<string, unknown>;

/**
 * Parses a JSON file given as text, bytes or an object (returned as is) into an object.
 * Throws a `TypeError` naming `what` when the input is not a JSON object.
 *
 * @example
 * ```ts
 * import { parseJsonInput } from "./tokenizer_config.ts";
 * const bytes = new TextEncoder().encode('{"eos_token": "</s>"}');
 * console.assert(parseJsonInput(bytes, "tokenizer_config.json").eos_token === "</s>");
 * ```
 */
export function parseJsonInput(input: JsonInput, what: string): Record<string, unknown> {
  let value: unknown = input;
  if (typeof input === "string" || input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const text = typeof input === "string" ? input : new TextDecoder().decode(input);
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new TypeError(`Cannot load ${what}: it is not valid JSON`, { cause });
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot load ${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The text of a special token from `tokenizer_config.json` (`"<s>"` or `{content: "<s>"}`),
 * or `undefined` when unset.
 *
 * @example
 * ```ts
 * import { specialTokenContent } from "./tokenizer_config.ts";
 * console.assert(specialTokenContent({ content: "<s>" }) === "<s>");
 * console.assert(specialTokenContent(null) === undefined);
 * ```
 */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && "content" in value) {
    const content = (value as { content: unknown }).content;
    if (typeof content === "string") return content;
  }
  return undefined;
}
