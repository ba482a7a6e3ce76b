/**
 * The chat template of the bundled default (Qwen3) tokenizer, from the same
 * `tokenizer_config.json` that `loadDefaultTokenizer` reads.
 *
 * @module
 */
import { loadDefaultTokenizerFiles } from "../tokenizer/default_tokenizer.ts";
import { chatTemplateFromConfig } from "./chat_template_config.ts";
import type { ChatTemplate } from "./chat_template.ts";

/**
 * Loads and compiles the Qwen3 chat template (ChatML with `<think>` handling and tools),
 * with `eos_token` `<|im_end|>` and an empty `bos_token`.
 *
 * @example
 * ```ts
 * import { loadDefaultChatTemplate } from "./default_chat_template.ts";
 * const template = await loadDefaultChatTemplate();
 * const prompt = template.render([{ role: "user", content: "Hi" }]);
 * console.assert(prompt === "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
 * ```
 */
export async function loadDefaultChatTemplate(): Promise<ChatTemplate> {
  const { tokenizerConfig } = await loadDefaultTokenizerFiles();
  return chatTemplateFromConfig(tokenizerConfig);
}
