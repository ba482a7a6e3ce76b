/**
 * The shared request-plane suite: every `RequestPlane` runs it. A harness gives
 * a serving plane and a calling plane (the same object for in-process).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { GenerateChunk } from "../../mod.ts";
import type { IncomingRequest, RequestPlane } from "../../src/entries/planes.ts";
import { ErrorCode, isSluiceError, SluiceError } from "../../mod.ts";

/** Planes for one test; `close` tears everything down. */
export interface RequestPlaneHarness {
  server: RequestPlane;
  client: RequestPlane;
  close(): Promise<void>;
  /**
   * Cuts the serving side off as a crashed worker process would: no end marker, no
   * notice. Absent for planes whose both sides share one process's fate (in-process).
   */
  crashServer?(): Promise<void>;
  /** Cuts the calling side off as a crashed frontend would. Absent as for `crashServer`. */
  crashClient?(): Promise<void>;
  /** The largest request the plane carries, where it has a limit. */
  maxRequestBytes?: number;
}

const ENDPOINT = {
  namespace: "test",
  component: "backend",
  endpoint: "generate",
  instanceId: "4660",
};

function chunks(
  n: number,
  signal?: AbortSignal,
  onFinally?: () => void,
): ReadableStream<GenerateChunk> {
  let i = 0;
  return new ReadableStream<GenerateChunk>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (signal?.aborted) {
        controller.enqueue({ token_ids: [], index: 0, finish_reason: "cancelled" });
        controller.close();
        onFinally?.();
        return;
      }
      i++;
      if (i === n) {
        controller.enqueue({ token_ids: [i], index: 0, finish_reason: "length" });
        controller.close();
        onFinally?.();
      } else {
        controller.enqueue({ token_ids: [i], index: 0 });
      }
    },
    cancel() {
      onFinally?.();
    },
  }, { highWaterMark: 0 });
}

