/**
 * The engine contract: what every engine implements. Semantics follow Dynamo's
 * unified backend (`dynamo.common.backend`), re-shaped for async iterables and
 * `AbortSignal`. See `docs` in the README for the full lifecycle.
 *
 *     fromArgs(argv) → start(workerId) → generate(request, context)* / abort(context) → drain() → cleanup()
 *
 * @module
 */
import type { EngineConfig } from "./engine_config.ts";
import type { GenerateChunk } from "./generate_chunk.ts";
import type { GenerateRequest, GenerateRequestInput } from "./generate_request.ts";
import type { RequestContext } from "./request_context.ts";
import type { WorkerConfigInput } from "./worker_config.ts";

/**
 * A token-in, token-out inference engine.
 *
 * @example
 * ```ts
 * import type { LLMEngine } from "./engine.ts";
 * const engine: LLMEngine = {
 *   async start() { return { model: "echo" }; },
 *   async *generate(req, ctx) {
 *     for (const t of req.token_ids) {
 *       if (ctx.isStopped()) {
 *         yield { token_ids: [], index: 0, finish_reason: "cancelled" };
 *         return;
 *       }
 *       yield { token_ids: [t], index: 0 };
 *     }
 *     yield { token_ids: [], index: 0, finish_reason: "length" };
 *   },
 *   async cleanup() {},
 * };
 * ```
 */
export interface LLMEngine {
  /**
   * Heavy initialisation (weights, caches, kernels); MUST be called exactly once.
   * After it resolves, `generate()` MUST accept concurrent calls. `workerId` is opaque
   * and stable for the process.
   */
  start(workerId: string): Promise<EngineConfig>;
  /**
   * One call per request, many concurrently. The iterable MUST end with exactly one
   * terminal chunk (with `finish_reason` and `completion_usage`) or a thrown error.
   * Between yields it MUST check `context.isStopped()` and, when stopped, end with a
   * `"cancelled"` terminal. Per-request resources MUST be freed in `finally`, which runs
   * on every exit path including a consumer that stops reading.
   */
  generate(request: GenerateRequest, context: RequestContext): AsyncIterable<GenerateChunk>;
  /**
   * Called once when the client explicitly stops or kills the request (or disconnects),
   * never on a silent stream drop; runs concurrently with the stream. Errors are logged.
   */
  abort?(context: RequestContext): Promise<void>;
  /** Runs once during graceful shutdown, after in-flight requests finished, transports up. */
  drain?(): Promise<void>;
  /**
   * MUST be idempotent and tolerate a half-initialised engine (called after `start`
   * succeeded or failed, never concurrently with `start` or itself). SHOULD NOT throw.
   */
  cleanup(): Promise<void>;
  /**
   * Load figures for metrics, read whenever metrics are scraped: MUST be cheap and MUST NOT
   * throw. Fields the engine does not know are left out.
   */
  stats?(): EngineStats;
  /** The canary request for health checks, if the engine has a better one than the default. */
  healthCheckPayload?(): GenerateRequestInput | undefined;
}

/** Load figures an engine reports through {@linkcode LLMEngine.stats}. */
export interface EngineStats {
  /** Share of the KV cache in use, 0 to 1. */
  kv_usage?: number;
  /** Requests being generated. */
  running_requests?: number;
  /** Requests waiting for the engine (queued, not yet scheduled). */
  waiting_requests?: number;
  /** Prompt tokens served from the prefix cache over all prompt tokens, 0 to 1. */
  kv_cache_hit_rate?: number;
}

/** What `fromArgs` returns: an engine that is built but NOT started, and how to serve it. */
export interface EngineSetup<E extends LLMEngine = LLMEngine> {
  /** The engine, built but not started: the runtime calls `start` once its planes are up. */
  engine: E;
  /** How to serve it; validated by the runtime (`parseWorkerConfig`) before anything connects. */
  worker: WorkerConfigInput;
}

/**
 * Builds an engine from command-line arguments without starting it (cheap, no side effects).
 * Bad flags MUST throw an `InvalidArgument` SluiceError (or `TypeError`) naming the flag.
 */
export interface EngineFactory<E extends LLMEngine = LLMEngine> {
  /**
   * Parses `argv` (the process arguments after the command) and builds the engine. MUST NOT
   * load weights or open connections: `run()` installs its signal handlers and connects the
   * planes afterwards, and a failure here exits with code 2 before anything was started.
   */
  fromArgs(argv: string[]): Promise<EngineSetup<E>>;
}
