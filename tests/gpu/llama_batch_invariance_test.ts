/**
 * A sequence's logits MUST NOT depend on how many sequences share a decode step: the Llama
 * decode step on `webgpu` with its default kernels (token-batched GEMV for m > 1, per-sequence
 * attention, per-row norms) gives each sequence of a batch of 8 (one pass of 8 tokens) and of
 * 5 (a partial pass) the same logits, bit for bit, as that sequence decoded alone, step after
 * step, so greedy outputs do not change with the batch.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "./_device.ts";
import type { Backend } from "../../src/gpu/ops/backend.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { smallLlamaConfig } from "./_llama_config.ts";
import {
  createLlamaDecodeStep,
  releaseLlamaWeights,
} from "../../src/gpu/llama/llama_decode_step.ts";
import { randomLlamaWeights } from "../../src/gpu/llama/llama_random_weights.ts";

const device = await acquireTestDevice();
const STEPS = 4;
const BLOCKS = 4; // per sequence

const CONFIG = smallLlamaConfig("q8_0", { maxBlocks: BLOCKS });

/** Start tokens of sequences 0…7. */
const START = [5, 17, 3, 99, 42, 7, 64, 120];

/**
 * Decodes `seqs` (indices into START) together for STEPS greedy steps and returns each step's
 * logits, `[STEPS][seqs.length × vocab]`.
 */
async function decode(backend: Backend, seqs: readonly number[]): Promise<Float32Array[]> {
  const weights = randomLlamaWeights(backend, CONFIG, { layers: 2, seed: 1 });
  const b = seqs.length;
  const step = createLlamaDecodeStep(backend, { config: CONFIG, weights }, {
    blockTable: Uint32Array.from({ length: b * BLOCKS }, (_, i) => i),
    numBlocks: b * BLOCKS,
    maxSteps: STEPS,
    sampling: seqs.map((seed) => ({ temperature: 0, topK: 0, topP: 1, seed })),
  });
  try {
    step.reset(Uint32Array.from(seqs, (s) => START[s]), new Uint32Array(b));
    const logits: Float32Array[] = [];
    for (let i = 0; i < STEPS; i++) {
      step.encode();
      logits.push((await backend.read(step.logits)) as Float32Array);
    }
    return logits;
  } finally {
    step.release();
    releaseLlamaWeights(backend, weights);
  }
}

describe("llama decode step: batch invariance on webgpu", { skip: device.skip }, () => {
  it("each sequence's logits at batch 8 and 5 equal its logits decoded alone, bit for bit", {
    timeout: 120_000,
  }, async () => {
    const backend = createWebGpuBackend(new KernelRuntime(device.context!), { fused: true });
    try {
      const v = CONFIG.vocab;
      const alone: Float32Array[][] = [];
      for (let s = 0; s < 8; s++) alone.push(await decode(backend, [s]));
      for (const seqs of [[0, 1, 2, 3, 4, 5, 6, 7], [3, 0, 7, 5, 1]]) {
        const together = await decode(backend, seqs);
        for (let i = 0; i < STEPS; i++) {
          seqs.forEach((s, row) => {
            const got = new Uint32Array(together[i].slice(row * v, (row + 1) * v).buffer);
            const want = new Uint32Array(alone[s][i].buffer);
            const at = got.findIndex((x, j) => x !== want[j]);
            assert.equal(at, -1, `batch ${seqs.length}, step ${i}, sequence ${s}: logit ${at}`);
          });
        }
      }
      // Not vacuous: the sequences' logits differ from each other.
      assert.notDeepEqual(alone[0][STEPS - 1], alone[1][STEPS - 1]);
    } finally {
      backend.destroy();
    }
  });
});
