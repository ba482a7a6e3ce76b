/**
 * OpenAI chat messages as requests carry them, and their conversion to the data model that
 * Hugging Face chat templates expect (the `transformers` / vLLM conventions): `content` as one
 * string, tool-call `arguments` as an object, `developer` rendered as `system`.
 *
 * @module
 */

/** A message role of the OpenAI chat API. */
export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

/** A text content part (`refusal` parts of assistant messages are rendered as text too). */
export type ChatContentPart =
  | { type: "text"; text: string }
  | { type: "refusal"; refusal: string };

/** An assistant's call of a function tool. `arguments` is JSON text, as OpenAI sends it. */
export interface ChatToolCall {
  /** The call's id; `tool` messages answer it with `tool_call_id`. */
  id?: string;
  /** Always `function` (filled in when absent). */
  type?: "function";
  /**
   * The function called and its arguments: JSON text from clients, an object once converted
   * for a template (empty text counts as `{}`).
   */
  function: { name: string; arguments: string | Record<string, unknown> };
}

/** One message of an OpenAI chat request. Unknown extra fields reach the template as is. */
export interface ChatMessage {
  /** Who speaks. */
  role: ChatRole;
  /** Text, or text parts. Required, except `null` or absent on an assistant turn with tool calls. */
  content?: string | readonly ChatContentPart[] | null;
  /** Optional participant name. */
  name?: string;
  /** Tool calls; assistant messages only. */
  tool_calls?: readonly ChatToolCall[];
  /** On a `tool` message: the id of the call it answers. */
  tool_call_id?: string;
  /** Other fields, handed to the template unchanged. */
  [field: string]: unknown;
}

/** A message as handed to a template: `content` is always a string. */
export interface TemplateMessage {
  /** The role; `developer` has become `system`. */
  role: Exclude<ChatRole, "developer">;
  /** The text, parts joined with `"\n"`; `""` for an assistant turn with only tool calls. */
  content: string;
  /** Other fields of the message (`name`, `tool_call_id`, converted `tool_calls`…). */
  [field: string]: unknown;
}

const ROLES: ReadonlySet<string> = new Set(["system", "developer", "user", "assistant", "tool"]);

/**
 * Validates OpenAI messages and converts them for a chat template. Text parts are joined
 * with `"\n"` (as vLLM does for string-content templates); `null` content (an assistant turn
 * with only tool calls) becomes `""`; tool-call `arguments` JSON is parsed into an object, the
 * form `transformers` templates expect; `developer` becomes `system`, since templates do not
 * know it and would silently drop it. Throws a `TypeError` naming the offending field.
 *
 * @example
 * ```ts
 * import { toTemplateMessages } from "./chat_message.ts";
 * const [message] = toTemplateMessages([
 *   { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
 * ]);
 * console.assert(message.content === "a\nb");
 * ```
 */
export function toTemplateMessages(messages: readonly ChatMessage[]): TemplateMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new TypeError("Invalid messages: expected a non-empty array");
  }
  return messages.map((message, index) => toTemplateMessage(message, `messages[${index}]`));
}

function toTemplateMessage(message: ChatMessage, where: string): TemplateMessage {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw new TypeError(`Invalid ${where}: expected an object`);
  }
  if (typeof message.role !== "string" || !ROLES.has(message.role)) {
    throw new TypeError(
      `Invalid ${where}.role: expected one of ${[...ROLES].join(", ")}, got ${
        JSON.stringify(message.role)
      }`,
    );
  }
  const out: TemplateMessage = { role: "user", content: "" };
  for (const [field, value] of Object.entries(message)) {
    if (value !== undefined) out[field] = value;
  }
  out.role = message.role === "developer" ? "system" : message.role;
  const toolCalls = message.tool_calls;
  const hasToolCalls = Array.isArray(toolCalls) && toolCalls.length > 0;
  if (message.content == null && !(message.role === "assistant" && hasToolCalls)) {
    throw new TypeError(`Invalid ${where}.content: required for a ${message.role} message`);
  }
  out.content = contentText(message.content, `${where}.content`);
  if (message.name !== undefined && typeof message.name !== "string") {
    throw new TypeError(`Invalid ${where}.name: expected a string`);
  }
  if (toolCalls !== undefined) {
    if (message.role !== "assistant") {
      throw new TypeError(`Invalid ${where}.tool_calls: only assistant messages have tool calls`);
    }
    if (!Array.isArray(toolCalls)) {
      throw new TypeError(`Invalid ${where}.tool_calls: expected an array`);
    }
    out.tool_calls = toolCalls.map((call, index) =>
      toTemplateToolCall(call, `${where}.tool_calls[${index}]`)
    );
  }
  return out;
}

function contentText(content: ChatMessage["content"], where: string): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) {
    throw new TypeError(`Invalid ${where}: expected a string or an array of content parts`);
  }
  return content.map((part, index) => {
    const at = `${where}[${index}]`;
    if (part?.type === "text" && typeof part.text === "string") return part.text;
    if (part?.type === "refusal" && typeof part.refusal === "string") return part.refusal;
    if (part?.type === "text") {
      throw new TypeError(
        `Invalid ${at}.text: a "text" content part requires a string "text", got ${
          part.text === undefined ? "none" : JSON.stringify(part.text)
        }`,
      );
    }
    const type = typeof part === "object" && part !== null ? part.type : part;
    throw new TypeError(
      `Invalid ${at}: content part type ${JSON.stringify(type)} is not supported ` +
        `(only "text" parts with a string "text")`,
    );
  }).join("\n");
}

function toTemplateToolCall(call: ChatToolCall, where: string): ChatToolCall {
  const fn = call?.function;
  if (typeof fn !== "object" || fn === null || typeof fn.name !== "string") {
    throw new TypeError(`Invalid ${where}.function: expected {name, arguments}`);
  }
  let args = fn.arguments;
  if (typeof args === "string") {
    try {
      args = JSON.parse(args === "" ? "{}" : args);
    } catch (cause) {
      throw new TypeError(`Invalid ${where}.function.arguments: not valid JSON`, { cause });
    }
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    throw new TypeError(`Invalid ${where}.function.arguments: expected a JSON object`);
  }
  const out: ChatToolCall = {
    type: call.type ?? "function",
    function: { name: fn.name, arguments: args },
  };
  if (call.id !== undefined) out.id = call.id;
  return out;
}
