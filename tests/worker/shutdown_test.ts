/**
 * Shutdown of real worker processes receiving real signals.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

const FAST = { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0.3", DYN_LOG: "info" };

describe("worker process shutdown", () => {
  it("SIGTERM with 20 in-flight streams: all complete, admission stops, cleanup runs last, exit 0", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      ...FAST,
      FIXTURE_STREAMS: "20",
      FIXTURE_PROBE_MS: "40",
    });
    await child.waitFor((e) => e.event === "all-streaming");
    child.kill("SIGTERM");
    const code = await child.exited;
    assert.equal(code, 0, child.stderr());
    const events = child.events();
    const done = events.filter((e) => e.event === "stream-done");
    assert.equal(done.length, 20, JSON.stringify(events));
    for (const d of done) assert.deepEqual([d.tokens, d.finish], [50, "length"]);
    assert.equal(events.filter((e) => e.event === "stream-error").length, 0);
    const firstRefusal = events.findIndex((e) => e.event === "probe-refused");
    assert.ok(firstRefusal > 0, "a probe was refused after admission stopped");
    assert.equal(events[firstRefusal].code, "worker_draining");
    assert.ok(
      !events.slice(firstRefusal).some((e) => e.event === "probe-accepted"),
      "no request admitted after the stop",
    );
    const cleanup = events.findIndex((e) => e.event === "cleanup");
    const lastDone = events.findLastIndex((e) => e.event === "stream-done");
    assert.ok(cleanup > lastDone, "cleanup after the last stream");
    assert.equal(events.filter((e) => e.event === "cleanup").length, 1);
  });

  it("SIGINT shuts down the same way", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], FAST);
    await child.waitFor((e) => e.event === "serving");
    child.kill("SIGINT");
    assert.equal(await child.exited, 0, child.stderr());
    assert.equal(child.events().filter((e) => e.event === "cleanup").length, 1);
  });

  it("a signal during start waits for start, then shuts down without serving", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      ...FAST,
      FIXTURE_START_MS: "800",
    });
    await child.waitFor((e) => e.event === "start-begin");
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
    const names = child.events().map((e) => e.event);
    assert.deepEqual(names, ["start-begin", "start-end", "drain", "cleanup"]);
  });

  it("a start failure runs cleanup once and exits non-zero", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      ...FAST,
      FIXTURE_START_FAIL: "1",
    });
    assert.equal(await child.exited, 1, child.stderr());
    const names = child.events().map((e) => e.event);
    assert.deepEqual(names, ["start-begin", "start-failed", "cleanup"]);
    assert.match(child.stderr(), /Cannot start engine: weights not found/);
  });

  it("the deadline forces exit 911 (status 143 = 911 mod 256) when cleanup hangs", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
      DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT: "0.5",
      FIXTURE_CLEANUP_HANG: "1",
    });
    await child.waitFor((e) => e.event === "serving");
    child.kill("SIGTERM");
    assert.equal(await child.exited, 911 & 0xff, child.stderr());
    assert.match(child.stderr(), /graceful shutdown missed its deadline/);
  });

  it("a registration failure after start still runs cleanup once and exits 1", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      ...FAST,
      FIXTURE_REGISTER_FAIL: "1",
    });
    assert.equal(await child.exited, 1, child.stderr());
    assert.deepEqual(child.events().map((e) => e.event), ["start-begin", "start-end", "cleanup"]);
    assert.match(child.stderr(), /Cannot serve worker: Cannot register .*store is full/);
  });

  it("a second signal during shutdown exits at once with 130", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [], {
      ...FAST,
      FIXTURE_SLOW_DRAIN_MS: "10000",
    });
    await child.waitFor((e) => e.event === "serving");
    child.kill("SIGTERM");
    await child.waitFor((e) => e.event === "drain");
    child.kill("SIGTERM");
    assert.equal(await child.exited, 130, child.stderr());
    assert.equal(child.events().filter((e) => e.event === "cleanup").length, 0);
  });

  it("an invalid worker flag exits 2 naming the flag", async () => {
    await using child = spawnFixture(
      "tests/fixtures/signal_worker.ts",
      ["--namespace", "Bad Name"],
      FAST,
    );
    assert.equal(await child.exited, 2);
    assert.match(child.stderr(), /Cannot configure worker: namespace: must match \[a-z0-9_-\]\+/);
    assert.doesNotMatch(child.stderr(), /"origin"/);
  });

  it("an invalid health check payload exits 2 after cleaning up", async () => {
    await using child = spawnFixture("tests/fixtures/signal_worker.ts", [
      "--health-check-payload",
      '{"foo":1}',
    ], FAST);
    assert.equal(await child.exited, 2, child.stderr());
    assert.match(child.stderr(), /Cannot use health check payload: Cannot accept request: /);
    assert.equal(child.events().filter((e) => e.event === "cleanup").length, 1);
  });

  it("bad flags exit 2 naming the flag", async () => {
    await using child = spawnFixture(
      "tests/fixtures/signal_worker.ts",
      ["--delay-ms", "soon"],
      FAST,
    );
    assert.equal(await child.exited, 2);
    assert.match(child.stderr(), /--delay-ms/);
  });
});
