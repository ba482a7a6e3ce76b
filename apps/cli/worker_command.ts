/**
 * `sluice worker --engine NAME [engine flags]`: runs one engine as a worker process.
 *
 * @module
 */
import { SluiceError } from "../../src/errors/sluice_error.ts";
import type { Runtime } from "../../src/runtime/runtime.ts";
import { run } from "../../src/worker/run.ts";
import { PLANE_FLAGS_HELP } from "../../src/worker/plane_flags.ts";
import {
  DEFAULT_ENGINE,
  engineHelp,
  type ResolvedEngine,
  resolveEngine,
} from "./resolve_engine.ts";

/** Help text of the worker command. */
export function workerHelp(engine?: ResolvedEngine): string {
  return `Usage: sluice worker --engine NAME|MODULE [flags]

Runs an engine as a worker: starts it, registers it in discovery, serves it on the
request plane, and shuts down gracefully on SIGTERM/SIGINT (a second signal exits at once).
By default it joins a distributed deployment (etcd discovery, NATS request and event planes,
as Dynamo) behind \`sluice frontend\`; it exits 1 with CannotConnect naming the address when
they are unreachable. For one process with no servers, use \`sluice serve\`.

${PLANE_FLAGS_HELP}

${engineHelp(engine)}

Environment: DYN_DISCOVERY_BACKEND, DYN_REQUEST_PLANE, DYN_EVENT_PLANE, NATS_SERVER,
ETCD_ENDPOINTS, DYN_DISCOVERY_TTL_SECS, DYN_LOG, DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS (5),
DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT (30), DYN_CANARY_WAIT_TIME (10), DYN_HEALTH_CHECK_PAYLOAD.`;
}

/** Splits `--engine NAME` (or `--engine=NAME`) from the rest of `argv`. */
export function takeEngineFlag(argv: string[]): { engine: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let engine: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--engine") {
      engine = argv[++i];
      if (engine === undefined || engine.startsWith("--")) {
        throw new SluiceError("InvalidArgument", "Cannot parse --engine: a name is required", {
          param: "--engine",
        });
      }
    } else if (arg.startsWith("--engine=")) {
      engine = arg.slice("--engine=".length);
    } else {
      rest.push(arg);
    }
  }
  return { engine, rest };
}

/** Runs the worker command with a built-in or module engine; never returns (the process exits). */
export async function workerCommand(argv: string[], runtime: Runtime): Promise<never> {
  const { engine = DEFAULT_ENGINE, rest } = takeEngineFlag(argv);
  const entry = await resolveEngine(engine);
  return await run(entry.factory, rest, { runtime });
}
