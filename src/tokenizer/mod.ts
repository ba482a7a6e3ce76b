/**
 * Frontend text processing: tokenizers (Hugging Face `tokenizer.json`, the bundled Qwen3
 * default), streaming detokenization and stop strings.
 *
 * @module
 */
export type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";
export { createHfTokenizer, HfTokenizer } from "./hf_tokenizer.ts";
export type { HfTokenizerOptions } from "./hf_tokenizer.ts";
export {
  loadDefaultTokenizer,
  loadDefaultTokenizerFiles,
  QWEN3_EOS_TOKEN_IDS,
} from "./default_tokenizer.ts";
export type { DefaultTokenizerFiles } from "./default_tokenizer.ts";
export { parseJsonInput, specialTokenContent } from "./tokenizer_config.ts";
export type {
  JsonInput,
  NamedChatTemplate,
  SpecialTokenValue,
  TokenizerConfig,
} from "./tokenizer_config.ts";
export { createIncrementalDecoder } from "./incremental_decoder.ts";
export type { IncrementalDecoder, IncrementalDecoderOptions } from "./incremental_decoder.ts";
export { createStopMatcher } from "./stop_matcher.ts";
export type { StopMatcher, StopMatchResult } from "./stop_matcher.ts";
export { ByteLevelVocabulary, decoderFactory } from "./byte_level_decoder.ts";
export type { ByteLevelEntry, StreamDecoderOptions } from "./byte_level_decoder.ts";
