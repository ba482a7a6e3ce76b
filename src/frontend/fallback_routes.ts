/**
 * The frontend's fallbacks, mounted after every route: 405 for a wrong method on a
 * known path, 404 for an unknown path, and the OpenAI-style body for an unhandled
 * error.
 *
 * @module
 */
import type { Hono } from "hono";
import { ErrorCode } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import { errorResponse, httpErrorFrom, openAIError } from "./openai_error.ts";

/** The paths the frontend serves; another method on one of them is a 405. */
const KNOWN_PATHS = [
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/models",
  "/health",
  "/live",
  "/metrics",
] as const;

/**
 * Mounts the fallbacks. MUST be called after the routes: a 405 route mounted first
 * would shadow them. Every answer is an OpenAI-style error body.
 */
export function mountFallbacks(app: Hono, logger: Logger | undefined): void {
  for (const path of KNOWN_PATHS) {
    app.all(
      path,
      (c) =>
        errorResponse(openAIError(405, `Method ${c.req.method} is not allowed on ${path}`, {
          code: ErrorCode.MethodNotAllowed,
        })),
    );
  }
  app.notFound((c) =>
    errorResponse(openAIError(404, `Not found: ${c.req.method} ${new URL(c.req.url).pathname}`, {
      code: ErrorCode.NotFound,
    }))
  );
  app.onError((error) => {
    logger?.error("unhandled frontend error", { error: String(error) });
    return errorResponse(httpErrorFrom(error));
  });
}
