/**
 * `createEmbeddedServer`: the embedded stack (workers + frontend in one process)
 * behind a real HTTP listener. This is what `sluice serve` runs.
 *
 * @module
 */
import { serveHttp } from "../runtime/http_server.ts";
import type { HttpServer } from "../runtime/http_server.ts";
import { bounded } from "../worker/worker_timings.ts";
import {
  createEmbeddedStack,
  DEADLINE_CLOSE_MS,
  type EmbeddedStack,
  type EmbeddedStackOptions,
} from "./embedded_stack.ts";

/** The default HTTP port, as Dynamo's frontend. */
export const DEFAULT_PORT = 8000;

/** Options for {@linkcode createEmbeddedServer}. */
export interface EmbeddedServerOptions extends EmbeddedStackOptions {
  /** Port (default {@linkcode DEFAULT_PORT}; 0 picks a free one). */
  port?: number;
  /** Interface to bind (default `0.0.0.0`). */
  hostname?: string;
  /** Force an HTTP adapter (`deno`, `bun`, `node`); the runtime's own by default. */
  httpAdapter?: "deno" | "bun" | "node";
}

/** A listening embedded server. */
export interface EmbeddedServer extends EmbeddedStack {
  readonly http: HttpServer;
  /** `http://{host}:{port}` (host `127.0.0.1` when bound to all interfaces). */
  readonly url: string;
}

/**
 * Starts workers, frontend and listener. When `options.signal` aborts before the listener
 * starts, nothing listens: the stack shuts down and the call rejects with `signal.reason`.
 *
 * @example
 * ```ts ignore
 * import { SampleEngine } from "../../engines/sample/mod.ts";
 * const server = await createEmbeddedServer({ engine: SampleEngine, port: 0 });
 * console.log(await (await fetch(`${server.url}/v1/models`)).json());
 * await server.shutdown();
 * ```
 */
export async function createEmbeddedServer(
  options: EmbeddedServerOptions,
): Promise<EmbeddedServer> {
  const stack = await createEmbeddedStack(options);
  let http: HttpServer;
  try {
    options.signal?.throwIfAborted();
    http = await serveHttp(stack.frontend.fetch, {
      port: options.port ?? DEFAULT_PORT,
      hostname: options.hostname,
      adapter: options.httpAdapter,
    });
  } catch (error) {
    await stack.shutdown();
    throw error;
  }
  const host = http.hostname === "0.0.0.0" || http.hostname === "::" ? "127.0.0.1" : http.hostname;
  let stopping: Promise<number> | undefined;
  return {
    ...stack,
    http,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${http.port}`,
    shutdown: () => (stopping ??= (async () => {
      // Workers unregister at once (new requests get 404/503); streams in flight finish,
      // or are cut when the deadline passes (then the listener gets a bounded wait).
      const listenerDone = http.shutdown();
      const code = await stack.shutdown();
      if (code === 0) await listenerDone;
      else await bounded(listenerDone, DEADLINE_CLOSE_MS);
      return code;
    })()),
  };
}
