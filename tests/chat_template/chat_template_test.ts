import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createChatTemplate } from "../../src/chat_template/chat_template.ts";

const CHATML =
  "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}" +
  "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

describe("createChatTemplate", () => {
  it("renders messages with bos_token, eos_token and the generation prompt", () => {
    const template = createChatTemplate(CHATML, { bosToken: "<s>", eosToken: "</s>" });
    const messages = [{ role: "user" as const, content: "hi" }];
    assert.equal(template.render(messages), "<s><|user|>hi</s><|assistant|>");
    assert.equal(template.render(messages, { addGenerationPrompt: false }), "<s><|user|>hi</s>");
    assert.equal(template.source, CHATML);
  });

  it("joins text parts and renders developer messages as system", () => {
    const template = createChatTemplate(CHATML);
    const prompt = template.render([
      { role: "developer", content: "Be brief." },
      {
        role: "user",
        content: [{ type: "text", text: "line 1" }, { type: "text", text: "line 2" }],
      },
    ], { addGenerationPrompt: false });
    assert.equal(prompt, "<|system|>Be brief.<|user|>line 1\nline 2");
  });

  it("passes name, tools and extra variables, standard variables winning", () => {
    const template = createChatTemplate(
      "{{ messages[0].name }}|{{ tools | length }}|{{ custom }}|{{ add_generation_prompt }}",
    );
    const prompt = template.render([{ role: "user", content: "x", name: "ann" }], {
      tools: [{ type: "function", function: { name: "f" } }],
      variables: { custom: "yes", add_generation_prompt: "overridden?", messages: [] },
    });
    assert.equal(prompt, "ann|1|yes|true");
  });

  it("provides strftime_now", () => {
    const prompt = createChatTemplate("{{ strftime_now('%Y') }}").render([
      { role: "user", content: "x" },
    ]);
    assert.equal(prompt, String(new Date().getFullYear()));
  });

  it("turns raise_exception into a TypeError with the template's message", () => {
    const template = createChatTemplate(
      "{% if messages[0].role != 'system' %}{{ raise_exception('System message required') }}{% endif %}",
    );
    assert.throws(() => template.render([{ role: "user", content: "x" }]), {
      name: "TypeError",
      message: "Cannot render chat template: System message required",
    });
    assert.equal(template.render([{ role: "system", content: "x" }]), "");
  });

  it("rejects a malformed template with a TypeError when compiling", () => {
    for (const source of ["{% for m in messages %}unclosed", "{{ 1 + }}", "", "   "]) {
      assert.throws(() => createChatTemplate(source), {
        name: "TypeError",
        message: /^Cannot compile chat template: /,
      }, JSON.stringify(source));
    }
  });

  it("reports runtime template errors as TypeError", () => {
    const template = createChatTemplate("{{ messages | no_such_filter }}");
    assert.throws(() => template.render([{ role: "user", content: "x" }]), {
      name: "TypeError",
      message: /^Cannot render chat template: /,
    });
  });

  it("reports invalid messages and tools as TypeError", () => {
    const template = createChatTemplate(CHATML);
    assert.throws(() => template.render([]), { name: "TypeError", message: /non-empty array/ });
    assert.throws(
      () => template.render([{ role: "user", content: "x" }], { tools: {} as unknown as [] }),
      { name: "TypeError", message: /Invalid tools/ },
    );
  });
});
