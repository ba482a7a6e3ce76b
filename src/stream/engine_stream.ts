/**
 * Turns an engine's `generate()` iterable into a `ReadableStream`, like
 * `ReadableStream.from`, but mapping thrown errors to the typed family and
 * reporting exactly once when the engine's iterator has finished (its
 * `finally` has run), whichever way the stream ended.
 *
 * @module
 */
import { type SluiceError, toSluiceError } from "../errors/sluice_error.ts";

/** How an engine iterator finished. */
export type EngineStreamEnd =
  | { kind: "done" }
  | { kind: "error"; error: SluiceError }
  | { kind: "cancelled"; reason: unknown };

/**
 * Wraps `iterable` in a pull-based stream (high-water mark 0: the engine runs only as
 * fast as the consumer reads). Cancelling the stream calls the iterator's `return()`,
 * so the engine's `finally` blocks run; `onEnd` fires after that.
 *
 * @example
 * ```ts
 * import { engineStream } from "./engine_stream.ts";
 * async function* gen() { yield 1; yield 2; }
 * const stream = engineStream(gen(), { onEnd: (end) => console.log(end.kind) });
 * for await (const x of stream) console.log(x);
 * ```
 */
export function engineStream<T>(
  iterable: AsyncIterable<T>,
  options: { onEnd?(end: EngineStreamEnd): void } = {},
): ReadableStream<T> {
  let iterator: AsyncIterator<T> | undefined;
  let ended = false;
  let cancelled = false;
  const end = (result: EngineStreamEnd) => {
    if (ended) return;
    ended = true;
    options.onEnd?.(result);
  };
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        iterator ??= iterable[Symbol.asyncIterator]();
        const result = await iterator.next();
        if (cancelled) return;
        if (result.done) {
          end({ kind: "done" });
          controller.close();
        } else {
          controller.enqueue(result.value);
        }
      } catch (error) {
        if (cancelled) return;
        const typed = toSluiceError(error);
        end({ kind: "error", error: typed });
        controller.error(typed);
      }
    },
    async cancel(reason) {
      cancelled = true;
      try {
        await iterator?.return?.(reason);
      } catch (error) {
        end({ kind: "error", error: toSluiceError(error) });
        return;
      }
      end({ kind: "cancelled", reason });
    },
  }, { highWaterMark: 0 });
}
