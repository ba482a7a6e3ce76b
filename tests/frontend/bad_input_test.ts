/**
 * Bad input against a real `sluice serve` child process: every case gets the right 4xx
 * with an OpenAI error body, and the server keeps serving afterwards.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ServeProcess, startServe } from "./_helpers.ts";

const LIMIT = 64 * 1024;

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | number | null };
}

describe("bad input against sluice serve", () => {
  let server: ServeProcess;

  before(async () => {
    server = await startServe(["--delay-ms", "0", "--max-body-bytes", String(LIMIT)]);
  });

  after(async () => {
    assert.equal(await server?.stop(), 0, server?.output());
  });

  async function expectError(
    path: string,
    init: RequestInit,
    status: number,
    check: (body: ErrorBody) => void = () => {},
  ): Promise<void> {
    const res = await fetch(server.url + path, init);
    assert.equal(res.status, status, `${path}: ${init.body ? String(init.body).slice(0, 80) : ""}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json() as ErrorBody;
    assert.equal(typeof body.error.message, "string");
    assert.ok(body.error.message.length > 0);
    assert.equal(typeof body.error.type, "string");
    assert.ok("code" in body.error);
    check(body);
  }

  const post = (body: unknown): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const chat = (extra: Record<string, unknown>) =>
    post({ model: "sample-model", messages: [{ role: "user", content: "hi" }], ...extra });

  it("rejects malformed JSON with 400 invalid_json", async () => {
    await expectError(
      "/v1/chat/completions",
      post('{"model": "sample-model", "messages": ['),
      400,
      (b) => {
        assert.equal(b.error.type, "invalid_request_error");
        assert.equal(b.error.code, "invalid_json");
      },
    );
    await expectError("/v1/completions", post(""), 400);
    await expectError("/v1/completions", post("[1, 2]"), 400);
  });

  it("rejects wrong types with 400 naming the field", async () => {
    await expectError("/v1/chat/completions", chat({ temperature: "hot" }), 400, (b) => {
      assert.equal(b.error.param, "temperature");
    });
    await expectError("/v1/chat/completions", chat({ max_tokens: -1 }), 400, (b) => {
      assert.equal(b.error.param, "max_tokens");
    });
    await expectError("/v1/chat/completions", chat({ stream: "yes" }), 400, (b) => {
      assert.equal(b.error.param, "stream");
    });
    await expectError("/v1/chat/completions", post({ model: 42, messages: [] }), 400, (b) => {
      assert.equal(b.error.param, "model");
    });
    await expectError(
      "/v1/chat/completions",
      chat({ messages: [{ role: "wizard", content: "x" }] }),
      400,
      (b) => {
        assert.equal(b.error.param, "messages.0.role");
      },
    );
    await expectError(
      "/v1/completions",
      post({ model: "sample-model", prompt: { text: "x" } }),
      400,
      (b) => {
        assert.equal(b.error.param, "prompt");
      },
    );
  });

  it("refuses what it cannot honour instead of ignoring it", async () => {
    await expectError(
      "/v1/chat/completions",
      chat({ n: 0 }),
      400,
      (b) => assert.equal(b.error.param, "n"),
    );
    await expectError("/v1/chat/completions", chat({ top_logprobs: 2 }), 400, (b) => {
      assert.equal(b.error.param, "top_logprobs");
    });
    await expectError(
      "/v1/completions",
      post({ model: "sample-model", prompt: "x", echo: true }),
      400,
    );
    await expectError(
      "/v1/completions",
      post({ model: "sample-model", prompt: [999999] }),
      400,
      (b) => {
        assert.equal(b.error.param, "prompt");
      },
    );
    await expectError("/v1/chat/completions", chat({ max_tokens: 5000 }), 400, (b) => {
      assert.equal(b.error.code, "context_length_exceeded");
    });
  });

  it("answers an unknown model with 404 model_not_found", async () => {
    await expectError(
      "/v1/chat/completions",
      post({ model: "gpt-7", messages: [{ role: "user", content: "x" }] }),
      404,
      (b) => {
        assert.equal(b.error.code, "model_not_found");
        assert.equal(b.error.param, "model");
      },
    );
    await expectError("/v1/completions", post({ model: "gpt-7", prompt: "x" }), 404);
  });

  it("rejects empty messages and empty prompts with 400", async () => {
    await expectError("/v1/chat/completions", chat({ messages: [] }), 400, (b) => {
      assert.equal(b.error.param, "messages");
    });
    await expectError("/v1/completions", post({ model: "sample-model", prompt: "" }), 400, (b) => {
      assert.equal(b.error.param, "prompt");
    });
  });

  it("rejects an oversized body with 413, with or without content-length", async () => {
    const big = JSON.stringify({
      model: "sample-model",
      messages: [{ role: "user", content: "x".repeat(LIMIT) }],
    });
    await expectError("/v1/chat/completions", post(big), 413, (b) => {
      assert.equal(b.error.code, "request_too_large");
    });
    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) {
          controller.enqueue(bytes.subarray(i, i + 8192));
        }
        controller.close();
      },
    });
    await expectError(
      "/v1/chat/completions",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chunked,
        duplex: "half",
      } as RequestInit,
      413,
    );
  });

  it("answers unknown paths with 404 and wrong methods with 405", async () => {
    await expectError("/v1/embeddings", post({}), 404);
    await expectError("/v1/chat/completions", { method: "GET" }, 405);
  });

  it("keeps serving after all of the above", async () => {
    const res = await fetch(server.url + "/v1/chat/completions", chat({ max_tokens: 3 }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.choices[0].message.content, '"#$');
    const health = await fetch(server.url + "/health");
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "healthy");
    const metrics = await (await fetch(server.url + "/metrics")).text();
    assert.match(
      metrics,
      /sluice_frontend_errors_total\{[^}]*error_type="model_not_found"[^}]*\} 2/,
    );
    assert.match(
      metrics,
      /sluice_frontend_errors_total\{[^}]*error_type="request_too_large"[^}]*\} 2/,
    );
  });
});
