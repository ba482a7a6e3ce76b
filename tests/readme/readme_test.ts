/**
 * The README's engine example is real: extract it as printed, run the conformance kit on
 * it, serve it with `sluice serve --engine ./my_engine.ts` in a real child process (on the
 * runtime running the tests, and as the `bun build --compile` binary) and stream a chat
 * completion from it with the official `openai` client; run the file itself (it serves
 * itself over HTTP), and run it as a worker, alone and behind `sluice frontend`.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import OpenAI from "openai";
import { runConformance } from "../../src/entries/testing.ts";
import { startEtcd } from "../support/etcd_server.ts";
import { startNatsServer } from "../support/nats_server.ts";
import {
  type Fixture,
  runtimeCommand,
  spawnCommand,
  spawnFixture,
} from "../fixtures/spawn_fixture.ts";

const DIR = resolve("tests/.tmp/readme");
const CLI = resolve("apps/cli/main.ts");
const QUIET = { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0" };

function extractExample(): string {
  const readme = readFileSync("README.md", "utf8");
  const match = readme.match(/<!-- readme-example: my_engine\.ts -->\s*```ts\n([\s\S]*?)```/);
  assert.ok(match, "README has the my_engine.ts example");
  return match[1];
}

/** Waits for the "listening on" line and returns the base URL. */
async function baseUrl(child: Fixture): Promise<string> {
  const [, url] = await child.waitForStdout(/listening on \S+ \((http:\/\/[^;]+);/, 60_000);
  return url;
}

/** Streams one chat completion with the official client; returns the text and usage. */
async function streamChat(url: string) {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: "echo",
    messages: [{ role: "user", content: "Hello there" }],
    max_tokens: 6,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish: string | null = null;
  let completionTokens: number | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
  }
  return { text, finish, completionTokens };
}

/** Serves the example through `command`, streams a chat completion, stops with SIGTERM. */
async function serveAndStream(command: [string, string[]]): Promise<void> {
  await using child = spawnCommand(command[0], command[1], QUIET, { cwd: DIR });
  const { text, finish, completionTokens } = await streamChat(await baseUrl(child));
  // The echo engine repeats the rendered prompt's tokens: the chat template's first text.
  assert.ok(text.length > 0, "streamed text");
  assert.equal(finish, "length");
  assert.equal(completionTokens, 6);
  child.kill("SIGTERM");
  assert.equal(await child.exited, 0, child.stderr());
  assert.match(child.stdout(), /engine \.\/my_engine\.ts, 1 worker\(s\), model echo/);
}

describe("README engine example", () => {
  const source = extractExample();
  mkdirSync(DIR, { recursive: true });
  writeFileSync(`${DIR}/my_engine.ts`, source);

  it("is about 40 lines", () => {
    const lines = source.trim().split("\n").length;
    assert.ok(lines <= 60, `${lines} lines`);
  });

  it("passes the conformance kit", async () => {
    const module = await import("../.tmp/readme/my_engine.ts");
    const report = await runConformance(module.EchoEngine, { argv: ["--delay-ms", "1"] });
    assert.equal(report.model, "echo");
  });

  it("is served by `sluice serve --engine ./my_engine.ts`; the openai client streams from it", async () => {
    await serveAndStream(
      runtimeCommand(CLI, ["serve", "--engine", "./my_engine.ts", "--port", "0"]),
    );
  });

  it("shows its declared flags in `sluice serve --engine ./my_engine.ts --help`", async () => {
    await using child = spawnFixture(CLI, ["serve", "--engine", "./my_engine.ts", "--help"], {}, {
      cwd: DIR,
    });
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(child.stdout(), /Engine \.\/my_engine\.ts flags:\n {2}--delay-ms N/);
  });

  it("serves itself over HTTP when run directly", async () => {
    await using child = spawnFixture(
      `${DIR}/my_engine.ts`,
      ["--port", "0", "--delay-ms", "0"],
      QUIET,
    );
    const url = await baseUrl(child);
    const models = await (await fetch(`${url}/v1/models`)).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id), ["echo"]);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });

  it("runs as a worker (`sluice worker --engine`), says which planes it uses, exits 0 on SIGTERM", async () => {
    await using child = spawnFixture(
      CLI,
      [
        "worker",
        "--engine",
        "./my_engine.ts",
        "--discovery-backend",
        "memory",
        "--request-plane",
        "inprocess",
        "--event-plane",
        "inprocess",
      ],
      QUIET,
      {
        cwd: DIR,
      },
    );
    await child.waitForStderr(/worker serving/);
    assert.match(
      child.stderr(),
      /worker planes: discovery memory, request plane inprocess, event plane inprocess \(process-local/,
    );
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });

  it("runs as a worker behind `sluice frontend` over real etcd and nats-server, as the README shows", async () => {
    const readme = readFileSync("README.md", "utf8");
    assert.match(readme, /sluice frontend --port 8000 &/);
    assert.match(readme, /sluice worker --engine \.\/my_engine\.ts &/);
    await using nats = await startNatsServer();
    const etcd = await startEtcd();
    try {
      const env = { ...QUIET, NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
      await using frontend = spawnFixture(CLI, ["frontend", "--port", "0"], env, { cwd: DIR });
      const [, url] = await frontend.waitForStdout(
        /sluice frontend: listening on http:\/\/\S+:(\d+) /,
        60_000,
      );
      const base = `http://127.0.0.1:${url}`;
      await using worker = spawnFixture(CLI, ["worker", "--engine", "./my_engine.ts"], env, {
        cwd: DIR,
      });
      await worker.waitForStderr(/worker serving/, 60_000);
      assert.match(worker.stderr(), /worker planes: discovery etcd, request plane nats/);
      const deadline = performance.now() + 15_000;
      for (;;) {
        const models = await (await fetch(`${base}/v1/models`)).json();
        if (models.data.some((m: { id: string }) => m.id === "echo")) break;
        assert.ok(performance.now() < deadline, "the echo model never appeared");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const { text, finish, completionTokens } = await streamChat(base);
      assert.ok(text.length > 0, "streamed text");
      assert.equal(finish, "length");
      assert.equal(completionTokens, 6);
      worker.kill("SIGTERM");
      assert.equal(await worker.exited, 0, worker.stderr());
      frontend.kill("SIGTERM");
      assert.equal(await frontend.exited, 0, frontend.stderr());
    } finally {
      await etcd.close();
    }
  });

  it("names only npm scripts that exist", () => {
    const readme = readFileSync("README.md", "utf8");
    const scripts = JSON.parse(readFileSync("package.json", "utf8")).scripts;
    for (const [, name] of readme.matchAll(/npm (start|test)\b/g)) {
      assert.ok(scripts[name], `npm ${name}`);
    }
  });
});

describe("README engine example under the compiled binary", () => {
  const binary = resolve("tests/.tmp/readme/sluice");
  before(() => {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(`${DIR}/my_engine.ts`, extractExample());
    execFileSync("node_modules/.bin/bun", ["build", "--compile", CLI, "--outfile", binary], {
      stdio: "pipe",
    });
  });

  it("`sluice serve --engine ./my_engine.ts` with the bun build --compile binary streams to the openai client", async () => {
    await serveAndStream([binary, ["serve", "--engine", "./my_engine.ts", "--port", "0"]]);
  });
});
