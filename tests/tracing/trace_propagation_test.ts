/**
 * Tracing: the frontend's span per request is a child of the client's `traceparent` and the
 * parent of the worker's `engine.generate` span, through the header the request plane carries.
 * An in-memory OpenTelemetry provider records the spans of an embedded stack (frontend, request
 * plane and worker in one process); the cross-process link is checked in tests/distributed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { trace, TraceFlags } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { createEmbeddedStack, type EmbeddedStack } from "../../src/serve/embedded_stack.ts";
import { parseTraceparent } from "../../src/tracing/trace_context.ts";

const CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN = "b7ad6b7169203331";

describe("parseTraceparent", () => {
  it("reads a valid header", () => {
    assert.deepEqual(parseTraceparent(`00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`), {
      traceId: CLIENT_TRACE,
      spanId: CLIENT_SPAN,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
  });

  it("refuses malformed headers and all-zero ids", () => {
    for (
      const bad of [
        undefined,
        "",
        "00-xyz",
        `01-${CLIENT_TRACE}-${CLIENT_SPAN}-01x`,
        `00-${"0".repeat(32)}-${CLIENT_SPAN}-01`,
        `00-${CLIENT_TRACE}-${"0".repeat(16)}-01`,
      ]
    ) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});

describe("spans across frontend and worker", () => {
  const exporter = new InMemorySpanExporter();
  let stack: EmbeddedStack;

  before(async () => {
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    assert.ok(trace.setGlobalTracerProvider(provider), "no other provider is registered");
    stack = await createEmbeddedStack({ engine: SampleEngine, engineArgs: ["--delay-ms", "0"] });
  });

  after(async () => {
    await stack?.shutdown();
    trace.disable();
  });

  const chat = (headers: Record<string, string>) =>
    stack.frontend.fetch(
      new Request("http://local/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({
          model: "sample-model",
          messages: [{ role: "user", content: "hi" }],
          max_tokens: 3,
        }),
      }),
    );

  it("links client → frontend span → engine.generate span", async () => {
    exporter.reset();
    const res = await chat({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    assert.equal(res.status, 200);
    await res.json();
    const spans = exporter.getFinishedSpans();
    const frontend = spans.find((s) => s.name === "POST /v1/chat/completions");
    const worker = spans.find((s) => s.name === "engine.generate");
    assert.ok(frontend && worker, `spans: ${spans.map((s) => s.name).join(", ")}`);
    assert.equal(frontend.spanContext().traceId, CLIENT_TRACE);
    assert.equal(frontend.parentSpanContext?.spanId, CLIENT_SPAN);
    assert.equal(worker.spanContext().traceId, CLIENT_TRACE);
    assert.equal(worker.parentSpanContext?.spanId, frontend.spanContext().spanId);
    assert.equal(frontend.attributes["gen_ai.usage.output_tokens"], 3);
  });

  it("starts a new trace when the client sends none", async () => {
    exporter.reset();
    const res = await chat({});
    await res.json();
    const spans = exporter.getFinishedSpans();
    const frontend = spans.find((s) => s.name === "POST /v1/chat/completions")!;
    const worker = spans.find((s) => s.name === "engine.generate")!;
    assert.equal(frontend.parentSpanContext, undefined);
    assert.equal(worker.spanContext().traceId, frontend.spanContext().traceId);
    assert.equal(worker.parentSpanContext?.spanId, frontend.spanContext().spanId);
  });
});
