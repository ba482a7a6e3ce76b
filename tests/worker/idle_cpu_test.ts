/**
 * An idle worker process must sleep: under Bun a bare signal listener keeping the event loop
 * alive made an idle `sluice worker` spin a core at 100% (issue 8, defect 1). Measures the
 * child's CPU time (utime + stime from `/proc/<pid>/stat`) over an idle window, under the
 * runtime running the tests (so both Deno and Bun are covered).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

const IDLE_WINDOW_MS = 2500;
/** At most this share of one core while idle (a spinning process uses ~1.0). */
const MAX_IDLE_SHARE = 0.1;

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU seconds (user + system) used so far by `pid`. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function idleShare(pid: number): Promise<number> {
  const before = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
  return (cpuSeconds(pid) - before) / ((performance.now() - t0) / 1000);
}

describe("idle processes sleep", () => {
  it("an idle `sluice worker` uses almost no CPU, then exits 0 on SIGTERM", async () => {
    await using child = spawnFixture("apps/cli/main.ts", [
      "worker",
      "--engine",
      "sample",
      "--discovery-backend",
      "memory",
      "--request-plane",
      "inprocess",
      "--event-plane",
      "inprocess",
    ], {
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
      DYN_CANARY_WAIT_TIME: "600",
    });
    await child.waitForStderr(/worker serving/);
    // Let start-up work (module compilation, JIT) settle before the window.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const share = await idleShare(child.pid);
    assert.ok(share < MAX_IDLE_SHARE, `idle worker used ${(share * 100).toFixed(1)}% of a core`);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });

  it("an idle `sluice serve` uses almost no CPU, then exits 0 on SIGTERM", async () => {
    await using child = spawnFixture(
      "apps/cli/main.ts",
      ["serve", "--port", "0", "--host", "127.0.0.1"],
      { DYN_LOG: "warn", DYN_CANARY_WAIT_TIME: "600" },
    );
    await child.waitForStdout(/listening on/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const share = await idleShare(child.pid);
    assert.ok(share < MAX_IDLE_SHARE, `idle serve used ${(share * 100).toFixed(1)}% of a core`);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });
});
