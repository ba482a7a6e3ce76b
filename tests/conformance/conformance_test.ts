import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConformanceError, runConformance } from "../../src/entries/testing.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { BROKEN } from "../fixtures/broken_engines.ts";

describe("runConformance", () => {
  it("passes for the sample engine with every check", async () => {
    const report = await runConformance(SampleEngine, { argv: ["--delay-ms", "0"] });
    assert.equal(report.model, "sample-model");
    assert.deepEqual(report.checks, [
      "start",
      "generate",
      "concurrent",
      "cancellation",
      "cleanup",
      "cleanup-without-start",
      "silent-drop",
      "explicit-stop",
    ]);
  });

  it("passes for the sample engine with its default 10 ms delay", async () => {
    const report = await runConformance(SampleEngine);
    assert.equal(report.checks.length, 8);
  });

  for (const [failure, factory] of Object.entries(BROKEN)) {
    it(`names ${failure} for an engine that breaks that rule`, async () => {
      await assert.rejects(runConformance(factory), (error: unknown) => {
        assert.ok(error instanceof ConformanceError, `expected ConformanceError, got ${error}`);
        assert.equal(error.failure, failure, error.message);
        return true;
      });
    });
  }
});
