/**
 * The request plane: frontend → worker requests, worker → frontend token
 * streams, and cancellation. Implementations: in-process (embedded default)
 * and NATS (TCP or WebSocket). Both honour the same rules:
 *
 * - accept/reject first: a handler that rejects (bad request, draining,
 *   overloaded) makes `call()` reject with that typed error before any stream exists;
 * - the stream ends with an explicit end; a stream that breaks off without it
 *   errors with `Disconnected` at the caller (the trigger for migration);
 * - `stop()` / `kill()` / the call's `signal` reach the worker's request signal;
 *   cancelling the readable (a silent drop) ends the worker's stream WITHOUT
 *   firing the signal;
 * - queues are bounded: a slow consumer back-pressures the engine;
 * - a `deadline` that passes fails the call or stream with `ResponseTimeout`.
 *
 * What crosses a process is specified in `src/wire/wire_format.md`.
 *
 * @module
 */
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { EndpointPath } from "../discovery/discovery.ts";

/** Where a served endpoint is reached; stored in the discovery instance record. */
export type TransportAddress = { readonly inprocess: string } | { readonly nats: string };

/** Why a request's signal fired: explicit stop or kill, or the caller vanished. */
export type CancelReason = "stop" | "kill" | "disconnect";

/** A request as the worker's handler sees it. */
export interface IncomingRequest {
  /** Request id, unique per request (the caller's `CallOptions.id` when given). */
  readonly id: string;
  /** The request body as sent; the handler MUST validate it before accepting. */
  readonly payload: unknown;
  /** Propagated headers: `traceparent`, deadline, caller metadata. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Fires on stop, kill or caller disconnect. `signal.reason` is a `Cancelled`
   * SluiceError whose `code` is the {@linkcode CancelReason}.
   */
  readonly signal: AbortSignal;
}

/**
 * Serves one request: resolve with the response stream to accept, reject with a
 * typed error to refuse. MUST NOT resolve before the request is validated.
 */
export type RequestHandler = (request: IncomingRequest) => Promise<ReadableStream<GenerateChunk>>;

/** A served endpoint. */
export interface ServedEndpoint extends AsyncDisposable {
  /** Where callers reach it; published in the instance record. */
  readonly address: TransportAddress;
  /** Stops receiving new requests; streams already accepted continue. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@linkcode RequestPlane.call}. */
export interface CallOptions {
  /** Request id; generated when absent. */
  id?: string;
  /** Headers propagated to the worker (`traceparent`, caller metadata). */
  headers?: Record<string, string>;
  /** Aborting it kills the request end to end (as a client disconnect does). */
  signal?: AbortSignal;
  /**
   * Absolute deadline, Unix epoch milliseconds. When it passes, a pending `call()` or the
   * stream MUST fail with `ResponseTimeout` and the worker's request signal MUST fire (`kill`).
   */
  deadline?: number;
}

/** The caller's view of a running request. Iterating it yields chunks; errors are typed. */
export interface ResponseStream extends AsyncIterable<GenerateChunk> {
  /** The request id. */
  readonly id: string;
  /**
   * The chunks as a stream, for piping. Use either it or iteration, not both: both read
   * the same underlying stream. Cancelling it is a silent drop (no signal at the worker).
   */
  readonly readable: ReadableStream<GenerateChunk>;
  /** Graceful cancel: the engine ends with a `"cancelled"` terminal. */
  stop(): void;
  /** Hard cancel. */
  kill(): void;
}

/** A request plane. */
export interface RequestPlane {
  /** `inprocess` or `nats`. */
  readonly kind: string;
  /** Serves `handler` for one worker instance's endpoint. */
  serve(
    endpoint: EndpointPath & { instanceId: string },
    handler: RequestHandler,
  ): Promise<ServedEndpoint>;
  /**
   * Sends a request and resolves once the worker accepted it.
   * @throws {SluiceError} the worker's rejection, or `CannotConnect` / `Disconnected`.
   */
  call(address: TransportAddress, payload: unknown, options?: CallOptions): Promise<ResponseStream>;
  /** Closes every endpoint served through this plane and releases connections. Idempotent. */
  close(): Promise<void>;
}

/** The subject an endpoint instance is served on: `{ns}.{component}.{endpoint}-{instanceHex}`. */
export function endpointSubject(endpoint: EndpointPath & { instanceId: string }): string {
  const hex = BigInt(endpoint.instanceId).toString(16);
  return `${endpoint.namespace}.${endpoint.component}.${endpoint.endpoint}-${hex}`;
}
