/**
 * Flags of two owners on one command line: `takeFlags` takes a command's own `--name value`
 * flags and leaves the rest in order for the engine; `takePlaneFlags` does so for the worker's
 * plane flags.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { takeFlags } from "../../src/engine/take_flags.ts";
import { takePlaneFlags } from "../../src/worker/plane_flags.ts";
import type { SluiceError } from "../../src/errors/sluice_error.ts";

describe("takeFlags", () => {
  const options = { port: { type: "string" }, host: { type: "string" } } as const;

  it("takes spaced and inline values and keeps the rest in order", () => {
    const { values, rest } = takeFlags(
      ["--delay-ms", "0", "--port", "9", "-x", "--host=h", "pos", "--other=1"],
      options,
    );
    assert.deepEqual(values, { port: "9", host: "h" });
    assert.deepEqual(rest, ["--delay-ms", "0", "-x", "pos", "--other=1"]);
  });

  it("keeps the last of a repeated flag", () => {
    assert.equal(takeFlags(["--port", "1", "--port", "2"], options).values.port, "2");
  });

  it("refuses a flag without a value, naming it", () => {
    for (const argv of [["--port"], ["--port", "--host", "h"]]) {
      assert.throws(
        () => takeFlags(argv, options),
        (e: SluiceError) => e.kind === "InvalidArgument" && e.param === "--port",
      );
    }
  });
});

describe("takePlaneFlags", () => {
  it("takes the plane flags and leaves the engine's", () => {
    const { planes, rest } = takePlaneFlags([
      "--discovery-backend",
      "etcd",
      "--delay-ms",
      "5",
      "--nats-server=nats://127.0.0.1:4222",
    ]);
    assert.equal(planes["discovery-backend"], "etcd");
    assert.equal(planes["nats-server"], "nats://127.0.0.1:4222");
    assert.deepEqual(rest, ["--delay-ms", "5"]);
  });
});
