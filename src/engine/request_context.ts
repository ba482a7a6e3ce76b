/**
 * `RequestContext`: what an engine knows about one request besides its
 * payload, and the controller the runtime uses to stop or kill it.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";

/** How a request was cancelled: `stop` lets the engine finish gracefully, `kill` does not. */
export type CancelMode = "stop" | "kill";

/** Per-request context handed to `generate()` and `abort()`. */
export interface RequestContext {
  /** Request id, unique per request. */
  readonly id: string;
  /** Aborted on stop or kill; `signal.reason` is a `Cancelled` SluiceError whose `code` is the mode. */
  readonly signal: AbortSignal;
  /** True once the request was stopped or killed. Engines check it between yields. */
  isStopped(): boolean;
  /** True once the request was killed (hard cancel: stop without draining). */
  isKilled(): boolean;
  /** Free-form metadata from the caller (headers, annotations). */
  readonly metadata: Readonly<Record<string, string>>;
  /** W3C trace context of the caller, when one was propagated. */
  readonly traceparent?: string;
}

/** Options for {@linkcode createRequestContext}. */
export interface RequestContextOptions {
  /** Request id; a random UUID when absent. */
  id?: string;
  /** Caller metadata; copied and frozen, so later changes to this object are not seen. */
  metadata?: Record<string, string>;
  /** W3C `traceparent` of the caller. */
  traceparent?: string;
}

/** A context plus the runtime-side controls that cancel it. */
export interface RequestContextController {
  /** The context to hand to the engine. */
  readonly context: RequestContext;
  /** Stops (or kills) the request; returns true the first time only. */
  cancel(mode: CancelMode): boolean;
}

/**
 * Creates a context and its controller. `cancel("kill")` after a stop upgrades it to a kill
 * (the signal has already fired; `isKilled()` turns true).
 *
 * @example
 * ```ts
 * import { createRequestContext } from "./request_context.ts";
 * const { context, cancel } = createRequestContext({ id: "r1" });
 * cancel("stop");
 * console.assert(context.isStopped() && !context.isKilled());
 * ```
 */
export function createRequestContext(
  options: RequestContextOptions = {},
): RequestContextController {
  const controller = new AbortController();
  let mode: CancelMode | undefined;
  const context: RequestContext = {
    id: options.id ?? crypto.randomUUID(),
    signal: controller.signal,
    isStopped: () => mode !== undefined,
    isKilled: () => mode === "kill",
    metadata: Object.freeze({ ...options.metadata }),
    traceparent: options.traceparent,
  };
  return {
    context,
    cancel(next: CancelMode): boolean {
      if (mode === "kill" || mode === next) return false;
      const first = mode === undefined;
      mode = next;
      if (first) {
        controller.abort(
          new SluiceError(
            "Cancelled",
            `Request ${context.id} was ${next === "kill" ? "killed" : "stopped"}`,
            {
              code: next,
            },
          ),
        );
      }
      return first;
    },
  };
}
