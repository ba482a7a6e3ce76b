/**
 * `sluice frontend`: the OpenAI-compatible HTTP frontend and router as its own process,
 * discovering workers (`sluice worker`) and their models at runtime over the distributed
 * planes (default: etcd discovery, NATS request and event planes).
 *
 *     sluice frontend [--port 8000] [--router-mode kv] [--nats-server nats://…]
 *
 * @module
 */
import type { Runtime } from "../../src/runtime/runtime.ts";
import { DEFAULT_PORT } from "../../src/serve/embedded_server.ts";
import { FRONTEND_COMMAND_FLAGS_HELP, serveFrontend } from "../../src/serve/serve_frontend.ts";

/** Help text of the frontend command. */
export function frontendHelp(): string {
  return `Usage: sluice frontend [flags]

Serves the OpenAI-compatible HTTP API (POST /v1/chat/completions, POST /v1/completions,
GET /v1/models, /health, /live, /metrics) and routes each request to a worker found in
discovery (\`sluice worker\` processes, on this machine or others). Models appear in and
disappear from /v1/models as workers join and leave. Prints one line
"sluice frontend: listening on http://HOST:PORT (...)" when ready. SIGINT/SIGTERM shut down
gracefully (streams in flight finish, bounded by DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT); a
second signal exits at once (code 130).
Exit codes: 0 after a clean shutdown, 2 for bad flags, 1 when a plane is unreachable
(CannotConnect naming the address), 911 past the shutdown deadline.

${FRONTEND_COMMAND_FLAGS_HELP}

Example (nats-server -js and etcd running on this machine):
  sluice frontend --port ${DEFAULT_PORT} &
  sluice worker --engine sample &
  curl localhost:${DEFAULT_PORT}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"sample-model","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}'`;
}

/** Runs `sluice frontend` until SIGINT/SIGTERM, then exits the process. */
export function frontendCommand(argv: string[], runtime: Runtime): Promise<never> {
  return serveFrontend(argv, { runtime });
}
