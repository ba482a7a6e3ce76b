/**
 * The conformance kit: `runConformance(factory)` runs the checks of the engine
 * contract against any engine and throws a {@linkcode ConformanceError} naming
 * the first failure. Engine authors call it from their own tests.
 *
 * @module
 */
import type { EngineFactory, LLMEngine } from "../engine/engine.ts";
import { normalizeFinishReason } from "../engine/generate_chunk.ts";
import { type GenerateRequestInput, parseGenerateRequest } from "../engine/generate_request.ts";
import { createRequestContext, type RequestContextController } from "../engine/request_context.ts";
import { ConformanceError, ConformanceFailure } from "./conformance_error.ts";
import { consumeChecked } from "./consume_checked.ts";
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

/** True for the timeout `consumeChecked` reports (matched by error name, not message). */
function isTimeout(cause: unknown): boolean {
  return cause instanceof DOMException && cause.name === "TimeoutError";
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
      if (error instanceof ConformanceError && isTimeout(error.cause)) {
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
