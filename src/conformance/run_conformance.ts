/**
 * The conformance kit: `runConformance(factory)` runs the checks of the engine
 * contract against any engine and throws a {@linkcode ConformanceError} naming
 * the first failure. Engine authors call it from their own tests.
 *
 * @module
 */
import type { EngineFactory, LLMEngine } from "../engine/engine.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import { normalizeFinishReason } from "../engine/generate_chunk.ts";
import { type GenerateRequestInput, parseGenerateRequest } from "../engine/generate_request.ts";
import { createRequestContext, type RequestContextController } from "../engine/request_context.ts";
import { ConformanceError, ConformanceFailure } from "./conformance_error.ts";
import { runWorkerChecks } from "./worker_checks.ts";

/** Options for {@linkcode runConformance}. */
export interface ConformanceOptions {
  /** Arguments passed to `fromArgs` (default none). */
  argv?: string[];
  /** Time allowed for one ordinary stream (default 10 s). */
  streamTimeoutMs?: number;
  /** Reports each passed check (for progress output). */
  onCheck?(name: string): void;
}

/** What a passed run measured. */
export interface ConformanceReport {
  /** The `model` the engine's `start()` reported. */
  model: string;
  /** Names of the checks that passed, in the order they ran. */
  checks: string[];
}

const STANDARD = { token_ids: [1, 2, 3], stop_conditions: { max_tokens: 8 } };

/**
 * Reads a whole stream applying the chunk rules; throws the named failure.
 * `alreadyCounted` adds tokens of chunks the caller read before handing the stream over.
 */
export async function consumeChecked(
  stream: AsyncIterable<GenerateChunk>,
  options: { timeoutMs: number; what: string; alreadyCounted?: number },
): Promise<{ chunks: GenerateChunk[]; terminal: GenerateChunk }> {
  const chunks: GenerateChunk[] = [];
  let terminal: GenerateChunk | undefined;
  const it = stream[Symbol.asyncIterator]();
  const deadline = Date.now() + options.timeoutMs;
  let finished = false;
  try {
    while (true) {
      let result: IteratorResult<GenerateChunk>;
      try {
        result = await withTimeout(it.next(), deadline - Date.now(), options.what);
      } catch (error) {
        if (error instanceof ConformanceError) throw error;
        throw new ConformanceError(
          ConformanceFailure.StreamYieldedError,
          `${options.what} threw ${String(error)}`,
          { cause: error },
        );
      }
      if (result.done) {
        finished = true;
        break;
      }
      const chunk = result.value;
      if (terminal !== undefined) {
        throw new ConformanceError(
          ConformanceFailure.ChunkAfterTerminal,
          `${options.what} yielded a chunk after its terminal`,
        );
      }
      if (!Array.isArray(chunk?.token_ids) || !Number.isInteger(chunk?.index)) {
        throw new ConformanceError(
          ConformanceFailure.MalformedChunk,
          `${options.what} yielded a chunk without token_ids array and integer index: ${
            JSON.stringify(chunk)
          }`,
        );
      }
      chunks.push(chunk);
      if (chunk.finish_reason !== undefined) terminal = chunk;
    }
  } finally {
    // Stop an unfinished stream without waiting on it: a hung `finally` is reported elsewhere.
    if (!finished) Promise.resolve(it.return?.()).catch(() => {});
  }
  if (chunks.length === 0) {
    throw new ConformanceError(
      ConformanceFailure.NoChunksYielded,
      `${options.what} yielded no chunks`,
    );
  }
  if (terminal === undefined) {
    throw new ConformanceError(
      ConformanceFailure.NoTerminalChunk,
      `${options.what} ended without a terminal chunk`,
    );
  }
  const counted = chunks.reduce((n, c) => n + c.token_ids.length, options.alreadyCounted ?? 0);
  const usage = terminal.completion_usage;
  if (usage === undefined || usage.completion_tokens !== counted) {
    throw new ConformanceError(
      ConformanceFailure.CompletionTokensMismatch,
      `${options.what} streamed ${counted} tokens but reported completion_tokens ${usage?.completion_tokens}`,
    );
  }
  return { chunks, terminal };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConformanceError(
            ConformanceFailure.StreamYieldedError,
            `${what} did not finish within ${ms} ms`,
          ),
        ),
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function generate(
  engine: LLMEngine,
  model: string,
  input: Partial<GenerateRequestInput>,
  ctl?: RequestContextController,
) {
  const request = parseGenerateRequest({ model, ...STANDARD, ...input });
  const controller = ctl ?? createRequestContext();
  return engine.generate(request, controller.context);
}

