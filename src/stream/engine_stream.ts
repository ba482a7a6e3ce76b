/**
 * The worker's engine stream: turns `generate()`'s iterable into a
 * `ReadableStream` (like `ReadableStream.from`, pull-based, high-water mark 0)
 * with the chunk guard applied inline, errors mapped to the typed family, and
 * one `onEnd` report once BOTH the engine's iterator has finished (its
 * `finally` ran) AND the consumer has taken the terminal chunk (or cancelled).
 * That second half is what lets shutdown wait until every response was
 * delivered, not merely produced.
 *
 * @module
 */
import { type SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import { ChunkGuard, type StreamStats } from "./chunk_guard.ts";

/** How a stream ended. */
export type EngineStreamEnd =
  | { kind: "done" }
  | { kind: "error"; error: SluiceError }
  | { kind: "cancelled"; reason: unknown };

/** Options for {@linkcode engineStream}. */
export interface EngineStreamOptions {
  /** Prompt length, for usage the engine omits. */
  promptTokens: number;
  /** Called exactly once, after the engine finished and the consumer is done. */
  onEnd?(end: EngineStreamEnd, stats: Readonly<StreamStats>): void;
  /** Called with each inter-token gap in ms (see `ChunkGuardOptions.onGap`). */
  onGap?(ms: number): void;
}

/**
 * Wraps `iterable` with the stream rules. Cancelling the stream calls the iterator's
 * `return()`, so the engine's `finally` blocks run; after the terminal chunk the iterator
 * is returned at once (the engine does not wait for the consumer to free its resources).
 *
 * @example
 * ```ts
 * import { engineStream } from "./engine_stream.ts";
 * async function* gen() {
 *   yield { token_ids: [1], index: 0 };
 *   yield { token_ids: [], index: 0, finish_reason: "length" as const };
 * }
 * const stream = engineStream(gen(), { promptTokens: 1, onEnd: (end) => console.log(end.kind) });
 * for await (const chunk of stream) console.log(chunk.token_ids);
 * ```
 */
export function engineStream(
  iterable: AsyncIterable<GenerateChunk>,
  options: EngineStreamOptions,
): ReadableStream<GenerateChunk> {
  const guard = new ChunkGuard({ promptTokens: options.promptTokens, onGap: options.onGap });
  let iterator: AsyncIterator<GenerateChunk> | undefined;
  let engineDone: Promise<void> | undefined;
  let ended = false;
  let cancelled = false;
  const end = (result: EngineStreamEnd) => {
    if (ended) return;
    ended = true;
    const report = () => options.onEnd?.(result, guard.stats);
    if (engineDone) engineDone.then(report);
    else report();
  };
  const finishEngine = () => {
    engineDone ??= Promise.resolve()
      .then(() => iterator?.return?.())
      .then(() => {}, () => {});
  };
  return new ReadableStream<GenerateChunk>({
    async pull(controller) {
      try {
        iterator ??= iterable[Symbol.asyncIterator]();
        const result = await iterator.next();
        if (cancelled) return;
        if (result.done) {
          engineDone = Promise.resolve();
          throw guard.incomplete();
        }
        controller.enqueue(guard.accept(result.value));
        if (guard.stats.terminated) {
          // High-water mark 0: `pull` runs only for a pending read, so the terminal just
          // went to the consumer. The stream is complete; the engine's `finally` runs now.
          finishEngine();
          controller.close();
          end({ kind: "done" });
        }
      } catch (error) {
        if (cancelled) return;
        const typed = toSluiceError(error);
        finishEngine();
        end({ kind: "error", error: typed });
        controller.error(typed);
      }
    },
    async cancel(reason) {
      cancelled = true;
      if (engineDone === undefined) {
        try {
          await iterator?.return?.(reason);
        } catch (error) {
          engineDone = Promise.resolve();
          end({ kind: "error", error: toSluiceError(error) });
          return;
        }
        engineDone = Promise.resolve();
      }
      end(guard.stats.terminated ? { kind: "done" } : { kind: "cancelled", reason });
    },
  }, { highWaterMark: 0 });
}
