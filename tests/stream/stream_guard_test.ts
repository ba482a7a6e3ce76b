import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStreamGuard, engineStream } from "../../src/entries/testing.ts";
import { type GenerateChunk, isSluiceError } from "../../mod.ts";

async function collect(stream: ReadableStream<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe("engineStream", () => {
  it("forwards chunks, fills missing usage, normalises abort to cancelled", async () => {
    async function* gen() {
      yield { token_ids: [1, 2], index: 0 };
      yield { token_ids: [3], index: 0, finish_reason: "abort" } as unknown as GenerateChunk;
    }
    const out = await collect(engineStream(gen(), { promptTokens: 4 }));
    assert.equal(out[1].finish_reason, "cancelled");
    assert.deepEqual(out[1].completion_usage, {
      prompt_tokens: 4,
      completion_tokens: 3,
      total_tokens: 7,
    });
  });

  it("corrects a wrong completion_tokens and reports the violation", async () => {
    async function* gen(): AsyncGenerator<GenerateChunk> {
      yield { token_ids: [1], index: 0 };
      yield {
        token_ids: [2],
        index: 0,
        finish_reason: "length",
        completion_usage: { prompt_tokens: 1, completion_tokens: 9, total_tokens: 10 },
      };
    }
    const { promise: ended, resolve } = Promise.withResolvers<string[]>();
    const out = await collect(
      engineStream(gen(), { promptTokens: 1, onEnd: (_, s) => resolve(s.violations) }),
    );
    assert.equal(out[1].completion_usage?.completion_tokens, 2);
    assert.equal(out[1].completion_usage?.total_tokens, 3);
    assert.deepEqual(await ended, ["completion_tokens 9 != 2 tokens streamed"]);
  });

  it("stops at the first terminal, runs the engine's finally, drops what follows", async () => {
    let finallyRan = false;
    async function* gen(): AsyncGenerator<GenerateChunk> {
      try {
        yield { token_ids: [1], index: 0, finish_reason: "stop" };
        yield { token_ids: [2], index: 0 };
      } finally {
        finallyRan = true;
      }
    }
    let end: string | undefined;
    const out = await collect(
      engineStream(gen(), { promptTokens: 1, onEnd: (e) => (end = e.kind) }),
    );
    assert.deepEqual(out.map((c) => c.token_ids), [[1]]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(finallyRan, true);
    assert.equal(end, "done");
  });

  it("a source without a terminal errors with StreamIncomplete; thrown errors are typed", async () => {
    async function* noTerminal(): AsyncGenerator<GenerateChunk> {
      yield { token_ids: [1], index: 0 };
    }
    await assert.rejects(
      collect(engineStream(noTerminal(), { promptTokens: 1 })),
      (e: unknown) => isSluiceError(e, "StreamIncomplete"),
    );
    async function* throws(): AsyncGenerator<GenerateChunk> {
      yield { token_ids: [1], index: 0 };
      throw new RangeError("bad top_k");
    }
    let end: unknown;
    await assert.rejects(
      collect(engineStream(throws(), { promptTokens: 1, onEnd: (e) => (end = e) })),
      (e: unknown) => isSluiceError(e, "InvalidArgument") && e.message === "bad top_k",
    );
    assert.equal((end as { kind: string }).kind, "error");
  });

  it("a malformed chunk is an error", async () => {
    async function* gen() {
      yield { tokens: [1] } as unknown as GenerateChunk;
    }
    await assert.rejects(collect(engineStream(gen(), { promptTokens: 1 })), /token_ids array/);
  });

  it("reports onEnd once the consumer took the terminal, without another read", async () => {
    async function* gen(): AsyncGenerator<GenerateChunk> {
      yield { token_ids: [1], index: 0 };
      yield { token_ids: [], index: 0, finish_reason: "length" };
    }
    const { promise: ended, resolve } = Promise.withResolvers<string>();
    let endedEarly = false;
    const reader = engineStream(gen(), {
      promptTokens: 1,
      onEnd: (e) => {
        endedEarly = !tookTerminal;
        resolve(e.kind);
      },
    }).getReader();
    let tookTerminal = false;
    assert.equal((await reader.read()).value?.finish_reason, undefined);
    assert.equal((await reader.read()).value?.finish_reason, "length");
    tookTerminal = true;
    reader.releaseLock();
    assert.equal(await ended, "done");
    assert.equal(endedEarly, false, "not before the consumer received the terminal");
  });
});

describe("createStreamGuard", () => {
  it("applies the same rules in a pipe", async () => {
    const guard = createStreamGuard({ promptTokens: 2 });
    const source = ReadableStream.from<GenerateChunk>([
      { token_ids: [5], index: 0 },
      { token_ids: [], index: 0, finish_reason: "eos" },
      { token_ids: [6], index: 0 },
    ]);
    const out = await collect(source.pipeThrough(guard.stream));
    assert.equal(out.length, 2);
    assert.equal(guard.stats.completionTokens, 1);
    const bad = ReadableStream.from<GenerateChunk>([{ token_ids: [5], index: 0 }]);
    await assert.rejects(
      collect(bad.pipeThrough(createStreamGuard({ promptTokens: 1 }).stream)),
      (e: unknown) => isSluiceError(e, "StreamIncomplete"),
    );
  });
});