/**
 * Runs every check against engines built by `factory`. Resolves with a report, or
 * throws a {@linkcode ConformanceError} whose `failure` names the first failed check.
 *
 * @example
 * ```ts ignore
 * import { runConformance } from "../../mod.ts";
 * import { SampleEngine } from "../../engines/sample/mod.ts";
 * await runConformance(SampleEngine, { argv: ["--delay-ms", "0"] });
 * ```
 */
export async function runConformance(
  factory: EngineFactory,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const argv = options.argv ?? [];
  const timeoutMs = options.streamTimeoutMs ?? 10_000;
  const checks: string[] = [];
  const pass = (name: string) => {
    checks.push(name);
    options.onCheck?.(name);
  };
  const { engine } = await factory.fromArgs(argv);
  let model: string;
  try {
    const config = await engine.start("conformance-worker");
    model = config?.model ?? "";
  } catch (error) {
    await engine.cleanup().catch(() => {});
    throw new ConformanceError(ConformanceFailure.StartFailed, `start() threw ${String(error)}`, {
      cause: error,
    });
  }
  try {
    if (typeof model !== "string" || model.length === 0) {
      throw new ConformanceError(
        ConformanceFailure.EmptyModelInConfig,
        "start() returned an empty model",
      );
    }
    pass("start");

    await consumeChecked(generate(engine, model, {}), { timeoutMs, what: "generate()" });
    pass("generate");

    const results = await Promise.allSettled(
      Array.from(
        { length: 8 },
        (_, i) =>
          consumeChecked(generate(engine, model, {}), {
            timeoutMs,
            what: `concurrent generate() #${i}`,
          }),
      ),
    );
    const failed = results.findIndex((r) => r.status === "rejected" || r.value.chunks.length === 0);
    if (failed >= 0) {
      const r = results[failed];
      throw new ConformanceError(
        ConformanceFailure.ConcurrentGenerateFailed,
        `request #${failed} of 8 concurrent failed: ${
          r.status === "rejected" ? String(r.reason) : "empty"
        }`,
      );
    }
    pass("concurrent");

    const ctl = createRequestContext();
    const stream = generate(engine, model, { stop_conditions: { max_tokens: 10_000 } }, ctl);
    ctl.cancel("stop");
    let outcome;
    try {
      outcome = await consumeChecked(stream, { timeoutMs: 2000, what: "cancelled generate()" });
    } catch (error) {
      if (error instanceof ConformanceError && error.message.includes("did not finish")) {
        throw new ConformanceError(
          ConformanceFailure.CancellationNotObserved,
          "a request stopped before its first read did not end within 2 s",
        );
      }
      throw error;
    }
    if (normalizeFinishReason(outcome.terminal.finish_reason) !== "cancelled") {
      throw new ConformanceError(
        ConformanceFailure.CancellationIgnored,
        `a stopped request ended with finish_reason ${
          JSON.stringify(outcome.terminal.finish_reason)
        }, not "cancelled"`,
      );
    }
    pass("cancellation");
  } catch (error) {
    await engine.cleanup().catch(() => {});
    throw error;
  }

  try {
    await engine.cleanup();
  } catch (error) {
    throw new ConformanceError(
      ConformanceFailure.CleanupFailed,
      `cleanup() threw ${String(error)}`,
      { cause: error },
    );
  }
  try {
    await engine.cleanup();
  } catch (error) {
    throw new ConformanceError(
      ConformanceFailure.SecondCleanupFailed,
      `second cleanup() threw ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  pass("cleanup");

  const fresh = (await factory.fromArgs(argv)).engine;
  try {
    await fresh.cleanup();
  } catch (error) {
    throw new ConformanceError(
      ConformanceFailure.CleanupWithoutStartFailed,
      `cleanup() without start() threw ${String(error)}`,
      { cause: error },
    );
  }
  pass("cleanup-without-start");

  for (const name of await runWorkerChecks((await factory.fromArgs(argv)).engine, { timeoutMs })) {
    pass(name);
  }
  return { model, checks };
}
