/**
 * W3C trace context (`traceparent`) for spans that cross processes: the frontend's span per
 * HTTP request is the parent of the worker's `engine.generate` span, linked by the header the
 * request plane carries. Parsing and formatting are done here rather than through
 * `propagation.extract` / `inject`, which are no-ops until an application registers a global
 * propagator: the link MUST hold whenever a tracer provider is registered, and everything MUST
 * stay free (no allocation beyond a non-recording span) when none is.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context as otelContext,
  isSpanContextValid,
  type Span,
  type SpanContext,
  SpanKind,
  trace,
  TraceFlags,
} from "@opentelemetry/api";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Parses a `traceparent` header (version 00). Returns `undefined` for a missing or malformed
 * header, or one with the all-zero trace or span id (invalid per the W3C spec).
 */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  const match = header === undefined ? null : TRACEPARENT.exec(header.trim().toLowerCase());
  if (match === null) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** Formats `span`'s context as a `traceparent` header; `undefined` for an invalid context. */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) ? "01" : "00"}`;
}

/** The context whose parent is the remote span named by `traceparent` (or the active one). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const parent = parseTraceparent(traceparent);
  const active = otelContext.active();
  return parent === undefined ? active : trace.setSpanContext(active, parent);
}

/**
 * Starts a span named `name` as a child of the remote caller named by `traceparent`.
 * The caller MUST end it.
 */
export function startSpanFrom(
  name: string,
  traceparent: string | undefined,
  options: { kind?: SpanKind; attributes?: Attributes } = {},
): Span {
  return trace.getTracer("sluice").startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    contextFromTraceparent(traceparent),
  );
}
