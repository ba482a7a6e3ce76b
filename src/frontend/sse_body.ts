/**
 * A Server-Sent-Events response body that coalesces: the producer appends frames
 * to a bounded buffer, and each read by the HTTP server takes everything buffered
 * as one chunk. When the client keeps up, every frame goes out on its own as soon
 * as it is produced; when the producer is faster than the socket (a zero-delay
 * engine, a slow client), frames are batched into fewer, larger writes instead of
 * one write per token, and once the buffer is full the producer waits
 * (back-pressure, never unbounded growth).
 *
 * @module
 */

/** Default buffer bound in UTF-16 code units (~64 KiB of ASCII JSON). */
export const DEFAULT_SSE_BUFFER = 64 * 1024;

const encoder = new TextEncoder();

/**
 * The body of one SSE response.
 *
 * @example
 * ```ts
 * import { SseBody } from "./sse_body.ts";
 * const body = new SseBody();
 * body.push("data: 1\n\n");
 * body.push("data: [DONE]\n\n");
 * body.close();
 * console.assert((await new Response(body.readable).text()) === "data: 1\n\ndata: [DONE]\n\n");
 * ```
 */
export class SseBody {
  /** The response body; hand it to `new Response(...)`. */
  readonly readable: ReadableStream<Uint8Array>;
  #frames: string[] = [];
  #size = 0;
  #limit: number;
  #closed = false;
  #cancel = new AbortController();
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;

  /** @param options.limit buffer bound in code units; `onCancel` runs when the client goes away. */
  constructor(options: { limit?: number; onCancel?: (reason: unknown) => void } = {}) {
    this.#limit = options.limit ?? DEFAULT_SSE_BUFFER;
    const onCancel = options.onCancel;
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (this.#frames.length > 0 || this.#closed) return this.#drain(controller);
        return new Promise<void>((resolve) => (this.#wakeReader = resolve)).then(() =>
          this.#drain(controller)
        );
      },
      cancel: (reason) => {
        this.#closed = true;
        this.#frames = [];
        this.#size = 0;
        this.#cancel.abort(reason);
        this.#wake();
        onCancel?.(reason);
      },
    }, { highWaterMark: 0 });
  }

  /** Aborted when the consumer cancelled the body (the client disconnected). */
  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  /** True while the buffer is at or over its bound: the producer SHOULD `await drained()`. */
  get full(): boolean {
    return this.#size >= this.#limit;
  }

  /** Appends one complete frame (`data: ...\n\n`). Ignored after `close()` or a cancel. */
  push(frame: string): void {
    if (this.#closed) return;
    this.#frames.push(frame);
    this.#size += frame.length;
    const wake = this.#wakeReader;
    if (wake !== undefined) {
      this.#wakeReader = undefined;
      wake();
    }
  }

  /** Resolves once the buffer has room again, or at once when the body is closed or cancelled. */
  drained(): Promise<void> {
    if (!this.full || this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#wakeWriter = resolve));
  }

  /** Ends the body after what is buffered. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
  }

  #drain(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (this.#cancel.signal.aborted) return;
    if (this.#frames.length > 0) {
      const text = this.#frames.length === 1 ? this.#frames[0] : this.#frames.join("");
      this.#frames = [];
      this.#size = 0;
      controller.enqueue(encoder.encode(text));
      const wake = this.#wakeWriter;
      this.#wakeWriter = undefined;
      wake?.();
      return;
    }
    if (this.#closed) controller.close();
  }

  #wake(): void {
    const reader = this.#wakeReader;
    const writer = this.#wakeWriter;
    this.#wakeReader = undefined;
    this.#wakeWriter = undefined;
    reader?.();
    writer?.();
  }
}
