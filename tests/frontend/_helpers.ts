/**
 * Shared test helpers for the frontend suite: a `sluice serve` child process on a free
 * port, deadline-bound waiting, and small engines that script or observe a stream.
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import type { EngineFactory, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { makeUsage } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Polls `check` until it returns a truthy value or `ms` pass (then throws `what`). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  ms: number,
  what: string,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + ms;
  while (true) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A `sluice serve` child process. */
export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the child wrote so far. */
  output(): string;
  /**
   * SIGTERM, then SIGKILL if it has not exited within 10 s; resolves with the exit code the
   * server printed ("stopped (exit code N)"), or `undefined` when it printed none. (Deno's
   * `node:child_process` reports a killed child as signalled even when it exits normally.)
   */
  stop(): Promise<number | undefined>;
}

/** Starts `sluice serve --port 0 --host 127.0.0.1 ...args` under the test's own runtime. */
export async function startServe(args: string[]): Promise<ServeProcess> {
  // deno-lint-ignore no-explicit-any
  const isDeno = typeof (globalThis as any).Deno !== "undefined";
  const command = isDeno
    ? ["run", "-A", "src/cli/main.ts", "serve", "--port", "0", "--host", "127.0.0.1", ...args]
    : ["src/cli/main.ts", "serve", "--port", "0", "--host", "127.0.0.1", ...args];
  const child = spawn(process.execPath, command, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DYN_LOG: "warn" },
  });
  let text = "";
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      exited = code;
      resolve(code);
    })
  );
  child.stdout!.on("data", (d) => (text += d));
  child.stderr!.on("data", (d) => (text += d));
  const stop = async () => {
    if (exited === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      try {
        await exit;
      } finally {
        clearTimeout(timer);
      }
    }
    const printed = /stopped \(exit code (\d+)\)/.exec(text);
    return printed ? Number(printed[1]) : undefined;
  };
  try {
    const match = await waitFor(
      () => {
        if (exited !== undefined) throw new Error(`sluice serve exited with ${exited}:\n${text}`);
        return /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text) ?? undefined;
      },
      30_000,
      "sluice serve to listen",
    );
    return { url: `http://127.0.0.1:${match[1]}`, child, output: () => text, stop };
  } catch (error) {
    await stop();
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
