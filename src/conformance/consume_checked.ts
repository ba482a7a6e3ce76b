/**
 * Reading an engine's stream under the chunk rules, shared by the engine checks
 * (`run_conformance.ts`) and the worker checks (`worker_checks.ts`), which both import it
 * from here (no import cycle between the two).
 *
 * @module
 */
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import { ConformanceError, ConformanceFailure } from "./conformance_error.ts";

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
            { cause: new DOMException(`${what} timed out`, "TimeoutError") },
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
