/**
 * Access control of the OpenAI frontend, as vLLM does it: an optional API key checked as a
 * Bearer token (401 with an OpenAI error body), public paths that stay open (`/health`,
 * `/live`, `/metrics` by default), CORS only for the origins allowed, and request bodies
 * accepted only as JSON, so that a `text/plain` POST from any web page (a "simple" request
 * that browsers send without a preflight) never reaches tokenization or an engine.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { errorResponse, openAIError } from "./openai_error.ts";

/** Paths that need no API key unless configured otherwise. */
export const DEFAULT_PUBLIC_PATHS: readonly string[] = Object.freeze([
  "/health",
  "/live",
  "/metrics",
]);

/** Options of {@linkcode accessControl}. */
export interface AccessControlOptions {
  /** When set, every path except `publicPaths` MUST carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Paths open without a key (default {@linkcode DEFAULT_PUBLIC_PATHS}); exact matches. */
  publicPaths?: readonly string[];
  /**
   * Origins allowed by CORS (`["*"]` for any). Absent or empty: no CORS headers, so
   * browsers on other origins cannot read responses or send JSON requests.
   */
  allowedOrigins?: readonly string[];
}

const encoder = new TextEncoder();

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(1, y.length)] ?? 0);
  return diff === 0;
}

/** True when `contentType` names JSON (`application/json`, any parameters, or `…+json`). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/**
 * The middleware chain, in order: CORS (answers preflights), the API key check, the JSON
 * body check on POST.
 */
export function accessControl(options: AccessControlOptions): MiddlewareHandler[] {
  const chain: MiddlewareHandler[] = [];
  const origins = options.allowedOrigins ?? [];
  if (origins.length > 0) {
    chain.push(cors({
      origin: origins.includes("*") ? "*" : [...origins],
      allowMethods: ["GET", "POST", "OPTIONS"],
      allowHeaders: ["authorization", "content-type", "traceparent", "x-worker-instance-id"],
      maxAge: 600,
    }));
  }
  const apiKey = options.apiKey;
  if (apiKey !== undefined && apiKey !== "") {
    const open = new Set(options.publicPaths ?? DEFAULT_PUBLIC_PATHS);
    chain.push(async (c, next) => {
      if (c.req.method === "OPTIONS" || open.has(c.req.path)) return await next();
      const header = c.req.header("authorization") ?? "";
      const match = /^Bearer\s+(.+)$/i.exec(header.trim());
      if (match === null || !sameSecret(match[1], apiKey)) {
        const response = errorResponse(
          openAIError(
            401,
            match === null
              ? "Unauthorized: this server requires an API key (Authorization: Bearer <key>)"
              : "Unauthorized: incorrect API key provided",
            { code: "invalid_api_key" },
          ),
        );
        response.headers.set("www-authenticate", "Bearer");
        return response;
      }
      await next();
    });
  }
  chain.push(async (c, next) => {
    if (c.req.method === "POST" && !isJsonContentType(c.req.header("content-type"))) {
      const got = c.req.header("content-type");
      return errorResponse(
        openAIError(
          415,
          `Invalid request: the body must be JSON (content-type: application/json), got ${
            got === undefined ? "no content-type" : JSON.stringify(got)
          }`,
          { code: "unsupported_media_type" },
        ),
      );
    }
    await next();
  });
  return chain;
}
