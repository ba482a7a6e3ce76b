/**
 * `sluice serve` flags: serve flags are split from engine flags (order kept), malformed
 * values are named, and the help shows the same engine list as `sluice worker --help`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseServeArgs, serveHelp } from "../../apps/cli/serve_command.ts";
import { workerHelp } from "../../apps/cli/worker_command.ts";
import { WORKER_FLAGS_HELP } from "../../apps/cli/engine_table.ts";
import type { SluiceError } from "../../src/errors/sluice_error.ts";

describe("sluice serve flags", () => {
  it("splits serve flags from engine flags, keeping the engine flags' order", () => {
    const parsed = parseServeArgs([
      "--delay-ms",
      "0",
      "--engine=sample",
      "--port",
      "0",
      "--max-tokens=4",
      "--workers=2",
      "--served-model-name",
      "m",
      "--router-mode",
      "least-loaded",
    ]);
    assert.deepEqual(parsed.serve, {
      engine: "sample",
      port: "0",
      workers: "2",
      "router-mode": "least-loaded",
    });
    assert.deepEqual(parsed.engineArgs, [
      "--delay-ms",
      "0",
      "--max-tokens=4",
      "--served-model-name",
      "m",
    ]);
  });

  it("names a serve flag without a value", () => {
    for (const argv of [["--port"], ["--workers", "--delay-ms", "0"], ["--engine"]]) {
      assert.throws(
        () => parseServeArgs(argv),
        (e: SluiceError) => e.kind === "InvalidArgument" && e.param === argv[0],
        argv.join(" "),
      );
    }
  });

  it("shows the engine list and flags of sluice worker --help", () => {
    const help = serveHelp();
    const worker = workerHelp();
    const engines = worker.slice(worker.indexOf("Engines:\n"), worker.indexOf("\n\nEnvironment:"));
    assert.match(engines, /^Engines:\n {2}sample /);
    assert.ok(engines.endsWith(WORKER_FLAGS_HELP), "the section ends with the worker flags");
    assert.ok(help.includes(`\n\n${engines}\n\nExample:`), help);
    assert.match(help, /--delay-ms N/);
  });
});
