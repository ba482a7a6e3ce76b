/**
 * `sluice serve` and signals during a slow engine start, in a real child process: the
 * handlers are installed before the engines start, so a SIGTERM lets the start finish,
 * then shuts down (cleanup runs) without ever listening, exit 0; a second signal exits
 * at once with 130.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Fixture, spawnFixture } from "../fixtures/spawn_fixture.ts";

const FIXTURE = "tests/frontend/_slow_start_serve.ts";
const ARGS = ["--engine", "slow", "--port", "0", "--host", "127.0.0.1"];

async function withReleaseFile(body: (release: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-serve-signal-"));
  try {
    await body(join(dir, "release"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function eventNames(child: Fixture): string[] {
  return child.events().map((e) => e.event);
}

describe("sluice serve: signals during engine start", () => {
  it("lets start finish, cleans up and exits 0 without listening", async () => {
    await withReleaseFile(async (release) => {
      await using child = spawnFixture(FIXTURE, ARGS, {
        FIXTURE_RELEASE_FILE: release,
        DYN_LOG: "info",
      });
      await child.waitFor((e) => e.event === "start-begin");
      child.kill("SIGTERM");
      await child.waitForStderr(/SIGTERM received; shutting down/);
      await writeFile(release, "");
      assert.equal(await child.exited, 0, child.stderr());
      assert.deepEqual(eventNames(child), ["start-begin", "start-end", "cleanup"]);
      assert.doesNotMatch(child.stdout(), /listening on/);
      assert.match(child.stdout(), /stopped before serving \(exit code 0\)/);
    });
  });

  it("exits at once with 130 on a second signal while start is still running", async () => {
    await withReleaseFile(async (release) => {
      await using child = spawnFixture(FIXTURE, ARGS, {
        FIXTURE_RELEASE_FILE: release,
        DYN_LOG: "info",
      });
      await child.waitFor((e) => e.event === "start-begin");
      child.kill("SIGTERM");
      await child.waitForStderr(/SIGTERM received; shutting down/);
      child.kill("SIGINT");
      assert.equal(await child.exited, 130, child.stderr());
      assert.deepEqual(eventNames(child), ["start-begin"], "start never finished");
      assert.match(child.stderr(), /second SIGINT during shutdown; exiting now/);
    });
  });
});
