/**
 * `sluice serve` with an engine whose `start()` blocks until a file exists, for the
 * signal-during-start tests: the one-call `serveEngine` the CLI runs, with the command
 * line's own flags (an `--engine slow` in them is this engine). Prints one JSON event per line on stdout
 * (`start-begin`, `start-end`, `cleanup`); the serve command's own lines are plain text.
 *
 * Environment: FIXTURE_RELEASE_FILE, the file whose existence lets `start()` finish.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { SampleEngine } from "../../engines/sample/mod.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import { serveEngine } from "../../src/serve/serve_engine.ts";
import { takeEngineFlag } from "../../apps/cli/worker_command.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";

const emit = (event: string) => process.stdout.write(JSON.stringify({ event, t: 0 }) + "\n");

class SlowStartEngine extends SampleEngine {
  override async start(id: string): Promise<EngineConfig> {
    emit("start-begin");
    const release = process.env.FIXTURE_RELEASE_FILE ?? "";
    // The test creates the file once the signal was handled; poll for that condition.
    while (!existsSync(release)) await new Promise((resolve) => setTimeout(resolve, 5));
    emit("start-end");
    return super.start(id);
  }
  override cleanup(): Promise<void> {
    emit("cleanup");
    return super.cleanup();
  }
}

const runtime = currentRuntime();
const { rest } = takeEngineFlag(runtime.args());
const slow = {
  fromArgs: (argv: string[]) =>
    SampleEngine.fromArgs(argv).then(({ worker }) => ({ engine: new SlowStartEngine(), worker })),
};
await serveEngine(slow, rest, { runtime, engineName: "slow" });
