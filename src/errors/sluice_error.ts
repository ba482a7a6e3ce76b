/**
 * The typed error family of Sluice. One class, {@linkcode SluiceError}, with a
 * {@linkcode ErrorKind} that survives the wire (request plane, HTTP edge), so a
 * frontend can tell "your request is wrong" from "the worker went away".
 *
 * @module
 */
import { ErrorCode, isErrorCode } from "./error_code.ts";

export { ErrorCode, isErrorCode };

/** Every kind of error the runtime distinguishes, as in Dynamo's `DynamoException` family. */
export const ErrorKind = {
  InvalidArgument: "InvalidArgument",
  CannotConnect: "CannotConnect",
  EngineShutdown: "EngineShutdown",
  StreamIncomplete: "StreamIncomplete",
  Cancelled: "Cancelled",
  ConnectionTimeout: "ConnectionTimeout",
  ResponseTimeout: "ResponseTimeout",
  Disconnected: "Disconnected",
  Unknown: "Unknown",
} as const;

/** One of the values of {@linkcode ErrorKind}. */
export type ErrorKind = typeof ErrorKind[keyof typeof ErrorKind];

const KINDS = new Set<string>(Object.values(ErrorKind));

/**
 * Marks every SluiceError, whichever copy of this module built it: an engine module loaded
 * by a compiled `sluice` binary imports its own copy of the library, and its errors must
 * still be recognised as typed errors (kind, param and code kept).
 */
const BRAND: unique symbol = Symbol.for("sluice.SluiceError") as never;

/** Options for {@linkcode SluiceError}. */
export interface SluiceErrorOptions extends ErrorOptions {
  /** Machine-readable detail, e.g. the offending field (`"stop_conditions.max_tokens"`). */
  readonly param?: string;
  /** Short code for the HTTP edge, from the registry (e.g. `ErrorCode.WorkerDraining`). */
  readonly code?: ErrorCode;
}

/**
 * A domain error callers are expected to handle. Messages state the failed
 * action first, then the reason: `Cannot register model "x": discovery is closed`.
 *
 * @example
 * ```ts
 * import { SluiceError } from "./sluice_error.ts";
 * const err = new SluiceError("InvalidArgument", "Cannot accept request: token_ids is empty", {
 *   param: "token_ids",
 * });
 * console.assert(err.kind === "InvalidArgument");
 * ```
 */
export class SluiceError extends Error {
  /** The kind; stable across the wire. */
  readonly kind: ErrorKind;
  /** The offending parameter, when one is known. */
  readonly param?: string;
  /** Short machine-readable code for the HTTP edge; compare it by value with {@linkcode ErrorCode}. */
  readonly code?: ErrorCode;

  /**
   * Creates an error of `kind`. `message` MUST state the failed action, then the reason;
   * pass the underlying error as `options.cause` so that it is not lost.
   */
  constructor(kind: ErrorKind, message: string, options?: SluiceErrorOptions) {
    super(message, options);
    this.name = "SluiceError";
    this.kind = kind;
    if (options?.param !== undefined) this.param = options.param;
    if (options?.code !== undefined) this.code = options.code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof SluiceError` holds for a SluiceError built by any copy of this module; a
   * subclass (`instanceof ModelFileError`) keeps the ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== SluiceError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** A plain JSON-safe object for the request plane; inverse of {@linkcode SluiceError.fromJSON}. */
  toJSON(): SerializedError {
    const out: SerializedError = { kind: this.kind, message: this.message };
    if (this.param !== undefined) out.param = this.param;
    if (this.code !== undefined) out.code = this.code;
    return out;
  }

  /** Rebuilds an error sent by {@linkcode SluiceError.toJSON}; unknown kinds become `Unknown`. */
  static fromJSON(value: unknown): SluiceError {
    const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    const kind = typeof v.kind === "string" && KINDS.has(v.kind) ? v.kind as ErrorKind : "Unknown";
    const message = typeof v.message === "string" ? v.message : String(value);
    return new SluiceError(kind, message, {
      param: typeof v.param === "string" ? v.param : undefined,
      // A code this build does not know is dropped (the kind still carries the meaning).
      code: isErrorCode(v.code) ? v.code : undefined,
    });
  }
}

/** The wire form of a {@linkcode SluiceError}. */
export interface SerializedError {
  /** The error's kind. */
  kind: ErrorKind;
  /** The error's message. */
  message: string;
  /** The offending parameter, when one is known. */
  param?: string;
  /** Short machine-readable code, when one is set. */
  code?: ErrorCode;
}

/** True when `value` is a {@linkcode SluiceError}, optionally of the given kind. */
export function isSluiceError(value: unknown, kind?: ErrorKind): value is SluiceError {
  return value instanceof SluiceError && (kind === undefined || value.kind === kind);
}

/**
 * Maps anything thrown to a {@linkcode SluiceError}: typed errors pass through;
 * `TypeError`/`RangeError` become `InvalidArgument`; timeouts become
 * `ConnectionTimeout`; `AbortError` becomes `Cancelled`; the rest `Unknown`.
 * The message is kept and the original is the `cause`.
 */
export function toSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (error instanceof Error) {
    const name = error.name;
    let kind: ErrorKind = "Unknown";
    if (error instanceof TypeError || error instanceof RangeError) kind = "InvalidArgument";
    else if (name === "TimeoutError") kind = "ConnectionTimeout";
    else if (name === "AbortError") kind = "Cancelled";
    return new SluiceError(kind, error.message, { cause: error });
  }
  return new SluiceError("Unknown", String(error), { cause: error });
}

/** The HTTP status the frontend answers for each kind. */
export function httpStatusFor(kind: ErrorKind): number {
  switch (kind) {
    case "InvalidArgument":
      return 400;
    case "CannotConnect":
    case "EngineShutdown":
    case "Disconnected":
    case "StreamIncomplete":
      return 503;
    case "ConnectionTimeout":
    case "ResponseTimeout":
      return 504;
    default:
      return 500;
  }
}
