/**
 * Request migration: a stream that breaks off without its end marker (the worker died, the
 * connection was lost: `Disconnected`) is resent to another worker with the tokens generated so
 * far appended to the prompt and `max_tokens` reduced, so the caller sees one continuous stream.
 * Dynamo calls this migration and enables it per model with `--migration-limit N`.
 *
 * @module
 */
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { GenerateRequestInput } from "../engine/generate_request.ts";
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { ResponseStream } from "../request_plane/request_plane.ts";

/** One placement of a request on a worker: its stream and the router's accounting. */
export interface Placement {
  readonly instanceId: string;
  readonly stream: ResponseStream;
  /** Ends the router's accounting for this placement (idempotent); see `RoutedStream`. */
  release(error?: unknown): void;
}

/** Places `payload` on a worker, never on one in `exclude`. */
export type Place = (
  payload: GenerateRequestInput,
  exclude: ReadonlySet<string>,
) => Promise<Placement>;

/** Whether a request may migrate at all: not guided decoding, one choice. */
export function canMigrate(payload: GenerateRequestInput): boolean {
  return payload.sampling_options?.guided_decoding === undefined &&
    (payload.sampling_options?.n ?? 1) === 1;
}

/**
 * The request to send after `generated` tokens were streamed: the prompt extended by them and
 * `max_tokens` reduced by their count (left unset when the original had none).
 */
export function continuationOf(
  payload: GenerateRequestInput,
  generated: readonly number[],
): GenerateRequestInput {
  const stop = payload.stop_conditions ?? {};
  return {
    ...payload,
    token_ids: [...payload.token_ids, ...generated],
    stop_conditions: {
      ...stop,
      ...(stop.max_tokens === undefined
        ? {}
        : { max_tokens: Math.max(0, stop.max_tokens - generated.length) }),
    },
  };
}

/**
 * A {@linkcode ResponseStream} over successive placements of one request.
 *
 * MUST: on a `Disconnected` error before the terminal chunk, while fewer than `limit`
 * migrations happened, release the failed placement with the error (the router puts that
 * worker in cool-down), place the continuation elsewhere and keep yielding; the terminal
 * chunk's usage counts the original prompt and every token generated across placements.
 * MUST NOT migrate after the terminal chunk, after `stop()`/`kill()`, or on any other error
 * kind (an engine error is not a broken stream). `onMigrate` runs once per migration.
 */
export class MigratingStream implements ResponseStream {
  readonly id: string;
  #current: Placement;
  #place: Place;
  #payload: GenerateRequestInput;
  #limit: number;
  #onMigrate: ((from: string) => void) | undefined;
  #cancelled = false;
  #readable: ReadableStream<GenerateChunk> | undefined;

  constructor(
    first: Placement,
    payload: GenerateRequestInput,
    options: { place: Place; limit: number; onMigrate?: (from: string) => void },
  ) {
    this.id = first.stream.id;
    this.#current = first;
    this.#payload = payload;
    this.#place = options.place;
    this.#limit = options.limit;
    this.#onMigrate = options.onMigrate;
  }

  /** The worker serving the request now. */
  get instanceId(): string {
    return this.#current.instanceId;
  }

  get readable(): ReadableStream<GenerateChunk> {
    this.#readable ??= ReadableStream.from(this);
    return this.#readable;
  }

  stop(): void {
    this.#cancelled = true;
    this.#current.stream.stop();
  }

  kill(): void {
    this.#cancelled = true;
    this.#current.stream.kill();
  }

  /** Releases the current placement (idempotent); the router's `release` for this request. */
  release(error?: unknown): void {
    this.#current.release(error);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerateChunk> {
    const generated: number[] = [];
    const excluded = new Set<string>();
    let migrations = 0;
    while (true) {
      try {
        for await (const chunk of this.#current.stream) {
          if (chunk.finish_reason === undefined) {
            generated.push(...chunk.token_ids);
            yield chunk;
            continue;
          }
          const total = generated.length + chunk.token_ids.length;
          const usage = chunk.completion_usage;
          if (migrations > 0 && usage !== undefined) {
            const prompt = this.#payload.token_ids.length;
            yield {
              ...chunk,
              completion_usage: {
                ...usage,
                prompt_tokens: prompt,
                completion_tokens: total,
                total_tokens: prompt + total,
              },
            };
          } else {
            yield chunk;
          }
          return;
        }
        throw new SluiceError(
          "Disconnected",
          "Cannot read stream: it ended without its end marker",
        );
      } catch (error) {
        const typed = toSluiceError(error);
        if (typed.kind !== "Disconnected" || this.#cancelled || migrations >= this.#limit) {
          throw typed;
        }
        const from = this.#current.instanceId;
        this.#current.release(typed);
        excluded.add(from);
        migrations++;
        const next = continuationOf(this.#payload, generated);
        if (next.stop_conditions?.max_tokens === 0) {
          // Every requested token arrived; only the terminal chunk was lost.
          const prompt = this.#payload.token_ids.length;
          yield {
            token_ids: [],
            index: 0,
            finish_reason: "length",
            completion_usage: {
              prompt_tokens: prompt,
              completion_tokens: generated.length,
              total_tokens: prompt + generated.length,
            },
          };
          return;
        }
        this.#current = await this.#place(next, excluded);
        this.#onMigrate?.(from);
      }
    }
  }
}
