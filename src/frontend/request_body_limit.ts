/**
 * The request body limit of the generation endpoints: a body over the limit gets
 * 413 `request_too_large` before it is read whole.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ErrorCode } from "../errors/sluice_error.ts";
import type { FrontendMetrics } from "./frontend_metrics.ts";
import { errorResponse, openAIError } from "./openai_error.ts";

/** Default request body limit: 8 MiB (a long-context prompt is well under). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * The body-limit middleware: over `maxBodyBytes` (default
 * {@linkcode DEFAULT_MAX_BODY_BYTES}) it MUST answer 413 with an OpenAI-style body
 * and count the error (`request_too_large`, no model).
 */
export function requestBodyLimit(
  maxBodyBytes: number | undefined,
  metrics: FrontendMetrics,
): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    onError: () => {
      metrics.errors.inc({ model: "", error_type: "request_too_large" });
      return errorResponse(
        openAIError(
          413,
          `Invalid request: the body exceeds ${maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`,
          {
            code: ErrorCode.RequestTooLarge,
          },
        ),
      );
    },
  });
}
