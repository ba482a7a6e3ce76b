/**
 * `run(EngineClass, argv)` as engine authors call it: a worker process with the defaults
 * (the options of the full form are for hosts: `runWorker` in `sluice/serve`).
 *
 * @module
 */
import type { EngineFactory } from "../engine/engine.ts";
import { run as runWorker } from "./run.ts";

/**
 * Runs an engine as a worker process until a signal ends it, then exits the process. The
 * planes are the ones `--discovery-backend`, `--request-plane`, `--event-plane` (and
 * `--nats-server`) or their environment variables name; by default Dynamo's (etcd discovery,
 * NATS request and event planes), so that `sluice frontend` in another process reaches it.
 * Unreachable planes exit 1 with `CannotConnect` naming the address. `serveEngine` in
 * `sluice/serve` serves an engine over HTTP in one process instead, with no servers.
 * It MUST be called at most once per process and never returns. Exit codes: 0 after a
 * clean shutdown, 911 when the shutdown deadline passed, 2 for bad flags, 1 when a
 * dependency or `start()` failed, 130 on a second signal.
 *
 * @example
 * ```ts ignore
 * import { run } from "sluice";
 * import { EchoEngine } from "./my_engine.ts";
 * await run(EchoEngine, ["--delay-ms", "5"]);
 * ```
 */
export function run(factory: EngineFactory, argv: string[]): Promise<never> {
  return runWorker(factory, argv);
}
