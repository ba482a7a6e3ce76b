import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  chatTemplateFromConfig,
  chatTemplateSource,
} from "../../src/chat_template/chat_template_config.ts";

const NAMED = {
  bos_token: { content: "<s>", lstrip: false },
  eos_token: "</s>",
  chat_template: [
    { name: "default", template: "default:{{ bos_token }}{{ eos_token }}" },
    { name: "tool_use", template: "tools:{{ tools | length }}" },
    { name: "rag", template: "rag" },
  ],
};

describe("chatTemplateSource", () => {
  it("returns a single template, given as object, text or bytes", () => {
    const config = { chat_template: "T" };
    assert.equal(chatTemplateSource(config), "T");
    assert.equal(chatTemplateSource(JSON.stringify(config)), "T");
    assert.equal(chatTemplateSource(new TextEncoder().encode(JSON.stringify(config))), "T");
    assert.equal(chatTemplateSource(config, { name: "default" }), "T");
  });

  it("selects named templates like transformers does", () => {
    assert.equal(chatTemplateSource(NAMED), NAMED.chat_template[0].template);
    assert.equal(chatTemplateSource(NAMED, { withTools: true }), NAMED.chat_template[1].template);
    assert.equal(chatTemplateSource(NAMED, { name: "rag", withTools: true }), "rag");
    const noToolUse = { chat_template: [NAMED.chat_template[0]] };
    assert.equal(
      chatTemplateSource(noToolUse, { withTools: true }),
      NAMED.chat_template[0].template,
    );
  });

  it("rejects missing or unknown templates with a TypeError", () => {
    assert.throws(() => chatTemplateSource({}), {
      name: "TypeError",
      message: /has no chat_template/,
    });
    assert.throws(() => chatTemplateSource(NAMED, { name: "nope" }), {
      name: "TypeError",
      message:
        /Cannot select chat template "nope": tokenizer_config\.json offers "default", "tool_use", "rag"/,
    });
    assert.throws(() => chatTemplateSource({ chat_template: "T" }, { name: "rag" }), TypeError);
    assert.throws(() => chatTemplateSource({ chat_template: [{ name: "x" }] }), TypeError);
    assert.throws(() => chatTemplateSource("{bad json"), TypeError);
  });
});

describe("chatTemplateFromConfig", () => {
  it("compiles the selected template with the config's BOS and EOS text", () => {
    const messages = [{ role: "user" as const, content: "x" }];
    assert.equal(chatTemplateFromConfig(NAMED).render(messages), "default:<s></s>");
    assert.equal(
      chatTemplateFromConfig(NAMED, { withTools: true }).render(messages, { tools: [{}, {}] }),
      "tools:2",
    );
    const bare = chatTemplateFromConfig({ chat_template: "[{{ bos_token }}]" });
    assert.equal(bare.render(messages), "[]");
  });
});
