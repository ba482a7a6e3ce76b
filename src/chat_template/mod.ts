/**
 * Chat templates: OpenAI chat messages to prompt text, with Hugging Face Jinja templates.
 *
 * @module
 */
export { ChatTemplate, createChatTemplate } from "./chat_template.ts";
export type { ChatTemplateOptions, ChatTemplateRenderOptions } from "./chat_template.ts";
export { toTemplateMessages } from "./chat_message.ts";
export type {
  ChatContentPart,
  ChatMessage,
  ChatRole,
  ChatToolCall,
  TemplateMessage,
} from "./chat_message.ts";
export { chatTemplateFromConfig, chatTemplateSource } from "./chat_template_config.ts";
export type { ChatTemplateSelection } from "./chat_template_config.ts";
export { loadDefaultChatTemplate } from "./default_chat_template.ts";
