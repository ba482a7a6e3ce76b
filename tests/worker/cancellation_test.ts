import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { GenerateChunk, GenerateRequest, LLMEngine, RequestContext } from "../../mod.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { startEmbeddedWorker, waitUntil } from "../fixtures/embedded_worker.ts";

/** The sample engine instrumented: when its signal fired, abort calls, finally runs. */
class ObservedEngine extends SampleEngine implements LLMEngine {
  signalAt: number | undefined;
  signalReason: unknown;
  killed = false;
  aborts: string[] = [];
  finallies = 0;

  constructor() {
    super({ delayMs: 5 });
  }

  override async *generate(
    req: GenerateRequest,
    ctx: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    ctx.signal.addEventListener("abort", () => {
      this.signalAt = performance.now();
      this.signalReason = ctx.signal.reason;
      this.killed = ctx.isKilled();
    }, { once: true });
    try {
      yield* super.generate(req, ctx);
    } finally {
      this.finallies++;
    }
  }

  abort(ctx: RequestContext): Promise<void> {
    this.aborts.push(ctx.id);
    return Promise.resolve();
  }
}

const LONG = {
  token_ids: [1, 2, 3],
  model: "sample-model",
  stop_conditions: { max_tokens: 100_000 },
};

describe("cancellation", () => {
  for (const mode of ["stop", "kill"] as const) {
    it(`${mode} reaches the engine's signal within 50 ms and calls abort once`, async () => {
      const engine = new ObservedEngine();
      await using w = await startEmbeddedWorker(engine);
      const stream = await w.call(LONG, { id: `req-${mode}` });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      const t0 = performance.now();
      stream[mode]();
      stream[mode]();
      await waitUntil(() => engine.signalAt !== undefined, 50, "the engine's signal");
      assert.ok(engine.signalAt! - t0 < 50, `signal after ${engine.signalAt! - t0} ms`);
      assert.equal(engine.killed, mode === "kill");
      const rest: GenerateChunk[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
      assert.equal(rest.at(-1)?.finish_reason, "cancelled");
      await waitUntil(() => w.worker.inflight === 0, 1000, "the stream to end");
      assert.deepEqual(engine.aborts, [`req-${mode}`]);
      assert.equal(engine.finallies, 1);
    });
  }

  it("a caller signal (disconnect) kills the request and calls abort once", async () => {
    const engine = new ObservedEngine();
    await using w = await startEmbeddedWorker(engine);
    const caller = new AbortController();
    const stream = await w.call(LONG, { id: "req-dc", signal: caller.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    caller.abort();
    await waitUntil(() => engine.signalAt !== undefined, 50, "the engine's signal");
    assert.equal(engine.killed, true);
    for (let r = await it.next(); !r.done; r = await it.next());
    await waitUntil(() => w.worker.inflight === 0, 1000, "the stream to end");
    assert.deepEqual(engine.aborts, ["req-dc"]);
  });

  it("a silent drop runs the engine's finally and never calls abort", async () => {
    const engine = new ObservedEngine();
    await using w = await startEmbeddedWorker(engine);
    const stream = await w.call(LONG);
    for await (const _ of stream) break;
    await waitUntil(() => engine.finallies === 1, 1000, "the engine's finally");
    await waitUntil(() => w.worker.inflight === 0, 1000, "in-flight to drop");
    assert.equal(engine.signalAt, undefined);
    assert.deepEqual(engine.aborts, []);
  });

  it("counts cancellations in metrics", async () => {
    const engine = new ObservedEngine();
    await using w = await startEmbeddedWorker(engine);
    const stream = await w.call(LONG);
    stream.kill();
    for await (const _ of stream);
    await waitUntil(() => w.worker.inflight === 0, 1000, "the stream to end");
    assert.match(
      w.worker.metrics.render(),
      /sluice_worker_cancellation_total\{[^}]*reason="kill"[^}]*\} 1/,
    );
    const stopped = await w.call(LONG);
    stopped.stop();
    for await (const _ of stopped);
    await waitUntil(() => w.worker.inflight === 0, 1000, "the stream to end");
    assert.match(
      w.worker.metrics.render(),
      /sluice_worker_cancellation_total\{[^}]*reason="stop"[^}]*\} 1/,
    );
  });
});
