/**
 * The in-process request plane: handlers are called directly and the worker's
 * `ReadableStream` is handed to the caller, so a chunk crosses the plane with
 * no copy and no extra queue (the embedded default).
 *
 * Strict mode (`{ strict: true }`) instead runs the full wire protocol
 * (`src/wire/wire_format.md`) over an in-memory bus: every payload, chunk,
 * error and control message is encoded and decoded by the codec, so in-process
 * tests catch anything that would not survive a real wire.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { EndpointPath } from "../discovery/discovery.ts";
import {
  type CallOptions,
  type CancelReason,
  endpointSubject,
  type RequestHandler,
  type RequestPlane,
  type ResponseStream,
  type ServedEndpoint,
  type TransportAddress,
} from "./request_plane.ts";
import { type WireProtocolOptions, WireRequestPlane } from "./wire_request_plane.ts";
import { MemoryBus, type MemoryConnection } from "../wire/memory_transport.ts";

/** Options for {@linkcode InProcessRequestPlane}. */
export interface InProcessRequestPlaneOptions extends WireProtocolOptions {
  /** Copy everything through the wire codec and protocol (default false). */
  strict?: boolean;
  /**
   * Strict mode only: the bus connection to use, so that several handles (a "worker"
   * and a "frontend") share one bus. Default: a connection to a new bus of its own.
   */
  connection?: MemoryConnection;
}

/**
 * In-process {@linkcode RequestPlane}. Share one instance between the workers and the
 * frontend of a process.
 *
 * @example
 * ```ts
 * import { InProcessRequestPlane } from "./in_process_request_plane.ts";
 * const plane = new InProcessRequestPlane();
 * const served = await plane.serve(
 *   { namespace: "dynamo", component: "backend", endpoint: "generate", instanceId: "1" },
 *   () => Promise.resolve(ReadableStream.from([{ token_ids: [], index: 0, finish_reason: "stop" as const }])),
 * );
 * for await (const chunk of await plane.call(served.address, {})) console.log(chunk);
 * await plane.close();
 * ```
 */
export class InProcessRequestPlane implements RequestPlane {
  readonly kind = "inprocess";
  #handlers = new Map<string, RequestHandler>();
  #served = new Set<ServedEndpoint>();
  #wire: WireRequestPlane | undefined;

