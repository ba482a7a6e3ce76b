/**
 * Chat templates: Jinja programs (Hugging Face convention) that turn a list of chat messages
 * into the prompt text a model was trained on. Rendering uses `@huggingface/jinja`, the Jinja
 * subset transformers.js uses, with the variables `transformers` provides: `messages`, `tools`,
 * `add_generation_prompt`, `bos_token`, `eos_token`, and the functions `raise_exception` and
 * `strftime_now`.
 *
 * @module
 */
import { Template } from "@huggingface/jinja";
import { toTemplateMessages } from "./chat_message.ts";
import type { ChatMessage } from "./chat_message.ts";

/** Options for {@linkcode createChatTemplate}. */
export interface ChatTemplateOptions {
  /** The `bos_token` variable (text, e.g. `"<s>"`); `""` when the tokenizer has none. */
  bosToken?: string;
  /** The `eos_token` variable (text, e.g. `"<|im_end|>"`). */
  eosToken?: string;
}

/** Options for {@linkcode ChatTemplate.render}. */
export interface ChatTemplateRenderOptions {
  /** End with the header of an assistant turn, so the model writes the reply. Default `true`. */
  addGenerationPrompt?: boolean;
  /** OpenAI `tools` (`[{type: "function", function: {name, description, parameters}}]`). */
  tools?: readonly unknown[];
  /**
   * Extra template variables (OpenAI-compatible servers' `chat_template_kwargs`, e.g.
   * `{enable_thinking: false}` for Qwen3). They MUST NOT replace the standard variables above,
   * and do not: those win.
   */
  variables?: Record<string, unknown>;
}

/**
 * Compiles a chat template. Throws a `TypeError` when the source is not a valid template.
 *
 * @example
 * ```ts
 * import { createChatTemplate } from "./chat_template.ts";
 * const template = createChatTemplate(
 *   "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" +
 *     "{% if add_generation_prompt %}<assistant>{% endif %}",
 * );
 * const prompt = template.render([{ role: "user", content: "Hi" }]);
 * console.assert(prompt === "<user>Hi<assistant>");
 * ```
 */
export function createChatTemplate(
  source: string,
  options: ChatTemplateOptions = {},
): ChatTemplate {
  return new ChatTemplate(source, options);
}

/** A compiled chat template; see {@linkcode createChatTemplate}. Safe to share and reuse. */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  #template: Template;
  #bosToken: string;
  #eosToken: string;

  /** See {@linkcode createChatTemplate}. */
  constructor(source: string, options: ChatTemplateOptions = {}) {
    if (typeof source !== "string" || source.trim() === "") {
      throw new TypeError("Cannot compile chat template: the template is empty");
    }
    try {
      this.#template = new Template(source);
    } catch (cause) {
      throw new TypeError(`Cannot compile chat template: ${errorMessage(cause)}`, { cause });
    }
    this.source = source;
    this.#bosToken = options.bosToken ?? "";
    this.#eosToken = options.eosToken ?? "";
  }

  /**
   * Renders `messages` (OpenAI format, validated by `toTemplateMessages`) into prompt text.
   * Throws a `TypeError` for invalid messages and for any error the template raises
   * (`raise_exception("…")`, a missing filter, a type error): both are the client's request
   * not fitting the model, so the frontend answers 400.
   */
  render(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions = {}): string {
    const variables: Record<string, unknown> = {
      ...options.variables,
      messages: toTemplateMessages(messages),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.#bosToken,
      eos_token: this.#eosToken,
    };
    if (options.tools !== undefined) {
      if (!Array.isArray(options.tools)) {
        throw new TypeError("Invalid tools: expected an array");
      }
      variables.tools = options.tools;
    }
    try {
      return this.#template.render(variables);
    } catch (cause) {
      throw new TypeError(`Cannot render chat template: ${errorMessage(cause)}`, { cause });
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
