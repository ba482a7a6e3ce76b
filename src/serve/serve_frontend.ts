/**
 * `serveFrontend(argv)`: the OpenAI HTTP frontend and router as a process of its own
 * (`sluice frontend`). It connects the distributed planes (default: etcd discovery, NATS
 * request and event planes, as Dynamo), learns workers and models from discovery at
 * runtime, and serves until SIGINT/SIGTERM; then the process exits.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import { createFrontend, type Frontend } from "../frontend/frontend_app.ts";
import { createLogger, type Logger, parseLogLevel } from "../logging/logger.ts";
import { currentRuntime, type Runtime } from "../runtime/runtime.ts";
import { type HttpServer, serveHttp } from "../runtime/http_server.ts";
import { installShutdownSignals } from "../runtime/shutdown_signals.ts";
import {
  builtinConnectors,
  closePlanes,
  connectPlanes,
  type PlaneConnectors,
  type Planes,
} from "../worker/planes.ts";
import {
  PLANE_FLAGS_HELP,
  PLANE_OPTIONS,
  planeAddresses,
  planeEnv,
  resolvePlaneNames,
} from "../worker/plane_flags.ts";
import { bounded, SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "../worker/worker_timings.ts";
import { DEADLINE_CLOSE_MS } from "./embedded_stack.ts";
import { FRONTEND_FLAGS_HELP, FRONTEND_OPTIONS, frontendSettings } from "./frontend_flags.ts";

const OPTIONS = {
  ...FRONTEND_OPTIONS,
  ...PLANE_OPTIONS,
  namespace: { type: "string" },
} as const;

/** Longest wait for closing the planes on the way out. */
const CLOSE_TIMEOUT_MS = 5000;

/** The flags of `sluice frontend`, as `--help` prints them. */
export const FRONTEND_COMMAND_FLAGS_HELP: string = `Frontend flags:
${FRONTEND_FLAGS_HELP}
  --namespace NS                   route only to workers of this namespace (default: all)

${PLANE_FLAGS_HELP}

Environment: DYN_DISCOVERY_BACKEND, DYN_REQUEST_PLANE, DYN_EVENT_PLANE, NATS_SERVER,
ETCD_ENDPOINTS, DYN_FILE_KV, DYN_DISCOVERY_TTL_SECS, SLUICE_API_KEY, DYN_LOG,
DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT (30).`;

/** Options for {@linkcode serveFrontend}. */
export interface ServeFrontendOptions {
  /** Signals, environment, files and exit; the current runtime when absent. */
  runtime?: Runtime;
  /** Prefix of every line printed (default `sluice frontend`). */
  label?: string;
  /** Logger; default: level from `DYN_LOG`, to stderr. */
  logger?: Logger;
  /** Plane backends by name (default `builtinConnectors()`). */
  connectors?: PlaneConnectors;
}

/**
 * Runs the frontend until SIGINT/SIGTERM, then exits the process. It MUST be called at most
 * once per process and never returns. On the first signal the listener stops accepting,
 * streams in flight finish (bounded by `DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`, then they are
 * cut), and the planes close. Exit codes: 0 after a clean shutdown, 911 past the deadline,
 * 130 on a second signal, 2 for bad flags, 1 when a plane cannot be reached (`CannotConnect`
 * naming the address) or the listener cannot start.
 *
 * @example
 * ```ts ignore
 * import { serveFrontend } from "sluice/serve";
 * await serveFrontend(["--port", "8000", "--router-mode", "kv"]);
 * ```
 */
export async function serveFrontend(
  argv: string[],
  options: ServeFrontendOptions = {},
): Promise<never> {
  const runtime = options.runtime ?? currentRuntime();
  const label = options.label ?? "sluice frontend";
  try {
    return await frontendUntilSignal(argv, runtime, label, options);
  } catch (error) {
    const typed = toSluiceError(error);
    console.error(`${label}: ${typed.message}`);
    return runtime.exit(typed.kind === "InvalidArgument" ? 2 : 1);
  }
}

function parseFrontendArgs(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false })
      .values;
  } catch (error) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse arguments: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

async function frontendUntilSignal(
  argv: string[],
  runtime: Runtime,
  label: string,
  options: ServeFrontendOptions,
): Promise<never> {
  const flags = parseFrontendArgs(argv);
  const settings = frontendSettings(flags, runtime.env);
  const names = resolvePlaneNames(flags, runtime.env);
  const env = planeEnv(flags, runtime.env);
  const namespace = flags.namespace;
  if (namespace !== undefined && !/^[a-z0-9_-]+$/.test(namespace)) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --namespace: "${namespace}" must match [a-z0-9_-]+`,
      {
        param: "--namespace",
      },
    );
  }
  const timings = workerTimingsFromEnv(runtime.env);
  const logger = options.logger ??
    createLogger({ level: parseLogLevel(runtime.env("DYN_LOG")) });
  const where = planeAddresses(names, env);
  const signals = installShutdownSignals(runtime, { logger });
  let planes: Planes | undefined;
  let frontend: Frontend | undefined;
  let http: HttpServer | undefined;
  let code = 0;
  try {
    logger.info(`frontend planes: ${where}`, { ...names });
    planes = await connectPlanes(
      names,
      env,
      options.connectors ?? builtinConnectors({ unrefTimer: runtime.unrefTimer }),
    );
    if (!signals.signal.aborted) {
      frontend = await createFrontend({
        ...settings,
        namespace,
        discovery: planes.discovery,
        requestPlane: planes.requestPlane,
        eventPlane: planes.eventPlane,
        logger,
        readTextFile: runtime.readTextFile,
        readFile: runtime.readFile,
        readFileRange: runtime.readFileRange,
      });
    }
    if (frontend !== undefined && !signals.signal.aborted) {
      http = await serveHttp(frontend.fetch, { port: settings.port, hostname: settings.hostname });
      const models = frontend.table.models();
      console.log(
        `${label}: listening on http://${http.hostname}:${http.port} (${where}; router ` +
          `${settings.routerMode}${namespace ? `, namespace ${namespace}` : ""}; ` +
          `${models.length} model(s) known${models.length ? `: ${models.join(", ")}` : ""}` +
          `${settings.apiKey ? "; API key required" : ""})`,
      );
      await signals.requested;
      // Stop accepting; streams in flight finish, or are cut past the deadline.
      const listenerDone = http.shutdown();
      if (!await bounded(listenerDone, timings.shutdownTimeoutMs)) {
        const cut = frontend.cutGenerations();
        logger.error("shutdown deadline passed; cut the generations in flight", { cut });
        await bounded(listenerDone, DEADLINE_CLOSE_MS);
        code = SHUTDOWN_DEADLINE_EXIT;
      }
    }
  } finally {
    const closing = (async () => {
      await http?.shutdown();
      await frontend?.close();
      if (planes) await closePlanes(planes);
    })();
    await bounded(closing, code === 0 ? CLOSE_TIMEOUT_MS : DEADLINE_CLOSE_MS);
    signals.dispose();
  }
  console.log(`${label}: stopped (exit code ${code})`);
  return runtime.exit(code);
}