  /** Creates a plane; see {@linkcode InProcessRequestPlaneOptions} for strict mode. */
  constructor(options: InProcessRequestPlaneOptions = {}) {
    if (options.strict) {
      this.#wire = new WireRequestPlane({
        ...options,
        kind: "inprocess",
        addressKey: "inprocess",
        transport: options.connection ?? new MemoryBus().connect(),
      });
    }
  }

  /** True in strict mode. */
  get strict(): boolean {
    return this.#wire !== undefined;
  }

  serve(
    endpoint: EndpointPath & { instanceId: string },
    handler: RequestHandler,
  ): Promise<ServedEndpoint> {
    if (this.#wire) return this.#wire.serve(endpoint, handler);
    const subject = endpointSubject(endpoint);
    if (this.#handlers.has(subject)) {
      return Promise.reject(
        new SluiceError("InvalidArgument", `Cannot serve "${subject}": already served`),
      );
    }
    this.#handlers.set(subject, handler);
    const close = () => {
      if (this.#handlers.get(subject) === handler) this.#handlers.delete(subject);
      this.#served.delete(served);
      return Promise.resolve();
    };
    const served: ServedEndpoint = {
      address: { inprocess: subject },
      close,
      [Symbol.asyncDispose]: close,
    };
    this.#served.add(served);
    return Promise.resolve(served);
  }

  async call(
    address: TransportAddress,
    payload: unknown,
    options: CallOptions = {},
  ): Promise<ResponseStream> {
    if (this.#wire) return this.#wire.call(address, payload, options);
    if (!("inprocess" in address)) {
      throw new SluiceError(
        "CannotConnect",
        `Cannot call ${JSON.stringify(address)}: not an in-process address`,
      );
    }
    const handler = this.#handlers.get(address.inprocess);
    if (handler === undefined) {
      throw new SluiceError(
        "CannotConnect",
        `Cannot call "${address.inprocess}": no such endpoint is served in this process`,
      );
    }
    const id = options.id ?? crypto.randomUUID();
    const controller = new AbortController();
    const cancel = (reason: CancelReason) => {
      if (controller.signal.aborted) {
        return;
      }
      controller.abort(
        new SluiceError("Cancelled", `Request ${id} was cancelled (${reason})`, {
          code: reason,
        }),
      );
    };
    const onCallerAbort = () => cancel("disconnect");
    if (options.signal?.aborted) throw toSluiceError(options.signal.reason);
    options.signal?.addEventListener("abort", onCallerAbort, { once: true });
    const expiry = options.deadline === undefined
      ? undefined
      : expireAt(options.deadline, id, () => cancel("kill"));
    const release = () => {
      options.signal?.removeEventListener("abort", onCallerAbort);
      expiry?.clear();
    };
    let readable: ReadableStream<GenerateChunk>;
    try {
      const accepted = handler({
        id,
        payload,
        headers: options.headers ?? {},
        signal: controller.signal,
      });
      if (expiry === undefined) readable = await accepted;
      else {
        let late = true;
        // A stream the handler hands over after the deadline is cancelled, not leaked.
        expiry.expired.catch(() => {
          if (late) accepted.then((stream) => stream.cancel(), () => {});
        });
        readable = await Promise.race([accepted, expiry.expired]);
        late = false;
      }
    } catch (error) {
      release();
      throw toSluiceError(error);
    }
    let watched: ReadableStream<GenerateChunk> | undefined;
    return {
      id,
      // Wrapped only when asked for, so that iteration (the common path) adds no stage.
      get readable() {
        watched ??= watchEnd(readable, release, expiry);
        return watched;
      },
      stop: () => cancel("stop"),
      kill: () => cancel("kill"),
      [Symbol.asyncIterator]: () => iterate(readable, release, expiry),
    };
  }

  async close(): Promise<void> {
    if (this.#wire) return await this.#wire.close();
    for (const served of [...this.#served]) await served.close();
  }
}

/**
 * The caller's iterator over the worker's stream: a thin object over the reader (no
 * async-generator layer on the per-chunk path). `return()` (a `break`) is a silent drop:
 * it cancels the stream without waiting for the engine's `finally`.
 */
function iterate(
  readable: ReadableStream<GenerateChunk>,
  done: () => void,
  expiry?: Expiry,
): AsyncIterator<GenerateChunk, undefined> {
  const reader = readable.getReader();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
    reader.cancel().catch(() => {});
    reader.releaseLock();
  };
  return {
    next: () =>
      finished ? Promise.resolve({ done: true, value: undefined }) : read(reader, expiry).then(
        (result) => {
          if (result.done) finish();
          return result as IteratorResult<GenerateChunk, undefined>;
        },
        (error) => {
          finish();
          throw toSluiceError(error);
        },
      ),
    return: () => {
      finish();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}

/** Re-exposes `readable` and calls `done` once when it ends, errors or is cancelled. */
function watchEnd(
  readable: ReadableStream<GenerateChunk>,
  done: () => void,
  expiry?: Expiry,
): ReadableStream<GenerateChunk> {
  const reader = readable.getReader();
  return new ReadableStream<GenerateChunk>({
    async pull(controller) {
      try {
        const result = await read(reader, expiry);
        if (result.done) {
          done();
          controller.close();
        } else {
          controller.enqueue(result.value);
        }
      } catch (error) {
        done();
        controller.error(toSluiceError(error));
      }
    },
    cancel(reason) {
      done();
      reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** A deadline: `expired` rejects with `ResponseTimeout` once it passes. */
interface Expiry {
  readonly expired: Promise<never>;
  clear(): void;
}

function expireAt(deadline: number, id: string, onExpire: () => void): Expiry {
  const { promise, reject } = Promise.withResolvers<never>();
  promise.catch(() => {});
  const timer = setTimeout(() => {
    // The timeout wins the caller's race before the worker sees its signal.
    reject(
      new SluiceError("ResponseTimeout", `Cannot complete request ${id}: its deadline passed`),
    );
    onExpire();
  }, Math.max(0, deadline - Date.now()));
  return { expired: promise, clear: () => clearTimeout(timer) };
}

function read(
  reader: ReadableStreamDefaultReader<GenerateChunk>,
  expiry: Expiry | undefined,
): Promise<ReadableStreamReadResult<GenerateChunk>> {
  return expiry === undefined ? reader.read() : Promise.race([reader.read(), expiry.expired]);
}
