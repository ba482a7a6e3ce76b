/**
 * Picking the chat template out of a Hugging Face `tokenizer_config.json`, whose
 * `chat_template` is either one template or a list of named ones (`default`, `tool_use`, `rag`…),
 * with the same selection rules as `transformers`' `apply_chat_template`.
 *
 * @module
 */
import { parseJsonInput, specialTokenContent } from "../tokenizer/tokenizer_config.ts";
import type { JsonInput } from "../tokenizer/tokenizer_config.ts";
import { createChatTemplate } from "./chat_template.ts";
import type { ChatTemplate } from "./chat_template.ts";

/** Options for {@linkcode chatTemplateFromConfig}. */
export interface ChatTemplateSelection {
  /** The name to pick from a list of named templates; throws if absent. */
  name?: string;
  /** Whether the requests carry tools: prefers a template named `tool_use` when unnamed. */
  withTools?: boolean;
}

/**
 * The template source `tokenizer_config.json` offers for `selection`. Unnamed selection picks
 * `tool_use` when `withTools` and it exists, else `default`. Throws a `TypeError` when the
 * config has no (matching) template.
 *
 * @example
 * ```ts
 * import { chatTemplateSource } from "./chat_template_config.ts";
 * const config = { chat_template: [{ name: "default", template: "A" }, { name: "rag", template: "B" }] };
 * console.assert(chatTemplateSource(config) === "A");
 * console.assert(chatTemplateSource(config, { name: "rag" }) === "B");
 * ```
 */
export function chatTemplateSource(
  config: JsonInput,
  selection: ChatTemplateSelection = {},
): string {
  const chatTemplate = parseJsonInput(config, "tokenizer_config.json").chat_template;
  if (typeof chatTemplate === "string") {
    if (selection.name !== undefined && selection.name !== "default") {
      throw new TypeError(
        `Cannot select chat template "${selection.name}": tokenizer_config.json has a single ` +
          `unnamed template`,
      );
    }
    return chatTemplate;
  }
  if (!Array.isArray(chatTemplate)) {
    throw new TypeError("Cannot load chat template: tokenizer_config.json has no chat_template");
  }
  const named = new Map<string, string>();
  for (const entry of chatTemplate) {
    if (typeof entry?.name !== "string" || typeof entry?.template !== "string") {
      throw new TypeError(
        "Cannot load chat template: chat_template entries must be {name, template} strings",
      );
    }
    named.set(entry.name, entry.template);
  }
  const name = selection.name ??
    (selection.withTools && named.has("tool_use") ? "tool_use" : "default");
  const source = named.get(name);
  if (source === undefined) {
    throw new TypeError(
      `Cannot select chat template "${name}": tokenizer_config.json offers ${
        [...named.keys()].map((n) => `"${n}"`).join(", ") || "none"
      }`,
    );
  }
  return source;
}

/**
 * Compiles the chat template of a `tokenizer_config.json`, with its `bos_token` / `eos_token`
 * as template variables. For a custom template file, read it and pass the text to
 * `createChatTemplate` instead.
 *
 * @example
 * ```ts
 * import { chatTemplateFromConfig } from "./chat_template_config.ts";
 * const template = chatTemplateFromConfig({
 *   bos_token: { content: "<s>" },
 *   chat_template: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
 * });
 * console.assert(template.render([{ role: "user", content: "hi" }]) === "<s>hi");
 * ```
 */
export function chatTemplateFromConfig(
  config: JsonInput,
  selection: ChatTemplateSelection = {},
): ChatTemplate {
  const parsed = parseJsonInput(config, "tokenizer_config.json");
  return createChatTemplate(chatTemplateSource(parsed, selection), {
    bosToken: specialTokenContent(parsed.bos_token) ?? "",
    eosToken: specialTokenContent(parsed.eos_token) ?? "",
  });
}
