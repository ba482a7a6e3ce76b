/**
 * The README's engine example is real: extract it, run the conformance kit on it,
 * and run it as a worker process that shuts down on SIGTERM.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { runConformance } from "../../testing.ts";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

function extractExample(): string {
  const readme = readFileSync("README.md", "utf8");
  const match = readme.match(/<!-- readme-example: my_engine\.ts -->\s*```ts\n([\s\S]*?)```/);
  assert.ok(match, "README has the my_engine.ts example");
  return match[1];
}

describe("README engine example", () => {
  const source = extractExample();
  mkdirSync("tests/.tmp", { recursive: true });
  writeFileSync("tests/.tmp/my_engine.ts", source);

  it("is about 40 lines", () => {
    const lines = source.trim().split("\n").length;
    assert.ok(lines <= 60, `${lines} lines`);
  });

  it("passes the conformance kit", async () => {
    const module = await import("../.tmp/my_engine.ts");
    const report = await runConformance(module.EchoEngine, { argv: ["--delay-ms", "1"] });
    assert.equal(report.model, "echo");
  });

  it("runs as a worker and exits 0 on SIGTERM", async () => {
    await using child = spawnFixture("tests/.tmp/my_engine.ts", ["--delay-ms", "1"], {
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
    });
    await child.waitForStderr(/worker serving/);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });

  it("names only npm scripts that exist", () => {
    const readme = readFileSync("README.md", "utf8");
    const scripts = JSON.parse(readFileSync("package.json", "utf8")).scripts;
    for (const [, name] of readme.matchAll(/npm (start|test)\b/g)) {
      assert.ok(scripts[name], `npm ${name}`);
    }
  });
});
