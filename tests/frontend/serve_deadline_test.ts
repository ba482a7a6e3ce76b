/**
 * `sluice serve` enforces its shutdown deadline (issue 8, defect 2): past
 * `DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS` + `DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT` the
 * streams still in flight are cut (the client gets an error frame, then `[DONE]`) and the
 * process exits promptly with 911 (the OS reports 911 mod 256 = 143). Streams that end
 * within the deadline finish normally and the exit code is 0.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

const SERVE = ["serve", "--port", "0", "--host", "127.0.0.1", "--delay-ms", "100"];

async function startServe(env: Record<string, string>) {
  const child = spawnFixture("src/cli/main.ts", SERVE, { DYN_LOG: "info", ...env });
  const match = await child.waitForStdout(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

/** Starts a streaming completion of `maxTokens` tokens; resolves once the first token came. */
async function startStream(url: string, maxTokens: number) {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "sample-model",
      prompt: "hi",
      max_tokens: maxTokens,
      stream: true,
    }),
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("data: ")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const rest: Promise<string> = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { rest };
}

function frames(text: string): unknown[] {
  return text.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => {
    const data = f.slice(6);
    return data === "[DONE]" ? data : JSON.parse(data);
  });
}

describe("sluice serve: shutdown deadline", () => {
  it("past DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT cuts a long stream (error frame, [DONE]) and exits 911 promptly", async () => {
    const { child, url } = await startServe({
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0.2",
      DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT: "1",
    });
    await using _child = child;
    // 400 tokens at 100 ms each: a 40 s stream.
    const body = (await startStream(url, 400)).rest;
    const text0 = performance.now();
    child.kill("SIGTERM");
    const code = await child.exited;
    const elapsed = performance.now() - text0;
    assert.equal(code, 911 & 0xff, child.stderr());
    assert.ok(elapsed < 5000, `exited ${elapsed.toFixed(0)} ms after SIGTERM (deadline 1.2 s)`);
    assert.match(child.stderr(), /graceful shutdown missed its deadline/);
    assert.match(child.stdout(), /stopped \(exit code 911\)/);
    const all = frames(await body);
    assert.equal(all.at(-1), "[DONE]");
    const error = (all.at(-2) as { error?: { message: string; code: unknown } }).error;
    assert.ok(
      error !== undefined,
      `an error frame before [DONE]: ${JSON.stringify(all.slice(-3))}`,
    );
    assert.match(error.message, /shutdown deadline/);
    const tokens = all.filter((f) => typeof f === "object" && f !== null && "choices" in f);
    assert.ok(tokens.length > 5 && tokens.length < 100, `${tokens.length} token frames`);
  });

  it("a stream that ends within the deadline finishes normally and the exit code is 0", async () => {
    const { child, url } = await startServe({
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
      DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT: "10",
    });
    await using _child = child;
    const body = (await startStream(url, 10)).rest;
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
    const all = frames(await body);
    assert.equal(all.at(-1), "[DONE]");
    assert.ok(!all.some((f) => typeof f === "object" && f !== null && "error" in f));
    assert.equal(
      all.filter((f) => typeof f === "object" && f !== null && "choices" in f).length,
      10,
    );
  });

  it("rejects a DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT that is not a number of seconds (exit 2)", async () => {
    await using child = spawnFixture("src/cli/main.ts", SERVE, {
      DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT: "soon",
    });
    assert.equal(await child.exited, 2, child.stderr());
    assert.match(child.stderr(), /DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT/);
  });
});
