/**
 * The stream guard as a `TransformStream`, for chunk streams that did not come
 * from a local engine (a remote worker's stream, a test double): the same
 * rules as the worker's engine stream, enforced in a pipe.
 *
 * @module
 */
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import { ChunkGuard, type ChunkGuardOptions, type StreamStats } from "./chunk_guard.ts";

/** A guard: the transform to pipe through and the live statistics it keeps. */
export interface StreamGuard {
  /** Pipe the chunks through it; use it for one stream only (the guard keeps state). */
  readonly stream: TransformStream<GenerateChunk, GenerateChunk>;
  /** Live statistics, updated as chunks pass; final once the stream ended. */
  readonly stats: Readonly<StreamStats>;
}

/**
 * Creates the guard transform: forwards the first terminal chunk and then closes
 * (cancelling the source); errors with `StreamIncomplete` if the source ends without one.
 *
 * @example
 * ```ts
 * import type { GenerateChunk } from "../engine/generate_chunk.ts";
 * import { createStreamGuard } from "./stream_guard.ts";
 * const guard = createStreamGuard({ promptTokens: 3 });
 * const chunks: GenerateChunk[] = [
 *   { token_ids: [7], index: 0 },
 *   { token_ids: [], index: 0, finish_reason: "length" },
 *   { token_ids: [8], index: 0 }, // after the terminal: never forwarded
 * ];
 * const out = ReadableStream.from(chunks).pipeThrough(guard.stream);
 * const seen: GenerateChunk[] = [];
 * for await (const chunk of out) seen.push(chunk);
 * if (seen.length !== 2 || seen[1].finish_reason !== "length") throw new Error("not guarded");
 * ```
 */
export function createStreamGuard(options: ChunkGuardOptions): StreamGuard {
  const guard = new ChunkGuard(options);
  const stream = new TransformStream<GenerateChunk, GenerateChunk>({
    transform(chunk, controller) {
      controller.enqueue(guard.accept(chunk));
      if (guard.stats.terminated) controller.terminate();
    },
    flush(controller) {
      if (!guard.stats.terminated) controller.error(guard.incomplete());
    },
  });
  return { stream, stats: guard.stats };
}