async function waitUntil(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Registers the suite for one implementation. */
export function requestPlaneConformance(
  name: string,
  makeHarness: () => Promise<RequestPlaneHarness>,
): void {
  describe(`${name} request plane (shared suite)`, () => {
    it("streams every chunk in order, with payload, id and headers delivered", async () => {
      const h = await makeHarness();
      try {
        let seen: IncomingRequest | undefined;
        const served = await h.server.serve(ENDPOINT, (req) => {
          seen = req;
          return Promise.resolve(chunks(5));
        });
        const stream = await h.client.call(served.address, { hello: [1, 2] }, {
          id: "req-1",
          headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
        });
        const got: number[][] = [];
        for await (const c of stream) got.push(c.token_ids);
        assert.deepEqual(got, [[1], [2], [3], [4], [5]]);
        assert.deepEqual(seen?.payload, { hello: [1, 2] });
        assert.equal(seen?.id, "req-1");
        assert.equal(
          seen?.headers.traceparent,
          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        await served.close();
      } finally {
        await h.close();
      }
    });

    it("a handler rejection arrives typed before any stream exists", async () => {
      const h = await makeHarness();
      try {
        const served = await h.server.serve(
          ENDPOINT,
          () =>
            Promise.reject(
              new SluiceError("InvalidArgument", "Cannot accept request: token_ids is empty", {
                param: "token_ids",
              }),
            ),
        );
        await assert.rejects(h.client.call(served.address, {}), (e: unknown) => {
          assert.ok(isSluiceError(e, "InvalidArgument"));
          assert.equal(e.param, "token_ids");
          assert.match(e.message, /token_ids is empty/);
          return true;
        });
      } finally {
        await h.close();
      }
    });

    it("an error mid-stream arrives typed after the chunks sent before it", async () => {
      const h = await makeHarness();
      try {
        const served = await h.server.serve(ENDPOINT, () =>
          Promise.resolve(
            new ReadableStream<GenerateChunk>(
              {
                pulls: 0,
                pull(controller) {
                  if (this.pulls++ === 0) controller.enqueue({ token_ids: [7], index: 0 });
                  else {controller.error(
                      new SluiceError("EngineShutdown", "Cannot generate: engine crashed"),
                    );}
                },
              } as UnderlyingDefaultSource<GenerateChunk> & { pulls: number },
              { highWaterMark: 0 },
            ),
          ));
        const got: number[] = [];
        await assert.rejects(async () => {
          for await (const c of await h.client.call(served.address, {})) got.push(...c.token_ids);
        }, (e: unknown) => isSluiceError(e, "EngineShutdown"));
        assert.deepEqual(got, [7]);
      } finally {
        await h.close();
      }
    });

    for (const mode of ["stop", "kill"] as const) {
      it(`${mode}() fires the worker's request signal with reason code "${mode}"`, async () => {
        const h = await makeHarness();
        try {
          let signal: AbortSignal | undefined;
          const served = await h.server.serve(ENDPOINT, (req) => {
            signal = req.signal;
            return Promise.resolve(chunks(100_000, req.signal));
          });
          const stream = await h.client.call(served.address, {});
          const it = stream[Symbol.asyncIterator]();
          await it.next();
          stream[mode]();
          await waitUntil(() => signal?.aborted === true, 1000);
          assert.equal((signal!.reason as SluiceError).code, mode);
          let last: GenerateChunk | undefined;
          for (let r = await it.next(); !r.done; r = await it.next()) last = r.value;
          assert.equal(last?.finish_reason, "cancelled");
        } finally {
          await h.close();
        }
      });
    }

    it("aborting the call's signal reaches the worker as a disconnect", async () => {
      const h = await makeHarness();
      try {
        let signal: AbortSignal | undefined;
        const served = await h.server.serve(ENDPOINT, (req) => {
          signal = req.signal;
          return Promise.resolve(chunks(100_000, req.signal));
        });
        const caller = new AbortController();
        const stream = await h.client.call(served.address, {}, { signal: caller.signal });
        const it = stream[Symbol.asyncIterator]();
        await it.next();
        caller.abort();
        await waitUntil(() => signal?.aborted === true, 1000);
        assert.equal((signal!.reason as SluiceError).code, "disconnect");
        await it.return?.();
      } finally {
        await h.close();
      }
    });

    it("a consumer that stops reading ends the worker's stream without firing its signal", async () => {
      const h = await makeHarness();
      try {
        let signal: AbortSignal | undefined;
        let ended = false;
        const served = await h.server.serve(ENDPOINT, (req) => {
          signal = req.signal;
          return Promise.resolve(chunks(100_000, req.signal, () => (ended = true)));
        });
        for await (const _ of await h.client.call(served.address, {})) break;
        await waitUntil(() => ended, 2000);
        assert.equal(signal?.aborted, false);
      } finally {
        await h.close();
      }
    });

    it("a stream that breaks off without its end marker errors with Disconnected", async (t) => {
      const h = await makeHarness();
      try {
        if (h.crashServer === undefined) {
          t.skip("both sides share one process: a worker cannot vanish on its own");
          return;
        }
        const served = await h.server.serve(
          ENDPOINT,
          (req) => Promise.resolve(chunks(100_000, req.signal)),
        );
        const stream = await h.client.call(served.address, {});
        const it = stream[Symbol.asyncIterator]();
        assert.deepEqual((await it.next()).value?.token_ids, [1]);
        await h.crashServer();
        const started = performance.now();
        await assert.rejects(async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) { /* drain */ }
        }, (e: unknown) => isSluiceError(e, "Disconnected"));
        assert.ok(performance.now() - started < 5000, "noticed within a few heartbeats");
      } finally {
        await h.close();
      }
    });

    it("a vanished caller stops the worker's stream (its signal fires as a disconnect)", async (t) => {
      const h = await makeHarness();
      try {
        if (h.crashClient === undefined) {
          t.skip("both sides share one process: a caller cannot vanish on its own");
          return;
        }
        let signal: AbortSignal | undefined;
        let ended = false;
        const served = await h.server.serve(ENDPOINT, (req) => {
          signal = req.signal;
          return Promise.resolve(chunks(100_000, req.signal, () => (ended = true)));
        });
        const stream = await h.client.call(served.address, {});
        const it = stream[Symbol.asyncIterator]();
        await it.next();
        await h.crashClient();
        await waitUntil(() => ended && signal?.aborted === true, 5000);
        assert.equal((signal!.reason as SluiceError).code, "disconnect");
      } finally {
        await h.close();
      }
    });

    it("closing the serving plane fails its open streams with Disconnected", async (t) => {
      const h = await makeHarness();
      try {
        if (h.server === h.client) {
          t.skip("one plane serves and calls: closing it closes the caller too");
          return;
        }
        let signal: AbortSignal | undefined;
        const served = await h.server.serve(ENDPOINT, (req) => {
          signal = req.signal;
          return Promise.resolve(chunks(100_000, req.signal));
        });
        const stream = await h.client.call(served.address, {});
        const it = stream[Symbol.asyncIterator]();
        await it.next();
        await h.server.close();
        await assert.rejects(async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) { /* drain */ }
        }, (e: unknown) => isSluiceError(e, "Disconnected"));
        assert.equal(signal?.aborted, true, "the worker stopped generating");
      } finally {
        await h.close();
      }
    });

    it("a consumer that lags back-pressures the engine instead of buffering without bound", async () => {
      const h = await makeHarness();
      try {
        let pulls = 0;
        const served = await h.server.serve(ENDPOINT, () =>
          Promise.resolve(
            new ReadableStream<GenerateChunk>({
              pull(controller) {
                pulls++;
                controller.enqueue({ token_ids: [pulls], index: 0 });
              },
            }, { highWaterMark: 0 }),
          ));
        const stream = await h.client.call(served.address, {});
        const it = stream[Symbol.asyncIterator]();
        await it.next();
        await new Promise((resolve) => setTimeout(resolve, 300));
        const paused = pulls;
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(pulls, paused, "the engine is not read while the consumer lags");
        assert.ok(paused < 1000, `at most a bounded window is read ahead (${paused})`);
        const got: number[] = [1];
        for (let i = 0; i < 2000; i++) got.push(...(await it.next()).value!.token_ids);
        assert.deepEqual(got, got.map((_, i) => i + 1), "coalesced chunks stay in order");
        await it.return?.();
      } finally {
        await h.close();
      }
    });

    it("error kind, code and param survive, before and during the stream", async () => {
      const h = await makeHarness();
      try {
        const overloaded = await h.server.serve(
          ENDPOINT,
          () =>
            Promise.reject(
              new SluiceError("EngineShutdown", "Cannot accept request: worker overloaded", {
                code: "worker_overloaded",
                param: "queue",
              }),
            ),
        );
        await assert.rejects(h.client.call(overloaded.address, {}), (e: unknown) => {
          assert.ok(isSluiceError(e, "EngineShutdown"));
          assert.equal(e.code, "worker_overloaded");
          assert.equal(e.param, "queue");
          assert.equal(e.message, "Cannot accept request: worker overloaded");
          return true;
        });
        await overloaded.close();
        const failing = await h.server.serve(ENDPOINT, () =>
          Promise.resolve(
            new ReadableStream<GenerateChunk>({
              start(controller) {
                controller.enqueue({ token_ids: [1], index: 0 });
                controller.error(
                  new SluiceError("StreamIncomplete", "Cannot finish: engine lost state", {
                    code: ErrorCode.EngineError,
                  }),
                );
              },
            }),
          ));
        await assert.rejects(async () => {
          for await (const _ of await h.client.call(failing.address, {})) { /* drain */ }
        }, (e: unknown) => {
          assert.ok(isSluiceError(e, "StreamIncomplete"));
          assert.equal(e.code, ErrorCode.EngineError);
          return true;
        });
      } finally {
        await h.close();
      }
    });

    it("a deadline that passes mid-stream fails it with ResponseTimeout and kills the request", async () => {
      const h = await makeHarness();
      try {
        let signal: AbortSignal | undefined;
        const served = await h.server.serve(ENDPOINT, (req) => {
          signal = req.signal;
          return Promise.resolve(
            new ReadableStream<GenerateChunk>({
              async pull(controller) {
                await new Promise((resolve) => setTimeout(resolve, 20));
                controller.enqueue({ token_ids: [1], index: 0 });
              },
            }, { highWaterMark: 0 }),
          );
        });
        const stream = await h.client.call(served.address, {}, { deadline: Date.now() + 200 });
        const started = performance.now();
        await assert.rejects(async () => {
          for await (const _ of stream) { /* drain */ }
        }, (e: unknown) => isSluiceError(e, "ResponseTimeout"));
        assert.ok(performance.now() - started < 2000);
        await waitUntil(() => signal?.aborted === true, 2000);
      } finally {
        await h.close();
      }
    });

    it("a deadline that passes before the worker accepts fails the call with ResponseTimeout", async () => {
      const h = await makeHarness();
      try {
        const served = await h.server.serve(ENDPOINT, (req) =>
          new Promise((_, reject) => {
            req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true });
          }));
        await assert.rejects(
          h.client.call(served.address, {}, { deadline: Date.now() + 100 }),
          (e: unknown) => isSluiceError(e, "ResponseTimeout"),
        );
      } finally {
        await h.close();
      }
    });

    it("a request over the plane's size limit fails with a clear InvalidArgument", async (t) => {
      const h = await makeHarness();
      try {
        if (h.maxRequestBytes === undefined) {
          t.skip("this plane has no request size limit");
          return;
        }
        const served = await h.server.serve(ENDPOINT, () => Promise.resolve(chunks(1)));
        await assert.rejects(
          h.client.call(served.address, { blob: "x".repeat(h.maxRequestBytes + 1) }),
          (e: unknown) => {
            assert.ok(isSluiceError(e, "InvalidArgument"));
            assert.equal(e.code, "request_too_large");
            assert.match(e.message, /max payload/);
            return true;
          },
        );
      } finally {
        await h.close();
      }
    });

    it("calling an endpoint that is not served fails with CannotConnect", async () => {
      const h = await makeHarness();
      try {
        const served = await h.server.serve(ENDPOINT, () => Promise.resolve(chunks(1)));
        const address = served.address;
        await served.close();
        await assert.rejects(
          h.client.call(address, {}),
          (e: unknown) =>
            isSluiceError(e) && (e.kind === "CannotConnect" || e.kind === "Disconnected"),
        );
      } finally {
        await h.close();
      }
    });
  });
}
