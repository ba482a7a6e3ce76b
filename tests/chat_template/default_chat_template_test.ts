import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadDefaultChatTemplate } from "../../src/chat_template/default_chat_template.ts";
import { loadDefaultTokenizer } from "../../src/tokenizer/default_tokenizer.ts";
import type { ChatMessage } from "../../src/chat_template/chat_message.ts";

let shared: ReturnType<typeof loadDefaultChatTemplate> | undefined;
const qwen3 = () => (shared ??= loadDefaultChatTemplate());

const conversation: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is 2+2?" },
  { role: "assistant", content: "4." },
  { role: "user", content: "And 3+3?" },
];

describe("the default (Qwen3) chat template", () => {
  it("renders system, user and assistant turns with a generation prompt", async () => {
    const prompt = (await qwen3()).render(conversation, { addGenerationPrompt: true });
    assert.equal(
      prompt,
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
        "<|im_start|>assistant\n4.<|im_end|>\n" +
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
  });

  it("renders a final assistant turn with Qwen3's empty think block, no generation prompt", async () => {
    const prompt = (await qwen3()).render(conversation.slice(0, 3), { addGenerationPrompt: false });
    assert.equal(
      prompt,
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
        "<|im_start|>assistant\n<think>\n\n</think>\n\n4.<|im_end|>\n",
    );
  });

  it("turns thinking off through template variables", async () => {
    const prompt = (await qwen3()).render([{ role: "user", content: "Hi" }], {
      variables: { enable_thinking: false },
    });
    assert.equal(
      prompt,
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    );
  });

  it("renders tools, tool calls and tool results", async () => {
    const tools = [{
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather for a city",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
    }];
    const prompt = (await qwen3()).render([
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_1", content: "18°C, sunny" },
    ], { tools });
    assert.equal(
      prompt,
      "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
        '{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", ' +
        '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}\n</tools>\n\n' +
        "For each function call, return a json object with function name and arguments within " +
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": ' +
        "<args-json-object>}\n</tool_call><|im_end|>\n" +
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n' +
        "</tool_call><|im_end|>\n" +
        "<|im_start|>user\n<tool_response>\n18°C, sunny\n</tool_response><|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
  });

  it("tokenizes to Qwen3's ChatML ids", async () => {
    const tokenizer = await loadDefaultTokenizer();
    const prompt = (await qwen3()).render([{ role: "user", content: "hi" }]);
    assert.deepEqual(tokenizer.encode(prompt, { addSpecialTokens: false }), [
      151644, // <|im_start|>
      872, // user
      198, // \n
      6023, // hi
      151645, // <|im_end|>
      198,
      151644,
      77091, // assistant
      198,
    ]);
  });
});
