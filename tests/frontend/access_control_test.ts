/**
 * Access control of `sluice serve` (issue 8, defect 5), against real child processes:
 * `--api-key` / `SLUICE_API_KEY` (Bearer; 401 with an OpenAI error body; `/health`, `/live`,
 * `/metrics` open unless `--public-paths` says otherwise), `--allowed-origins` for CORS,
 * `--host` printed, and request bodies accepted only as JSON (a `text/plain` POST never
 * reaches the engine).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";
import { type ServeProcess, startServe } from "./_helpers.ts";

const KEY = "sk-sluice-test-key";
const CHAT = JSON.stringify({
  model: "sample-model",
  messages: [{ role: "user", content: "Hi" }],
  max_tokens: 2,
});

async function errorOf(response: Response) {
  const body = await response.json() as { error: Record<string, unknown> };
  return body.error;
}

/** The worker's accepted-request count from /metrics (0 when the series is absent). */
async function workerRequests(url: string, headers: Record<string, string> = {}) {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("sluice_worker_requests_total{")) total += Number(line.split(" ").at(-1));
  }
  return total;
}

describe("sluice serve --api-key", () => {
  let server: ServeProcess;
  before(async () => {
    server = await startServe([
      "--engine",
      "sample",
      "--delay-ms",
      "0",
      "--api-key",
      KEY,
      "--allowed-origins",
      "http://app.example",
    ]);
  });
  after(async () => {
    assert.equal(await server?.stop(), 0, server?.output());
  });

  it("prints the bind address and that a key is required", () => {
    assert.match(server.output(), /listening on http:\/\/127\.0\.0\.1:\d+ .*API key required/);
  });

  it("answers 401 with an OpenAI error body without a key or with a wrong one", async () => {
    const cases: Record<string, string>[] = [{}, { authorization: "Bearer nope" }, {
      authorization: KEY,
    }];
    for (const headers of cases) {
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: CHAT,
      });
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.equal(response.headers.get("www-authenticate"), "Bearer");
      const error = await errorOf(response);
      assert.equal(error.code, "invalid_api_key");
      assert.equal(typeof error.message, "string");
      assert.ok("type" in error && "param" in error);
    }
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
    assert.equal(await workerRequests(server.url), 0, "no request reached the engine");
  });

  it("keeps /health, /live and /metrics open", async () => {
    for (const path of ["/health", "/live", "/metrics"]) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      await response.body?.cancel();
    }
  });

  it("serves the official openai client with the key, and refuses it without", async () => {
    const good = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const res = await good.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 3,
    });
    assert.equal(res.usage?.completion_tokens, 3);
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(
      bad.models.list(),
      (e: unknown) => e instanceof OpenAI.AuthenticationError,
    );
  });

  it("refuses a text/plain POST with 415 before it reaches the engine", async () => {
    const before = await workerRequests(server.url);
    for (const type of ["text/plain", "application/x-www-form-urlencoded", undefined]) {
      const headers: Record<string, string> = { authorization: `Bearer ${KEY}` };
      if (type !== undefined) headers["content-type"] = type;
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers,
        body: new TextEncoder().encode(CHAT),
      });
      assert.equal(response.status, 415, String(type));
      const error = await errorOf(response);
      assert.equal(error.code, "unsupported_media_type");
      assert.match(String(error.message), /must be JSON/);
    }
    assert.equal(await workerRequests(server.url), before);
    const ok = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${KEY}`,
        "content-type": "application/json; charset=utf-8",
      },
      body: CHAT,
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
    const allowed = await preflight("http://app.example");
    assert.ok(allowed.status === 204 || allowed.status === 200, String(allowed.status));
    assert.equal(allowed.headers.get("access-control-allow-origin"), "http://app.example");
    assert.match(allowed.headers.get("access-control-allow-headers") ?? "", /authorization/i);
    await allowed.body?.cancel();
    const other = await preflight("http://evil.example");
    assert.notEqual(other.headers.get("access-control-allow-origin"), "http://evil.example");
    await other.body?.cancel();
  });
});

describe("sluice serve access options", () => {
  it("reads SLUICE_API_KEY, and --public-paths replaces the open paths", async () => {
    await using child = spawnFixture(
      "src/cli/main.ts",
      ["serve", "--port", "0", "--host", "127.0.0.1", "--public-paths", "/live"],
      { SLUICE_API_KEY: KEY, DYN_LOG: "warn" },
    );
    const match = await child.waitForStdout(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
    const url = `http://127.0.0.1:${match[1]}`;
    assert.equal((await fetch(`${url}/live`)).status, 200);
    for (const path of ["/health", "/metrics", "/v1/models"]) {
      const response = await fetch(`${url}${path}`);
      assert.equal(response.status, 401, path);
      await response.body?.cancel();
    }
    const authorized = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(authorized.status, 200);
    await authorized.body?.cancel();
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });

  it("without --allowed-origins, sends no CORS headers; without a key, needs none", async () => {
    const server = await startServe(["--engine", "sample", "--delay-ms", "0"]);
    try {
      const response = await fetch(`${server.url}/v1/models`, {
        headers: { origin: "http://evil.example" },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("access-control-allow-origin"), null);
      await response.body?.cancel();
      const plain = await fetch(`${server.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ model: "sample-model", prompt: "hi", max_tokens: 2 }),
      });
      assert.equal(plain.status, 415);
      await plain.body?.cancel();
    } finally {
      assert.equal(await server.stop(), 0, server.output());
    }
  });
});
