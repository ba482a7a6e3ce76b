/**
 * Shared test helpers for the frontend suite: a `sluice serve` child process on a free
 * port (over `spawnFixture`), SSE reading, and small engines that script or observe a
 * stream. Deadline-bound waiting is `waitUntil` from `tests/fixtures/embedded_worker.ts`.
 */
import type { EngineFactory, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { makeUsage } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { type Fixture, spawnFixture } from "../fixtures/spawn_fixture.ts";

/** A `sluice serve` child process. */
export interface ServeProcess {
  readonly url: string;
  readonly process: Fixture;
  /** Everything the child wrote so far (stdout, then stderr). */
  output(): string;
  /**
   * SIGTERM, then SIGKILL if it has not exited within 10 s; resolves with the process's
   * exit code (128 when it was killed).
   */
  stop(): Promise<number>;
}

/** Starts `sluice serve --port 0 --host 127.0.0.1 ...args` under the test's own runtime. */
export async function startServe(args: string[]): Promise<ServeProcess> {
  const child = spawnFixture(
    "apps/cli/main.ts",
    ["serve", "--port", "0", "--host", "127.0.0.1", ...args],
    { DYN_LOG: "warn" },
  );
  const output = () => child.stdout() + child.stderr();
  let exited = false;
  child.exited.then(() => (exited = true));
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child[Symbol.asyncDispose](), 10_000);
      try {
        await child.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return await child.exited;
  };
  try {
    const match = await child.waitForStdout(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
    return { url: `http://127.0.0.1:${match[1]}`, process: child, output, stop };
  } catch (error) {
    await child[Symbol.asyncDispose]();
    throw error;
  }
}

/** Reads an SSE response into its `data:` payloads (JSON-parsed, `[DONE]` kept as a string). */
export async function readSse(response: Response): Promise<unknown[]> {
  const text = await response.text();
  return text.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => {
    const data = f.slice(6);
    return data === "[DONE]" ? data : JSON.parse(data);
  });
}

/** What an {@linkcode ObservedEngine} saw of one request. */
export interface Observation {
  request: GenerateRequest;
  /** `performance.now()` when the request's signal fired. */
  signalAt?: number;
  /** `performance.now()` when `abort(context)` was called. */
  abortAt?: number;
  /** Set when the generator's `finally` ran. */
  finalizedAt?: number;
  yielded: number;
}

/** Options of the scripted/observed test engine. */
export interface TestEngineOptions {
  /** Per request: the chunks to send (default: tokens 1..max_tokens, then "length"). */
  script?: (request: GenerateRequest) => GenerateChunk[];
  /** Delay before each chunk in ms (0 = none). */
  delayMs?: number;
  /** Throw this after `failAfter` chunks. */
  failAfter?: number;
  /** Resolves each chunk only when this returns (e.g. a gate for busy tests). */
  gate?: () => Promise<void>;
  modelName?: string;
}

/**
 * An engine that plays a script and records what it observed (signal, abort, finally),
 * so tests can assert cancellation end to end.
 */
export class ObservedEngine implements LLMEngine {
  readonly observations: Observation[] = [];
  #options: TestEngineOptions;

  constructor(options: TestEngineOptions = {}) {
    this.#options = options;
  }

  start(): Promise<EngineConfig> {
    const model = this.#options.modelName ?? "test-model";
    return Promise.resolve({ model, served_model_name: model, context_length: 4096 });
  }

  async *generate(
    request: GenerateRequest,
    context: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    const seen: Observation = { request, yielded: 0 };
    this.observations.push(seen);
    (context as RequestContext & { __seen?: Observation }).__seen = seen;
    const onAbort = () => (seen.signalAt ??= performance.now());
    context.signal.addEventListener("abort", onAbort, { once: true });
    const max = request.stop_conditions.max_tokens ?? 16;
    const chunks = this.#options.script?.(request) ??
      Array.from({ length: max }, (_, i): GenerateChunk => ({
        token_ids: [(i + 1) % 32000],
        index: 0,
        ...(i === max - 1
          ? {
            finish_reason: "length" as const,
            completion_usage: makeUsage(request.token_ids.length, max),
          }
          : {}),
      }));
    try {
      let sent = 0;
      for (const chunk of chunks) {
        if (this.#options.gate) await this.#options.gate();
        if (this.#options.delayMs) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, this.#options.delayMs);
            function done() {
              clearTimeout(timer);
              context.signal.removeEventListener("abort", done);
              resolve();
            }
            context.signal.addEventListener("abort", done, { once: true });
          });
        }
        if (context.isStopped()) {
          yield {
            token_ids: [],
            index: 0,
            finish_reason: "cancelled",
            completion_usage: makeUsage(request.token_ids.length, sent),
          };
          return;
        }
        if (this.#options.failAfter !== undefined && seen.yielded >= this.#options.failAfter) {
          throw new Error("engine exploded mid-stream");
        }
        seen.yielded++;
        sent += chunk.token_ids.length;
        yield chunk;
      }
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      seen.finalizedAt = performance.now();
    }
  }

  abort(context: RequestContext): Promise<void> {
    const seen = (context as RequestContext & { __seen?: Observation }).__seen;
    if (seen) seen.abortAt ??= performance.now();
    return Promise.resolve();
  }

  cleanup(): Promise<void> {
    return Promise.resolve();
  }
}

/** A factory that always hands out the same engine (so the test can observe it). */
export function factoryOf(engine: LLMEngine, modelName = "test-model"): EngineFactory {
  return { fromArgs: () => Promise.resolve({ engine, worker: { model_name: modelName } }) };
}
