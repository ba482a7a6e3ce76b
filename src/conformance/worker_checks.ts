/**
 * Conformance checks that need the runtime around the engine: a silent drop
 * ends the engine's stream (its `finally` runs) without calling `abort`; an
 * explicit stop calls `abort` exactly once; the health payload streams validly.
 *
 * @module
 */
import type { LLMEngine } from "../engine/engine.ts";
import type { RequestContext } from "../engine/request_context.ts";
import { MemoryDiscovery } from "../discovery/memory_discovery.ts";
import { InProcessRequestPlane } from "../request_plane/in_process_request_plane.ts";
import { createLogger } from "../logging/logger.ts";
import { createWorker, type Worker } from "../worker/worker.ts";
import { ConformanceError, ConformanceFailure } from "./conformance_error.ts";
import { consumeChecked } from "./consume_checked.ts";
import { normalizeFinishReason } from "../engine/generate_chunk.ts";

async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/** Runs the runtime-level checks on a fresh, not yet started engine; returns the passed names. */
export async function runWorkerChecks(
  engine: LLMEngine,
  options: { timeoutMs: number },
): Promise<string[]> {
  let aborts = 0;
  const abortCalls = () => aborts;
  const original = engine.abort;
  if (original) {
    engine.abort = (context: RequestContext) => {
      aborts++;
      return original.call(engine, context);
    };
  }
  const plane = new InProcessRequestPlane();
  const discovery = new MemoryDiscovery();
  const worker: Worker = createWorker({
    engine,
    config: { model_name: "conformance" },
    discovery,
    requestPlane: plane,
    logger: createLogger({ level: "off" }),
    timings: { gracePeriodMs: 0, shutdownTimeoutMs: 2_000 },
    healthCanary: false,
  });
  const passed: string[] = [];
  try {
    await worker.start();
    const [entry] = await discovery.list<{ transport: { inprocess: string } }>("v1/instances");
    const model = worker.engineConfig!.model;
    const long = { token_ids: [1, 2, 3], model, stop_conditions: { max_tokens: 10_000 } };

    const dropped = await plane.call(entry.value.transport, long);
    const reader = dropped.readable.getReader();
    await reader.read();
    // Not awaited: an engine whose `finally` hangs must fail the check below, not hang it.
    reader.cancel().catch(() => {});
    if (!(await waitFor(() => worker.inflight === 0, 2000))) {
      throw new ConformanceError(
        ConformanceFailure.DropDidNotFinish,
        "after the consumer stopped reading, the engine stream did not finish within 2 s",
      );
    }
    if (abortCalls() !== 0) {
      throw new ConformanceError(
        ConformanceFailure.AbortCalledOnDrop,
        `abort() was called ${abortCalls()} time(s) on a silent drop`,
      );
    }
    passed.push("silent-drop");

    const stopped = await plane.call(entry.value.transport, long);
    const it = stopped[Symbol.asyncIterator]();
    const first = await it.next();
    stopped.stop();
    stopped.stop();
    const rest = await consumeChecked({ [Symbol.asyncIterator]: () => it }, {
      timeoutMs: 2000,
      what: "stopped request through the worker",
      alreadyCounted: first.done ? 0 : first.value.token_ids.length,
    });
    if (normalizeFinishReason(rest.terminal.finish_reason) !== "cancelled") {
      throw new ConformanceError(
        ConformanceFailure.CancellationIgnored,
        "an explicitly stopped request did not end cancelled",
      );
    }
    // Settle first (the request fully ended, then one more macrotask), so a second call
    // is seen too; then require exactly one.
    await waitFor(() => worker.inflight === 0, 2000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (original && abortCalls() !== 1) {
      throw new ConformanceError(
        ConformanceFailure.AbortNotCalledOnce,
        `abort() was called ${abortCalls()} times on one explicit stop`,
      );
    }
    passed.push("explicit-stop");

    const payload = engine.healthCheckPayload?.();
    if (payload !== undefined) {
      try {
        const health = await plane.call(entry.value.transport, {
          ...payload,
          model: payload.model || model,
          _HEALTH_CHECK: true,
        });
        await consumeChecked(health, {
          timeoutMs: options.timeoutMs,
          what: "health check payload",
        });
      } catch (error) {
        throw new ConformanceError(ConformanceFailure.HealthCheckPayloadInvalid, String(error), {
          cause: error,
        });
      }
      passed.push("health-payload");
    }
  } finally {
    await worker.shutdown();
    await plane.close();
    await discovery.close();
    if (original) engine.abort = original;
  }
  return passed;
}
