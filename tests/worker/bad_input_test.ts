import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSluiceError } from "../../mod.ts";
import { MAX_PROMPT_TOKENS, parseGenerateRequest } from "../../src/entries/testing.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { startEmbeddedWorker, waitUntil } from "../fixtures/embedded_worker.ts";

const GOOD = { token_ids: [1, 2, 3], model: "sample-model", stop_conditions: { max_tokens: 2 } };

const BAD: [string, unknown, string][] = [
  ["missing token_ids", { model: "m" }, "token_ids"],
  ["empty token_ids", { token_ids: [], model: "m" }, "token_ids"],
  ["token_ids of strings", { token_ids: ["a"], model: "m" }, "token_ids.0"],
  ["negative token id", { token_ids: [-1], model: "m" }, "token_ids.0"],
  ["fractional token id", { token_ids: [1.5], model: "m" }, "token_ids.0"],
  [
    "huge token_ids array",
    { token_ids: new Array(MAX_PROMPT_TOKENS + 1).fill(1), model: "m" },
    "token_ids",
  ],
  [
    "negative max_tokens",
    { ...GOOD, stop_conditions: { max_tokens: -1 } },
    "stop_conditions.max_tokens",
  ],
  [
    "string max_tokens",
    { ...GOOD, stop_conditions: { max_tokens: "8" } },
    "stop_conditions.max_tokens",
  ],
  [
    "temperature out of range",
    { ...GOOD, sampling_options: { temperature: -0.5 } },
    "sampling_options.temperature",
  ],
  ["top_p zero", { ...GOOD, sampling_options: { top_p: 0 } }, "sampling_options.top_p"],
  ["two guided modes", {
    ...GOOD,
    sampling_options: { guided_decoding: { regex: "a", choice: ["a"] } },
  }, "sampling_options.guided_decoding"],
  ["logprobs over 20", { ...GOOD, output_options: { logprobs: 21 } }, "output_options.logprobs"],
  ["missing model", { token_ids: [1] }, "model"],
  ["unknown field", { ...GOOD, prompt: "hello" }, "request"],
  ["not an object", "hello", "request"],
  ["null", null, "request"],
];

describe("request validation", () => {
  for (const [name, payload, param] of BAD) {
    it(`rejects ${name} as InvalidArgument naming ${param}`, () => {
      assert.throws(() => parseGenerateRequest(payload), (error: unknown) => {
        assert.ok(isSluiceError(error, "InvalidArgument"), String(error));
        assert.equal(error.param, param);
        assert.match(error.message, /^Cannot accept request: /);
        return true;
      });
    });
  }

  it("fills defaults for a minimal request", () => {
    const req = parseGenerateRequest({ token_ids: [5], model: "m" });
    assert.deepEqual(req.stop_conditions, {});
    assert.deepEqual(req.eos_token_ids, []);
  });

  it("the worker refuses every bad request before streaming and keeps serving", async () => {
    await using w = await startEmbeddedWorker(new SampleEngine({ delayMs: 0 }));
    for (const [name, payload, param] of BAD) {
      await assert.rejects(w.call(payload), (error: unknown) => {
        assert.ok(isSluiceError(error, "InvalidArgument"), `${name}: ${error}`);
        assert.equal(error.param, param);
        return true;
      });
    }
    await assert.rejects(
      w.call({ ...GOOD, token_ids: new Array(2049).fill(7) }),
      (error: unknown) =>
        isSluiceError(error, "InvalidArgument") && error.code === "context_length_exceeded",
    );
    const chunks = [];
    for await (const chunk of await w.call(GOOD)) chunks.push(chunk);
    assert.deepEqual(chunks.map((c) => c.token_ids), [[1], [2]]);
    await waitUntil(() => w.worker.inflight === 0, 1000, "the request to end");
    assert.match(
      w.worker.metrics.render(),
      /sluice_worker_rejected_requests_total\{[^}]*reason="invalid_argument"[^}]*\} 17/,
    );
  });
});
