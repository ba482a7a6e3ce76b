/**
 * The logits probe the llama backend tests share: on a backend, upload a checkpoint, prefill
 * PROBE_PROMPT[0..8) (logits of its last row) then decode PROBE_PROMPT[8..10) as one two-row step,
 * through KV blocks scattered in the block table, and return the three logit rows flattened.
 * Everything uploaded is released before it returns.
 */
import type { Backend } from "../../src/gpu/ops/backend.ts";
import type { LlamaCheckpoint } from "../../src/model/llama_config.ts";
import {
  createKvCachePool,
  createLlamaBatchRunner,
} from "../../src/gpu/llama/llama_batch_runner.ts";
import { uploadLlamaCheckpoint } from "../../src/model/llama_upload.ts";
import { releaseLlamaWeights } from "../../src/gpu/llama/llama_decode_step.ts";

/** The prompt of the probe. */
export const PROBE_PROMPT = [1, 40, 77, 12, 300, 5, 5, 91, 150, 33];

/** KV geometry of the probe (pass it to `llamaKernelConfig` when a backend needs a config). */
export const PROBE_GEOMETRY = { blockSize: 4, maxBlocks: 4 } as const;

/** The probe's logits on `backend` (the backend stays the caller's). */
export async function probeLogits(
  backend: Backend,
  checkpoint: LlamaCheckpoint,
): Promise<number[]> {
  const model = uploadLlamaCheckpoint(backend, checkpoint, PROBE_GEOMETRY);
  const pool = createKvCachePool(backend, model.config, {
    layers: checkpoint.config.layers,
    numBlocks: 6,
  });
  const runner = createLlamaBatchRunner(backend, model, pool);
  const blockTable = new Uint32Array([5, 1, 3, 0]);
  try {
    const prefill = await runner.run({
      ids: Uint32Array.from(PROBE_PROMPT.slice(0, 8)),
      positions: Uint32Array.from({ length: 8 }, (_, i) => i),
      tokenSeq: new Uint32Array(8),
      blockTable,
      logitRows: [7],
    });
    const step = await runner.run({
      ids: Uint32Array.from(PROBE_PROMPT.slice(8)),
      positions: new Uint32Array([8, 9]),
      tokenSeq: new Uint32Array(2),
      blockTable,
      logitRows: [0, 1],
    });
    return [...prefill, ...step];
  } finally {
    runner.release();
    pool.release();
    releaseLlamaWeights(backend, model.weights);
  }
}
