/**
 * OpenAI-style error bodies, and the one place where Sluice errors become HTTP
 * statuses at the edge: `{"error": {"message", "type", "param", "code"}}`.
 *
 * @module
 */
import {
  ErrorCode,
  httpStatusFor,
  type SluiceError,
  toSluiceError,
} from "../errors/sluice_error.ts";

/** The JSON body of an OpenAI error response. */
export interface OpenAIErrorBody {
  /** The error: human-readable message, OpenAI type, offending param and code. */
  error: {
    message: string;
    type: string;
    param?: string | null;
    code: string | number | null;
  };
}

/** An error as the frontend answers it: status and body. */
export interface HttpError {
  /** HTTP status. */
  status: number;
  /** JSON body. */
  body: OpenAIErrorBody;
}

/** The exact body of the admission refusal when every worker is busy (Dynamo's). */
export const ALL_WORKERS_BUSY_BODY: OpenAIErrorBody = Object.freeze({
  error: Object.freeze({
    message: "Service temporarily unavailable: all workers are busy",
    type: "service_unavailable",
    code: 503,
  }),
});

/** The OpenAI error `type` for an HTTP status. */
export function errorTypeFor(status: number): string {
  if (status === 503) return "service_unavailable";
  if (status === 504) return "timeout_error";
  if (status >= 500) return "internal_server_error";
  if (status === 401) return "authentication_error";
  return "invalid_request_error";
}

/**
 * Builds an error body.
 *
 * @example
 * ```ts
 * import { openAIError } from "./openai_error.ts";
 * const { body } = openAIError(400, "Invalid request: model is required", { param: "model" });
 * console.assert(body.error.type === "invalid_request_error" && body.error.param === "model");
 * ```
 */
export function openAIError(
  status: number,
  message: string,
  options: { param?: string; code?: string | number; type?: string } = {},
): HttpError {
  return {
    status,
    body: {
      error: {
        message,
        type: options.type ?? errorTypeFor(status),
        param: options.param ?? null,
        code: options.code ?? null,
      },
    },
  };
}

/** Codes that change the status a kind would get. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.ModelNotFound]: 404,
  [ErrorCode.InstanceNotFound]: 404,
};

/**
 * Maps anything thrown on the request path to status and body: the kind gives the status
 * (`httpStatusFor`), a few codes refine it (unknown model → 404), and the all-busy refusal
 * gets its exact body. Codes are matched by value ({@linkcode ErrorCode}), never by message.
 */
export function httpErrorFrom(error: unknown): HttpError {
  const typed: SluiceError = toSluiceError(error);
  if (typed.code === ErrorCode.AllWorkersBusy) return { status: 503, body: ALL_WORKERS_BUSY_BODY };
  if (typed.code === ErrorCode.WorkerBusy) return openAIError(503, typed.message, { code: 503 });
  const status = (typed.code !== undefined ? STATUS_BY_CODE[typed.code] : undefined) ??
    httpStatusFor(typed.kind);
  return openAIError(status, typed.message, {
    param: typed.param,
    code: typed.code ?? (status >= 500 ? typed.kind : undefined),
  });
}

/** A JSON error `Response`. */
export function errorResponse(error: HttpError): Response {
  return new Response(JSON.stringify(error.body), {
    status: error.status,
    headers: { "content-type": "application/json" },
  });
}
