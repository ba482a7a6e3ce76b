import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { toTemplateMessages } from "../../src/chat_template/chat_message.ts";
import type { ChatMessage } from "../../src/chat_template/chat_message.ts";

function rejects(messages: unknown, message: RegExp) {
  assert.throws(() => toTemplateMessages(messages as ChatMessage[]), {
    name: "TypeError",
    message,
  });
}

describe("toTemplateMessages", () => {
  it("converts every role and keeps extra fields", () => {
    const out = toTemplateMessages([
      { role: "system", content: "s" },
      { role: "developer", content: "d" },
      { role: "user", content: "u", name: "ann" },
      { role: "assistant", content: "a", reasoning_content: "because" },
      { role: "tool", content: "t", tool_call_id: "call_1" },
    ]);
    assert.deepEqual(out, [
      { role: "system", content: "s" },
      { role: "system", content: "d" },
      { role: "user", content: "u", name: "ann" },
      { role: "assistant", content: "a", reasoning_content: "because" },
      { role: "tool", content: "t", tool_call_id: "call_1" },
    ]);
  });

  it("joins text and refusal parts with newlines", () => {
    const [user, assistant] = toTemplateMessages([
      { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
      { role: "assistant", content: [{ type: "refusal", refusal: "no" }] },
    ]);
    assert.equal(user.content, "a\nb");
    assert.equal(assistant.content, "no");
  });

  it("parses tool-call arguments and allows null content beside tool calls", () => {
    const [assistant] = toTemplateMessages([{
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "c1", type: "function", function: { name: "f", arguments: '{"x": [1, 2]}' } },
        { function: { name: "g", arguments: "" } },
      ],
    }]);
    assert.deepEqual(assistant, {
      role: "assistant",
      content: "",
      tool_calls: [
        { id: "c1", type: "function", function: { name: "f", arguments: { x: [1, 2] } } },
        { type: "function", function: { name: "g", arguments: {} } },
      ],
    });
  });

  it("rejects malformed messages, naming the field", () => {
    rejects([], /Invalid messages: expected a non-empty array/);
    rejects("hi", /Invalid messages/);
    rejects([null], /Invalid messages\[0\]: expected an object/);
    rejects([{ role: "robot", content: "x" }], /Invalid messages\[0\]\.role: expected one of/);
    rejects([{ role: "user" }], /Invalid messages\[0\]\.content: required for a user message/);
    rejects([{ role: "assistant", content: null }], /messages\[0\]\.content: required/);
    rejects(
      [{ role: "user", content: 42 }],
      /messages\[0\]\.content: expected a string or an array/,
    );
    rejects(
      [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }],
      /messages\[0\]\.content\[0\]: content part type "image_url" is not supported/,
    );
    rejects([{ role: "user", content: "x", name: 7 }], /messages\[0\]\.name: expected a string/);
  });

  it("rejects malformed tool calls, naming the field", () => {
    const call = (
      fn: unknown,
    ) => [{ role: "assistant", content: "", tool_calls: [{ function: fn }] }];
    rejects(
      [{ role: "user", content: "x", tool_calls: [] }],
      /messages\[0\]\.tool_calls: only assistant messages have tool calls/,
    );
    rejects([{ role: "assistant", content: "", tool_calls: {} }], /tool_calls: expected an array/);
    rejects(call(undefined), /tool_calls\[0\]\.function: expected \{name, arguments\}/);
    rejects(
      call({ name: "f", arguments: "{oops" }),
      /tool_calls\[0\]\.function\.arguments: not valid JSON/,
    );
    rejects(call({ name: "f", arguments: "[1]" }), /arguments: expected a JSON object/);
  });
});
