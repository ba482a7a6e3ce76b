/**
 * The edge / serverless form of the embedded default: a `{ fetch }` object that
 * serves the OpenAI API with an in-process engine and no listener of its own, for
 * `deno serve`, `bun` (a default export with `fetch` is served), Deno Deploy or any
 * host that takes a Web-standard handler. The stack (workers + frontend) starts on the
 * first request, so importing the module does no work and reads no configuration.
 *
 * @module
 */
import type { EngineFactory } from "../engine/engine.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import { createEmbeddedStack, type EmbeddedStack } from "../serve/embedded_stack.ts";
import type { EmbeddedStackOptions } from "../serve/embedded_stack.ts";

/** Options for {@linkcode createEdgeHandler}. */
export interface EdgeHandlerOptions
  extends Omit<EmbeddedStackOptions, "engine" | "logger" | "healthCanary"> {
  /** The engine factory. */
  engine: EngineFactory;
  /** Logger; warnings only by default. */
  logger?: Logger;
}

/** A `{ fetch }` handler plus a way to stop the stack it started. */
export interface EdgeHandler {
  /** Serves one request, starting the stack on first use. */
  fetch(request: Request): Promise<Response>;
  /** Shuts the stack down if it was started (tests; serverless hosts never call it). */
  shutdown(): Promise<void>;
}

/**
 * Creates the handler. A failed start is not cached: the next request tries again.
 *
 * @example
 * ```ts ignore
 * import { SampleEngine } from "../../engines/sample/mod.ts";
 * export default createEdgeHandler({ engine: SampleEngine, engineArgs: ["--delay-ms", "0"] });
 * ```
 */
export function createEdgeHandler(options: EdgeHandlerOptions): EdgeHandler {
  let stack: Promise<EmbeddedStack> | undefined;
  const start = () => {
    stack ??= createEmbeddedStack({
      ...options,
      logger: options.logger ?? createLogger({ level: "warn" }),
      // Serverless isolates freeze between requests: no idle-time timers.
      healthCanary: false,
    }).catch((error) => {
      stack = undefined;
      throw error;
    });
    return stack;
  };
  return {
    async fetch(request) {
      const { frontend } = await start();
      return await frontend.fetch(request);
    },
    async shutdown() {
      const started = stack;
      stack = undefined;
      if (started !== undefined) await (await started).shutdown();
    },
  };
}
