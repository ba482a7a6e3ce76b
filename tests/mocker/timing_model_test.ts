import { test } from "node:test";
import assert from "node:assert/strict";
import {
  iterationMs,
  predictDecodeMs,
  predictPrefillMs,
} from "../../engines/mocker/timing_model.ts";

test("the timing model reproduces CONTRACT.md §8's reference values", () => {
  assert.equal(predictPrefillMs(1024).toFixed(4), "32.4907");
  assert.equal(predictPrefillMs(4096).toFixed(4), "85.7560");
  assert.equal(predictDecodeMs(0.5).toFixed(2), "26.31");
  assert.equal(predictDecodeMs(1).toFixed(2), "34.01");
  assert.equal(predictPrefillMs(0), 0);
  assert.equal(predictDecodeMs(0), 5.74);
  // The decode fit is floored at 1.0 ms (it turns negative past p ≈ 2.2).
  assert.equal(predictDecodeMs(2.5), 1.0);
});

test("an iteration sleeps prefill plus decode time divided by the speedup ratio", () => {
  assert.equal(iterationMs(1024, 0, 0.5, 1), predictPrefillMs(1024));
  assert.equal(iterationMs(0, 3, 0.5, 1), predictDecodeMs(0.5));
  assert.equal(iterationMs(1024, 3, 0.5, 2), (predictPrefillMs(1024) + predictDecodeMs(0.5)) / 2);
  assert.equal(iterationMs(4096, 8, 1, 0), 0); // speedup 0: no simulated delay
});
