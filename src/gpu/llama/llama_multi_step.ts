/**
 * Multi-step greedy decode over an engine's KV pool: the Llama decode step
 * ({@link createLlamaDecodeStep}) captured into a {@link DecodePlan} per batch size, bound to
 * the pool's per-layer caches, so K decode steps of T sequences run in one submit with the
 * sampled ids fed back on the GPU and ONE readback of the `[K, T]` ids. The engine's scheduler
 * uses it when every running sequence is decoding greedily: each sequence's block table MUST
 * already cover the K positions the run writes (`positions[t] .. positions[t] + K - 1`).
 *
 * The GPU sampler at temperature 0 is the host's greedy rule (largest logit, lowest index on a
 * tie), and the captured step issues the same ops at the same row count as the batch runner's
 * decode step, so the ids equal those of K single steps. Tokens sampled after a sequence's
 * stop are the caller's to discard; the KV they wrote lies past the sequence's computed
 * tokens, in blocks the caller frees or overwrites.
 *
 * @example
 * ```ts ignore
 * const decoder = createLlamaMultiStepDecoder(backend, model, pool, { maxSteps: 16 });
 * const ids = await decoder.run({ ids, positions, blockTable }, 8); // [8, T]
 * decoder.release();
 * ```
 */
import type { CapturingBackend } from "../ops/backend.ts";
import type { DecodePlan } from "../ops/decode_plan.ts";
import type { KvCachePool } from "./llama_batch_runner.ts";
import {
  createLlamaDecodeStep,
  type LlamaDecodeStep,
  type LlamaModel,
} from "./llama_decode_step.ts";

/** Steps per run at most (default of {@link createLlamaMultiStepDecoder}). */
export const DEFAULT_MULTI_STEPS = 16;

/** Captured plans kept (one per batch size, least recently used dropped). */
const KEEP_PLANS = 4;

/** One multi-step run's inputs (T sequences). */
export interface MultiStepBatch {
  /** `[T]` the token each sequence feeds next (its KV is not yet computed). */
  readonly ids: Uint32Array;
  /** `[T]` the position of that token. */
  readonly positions: Uint32Array;
  /** `[T, config.maxBlocks]` physical blocks, covering every position the run writes. */
  readonly blockTable: Uint32Array;
}

/** Runs K greedy decode steps per submit. */
export interface LlamaMultiStepDecoder {
  /** Most steps per {@link LlamaMultiStepDecoder.run}. */
  readonly maxSteps: number;
  /**
   * Runs `steps` greedy decode steps of the batch and resolves to the sampled ids
   * `[steps, T]` (row k = the ids sampled at step k). Writes the KV of positions
   * `positions[t] .. positions[t] + steps - 1`. Throws `RangeError` on an inconsistent batch or
   * `steps` outside 1..maxSteps. Calls MUST NOT overlap, nor overlap the batch runner's.
   */
  run(batch: MultiStepBatch, steps: number): Promise<Uint32Array>;
  /** Frees every captured plan and its step's tensors (not the weights, not the pool). */
  release(): void;
}

/** Creates a multi-step decoder of `model` over `pool` on a capturing `backend`. */
export function createLlamaMultiStepDecoder(
  backend: CapturingBackend,
  model: LlamaModel,
  pool: KvCachePool,
  options: { maxSteps?: number } = {},
): LlamaMultiStepDecoder {
  const maxSteps = options.maxSteps ?? DEFAULT_MULTI_STEPS;
  if (!Number.isInteger(maxSteps) || maxSteps < 1) {
    throw new RangeError(`Cannot create a multi-step decoder: maxSteps ${maxSteps} < 1`);
  }
  const c = model.config;
  interface Entry {
    readonly ready: Promise<{ step: LlamaDecodeStep; plan: DecodePlan }>;
    value?: { step: LlamaDecodeStep; plan: DecodePlan };
    dropped?: boolean;
  }
  const plans = new Map<number, Entry>();
  // Frees at once when captured, else when the capture settles.
  const free = (entry: Entry) => {
    entry.dropped = true;
    if (entry.value) {
      entry.value.plan.destroy();
      entry.value.step.release();
    }
  };
  const capture = async (t: number, entry: { dropped?: boolean }) => {
    const step = createLlamaDecodeStep(backend, model, {
      blockTable: new Uint32Array(t * c.maxBlocks),
      numBlocks: pool.numBlocks,
      sampling: Array.from({ length: t }, () => ({ temperature: 0, topK: 0, topP: 1, seed: 0 })),
      maxSteps,
      caches: pool.caches,
    });
    let plan: DecodePlan;
    try {
      plan = await backend.capture(() => step.encode(), { history: step.history });
    } catch (error) {
      step.release();
      throw error;
    }
    if (entry.dropped) {
      plan.destroy();
      step.release();
      throw new TypeError("Cannot run decode steps: the multi-step decoder was released");
    }
    return { step, plan };
  };
  const planFor = (t: number) => {
    let entry = plans.get(t);
    if (entry) plans.delete(t);
    else {
      const state: { dropped?: boolean } = {};
      const ready = capture(t, state);
      const made: Entry = {
        ready,
        get dropped() {
          return state.dropped;
        },
        set dropped(v) {
          state.dropped = v;
        },
      };
      ready.then((value) => (made.value = value), () => {
        // A failed capture is not kept.
        if (plans.get(t) === made) plans.delete(t);
      });
      entry = made;
      if (plans.size >= KEEP_PLANS) {
        const [oldT, old] = plans.entries().next().value!;
        plans.delete(oldT);
        free(old);
      }
    }
    plans.set(t, entry);
    return entry.ready;
  };
  return {
    maxSteps,
    async run(batch, steps) {
      const t = batch.ids.length;
      if (
        !t || batch.positions.length !== t || batch.blockTable.length !== t * c.maxBlocks ||
        !Number.isInteger(steps) || steps < 1 || steps > maxSteps
      ) {
        throw new RangeError(
          `Cannot run ${steps} decode steps (1..${maxSteps}): ${t} ids, ` +
            `${batch.positions.length} positions and a block table of ${batch.blockTable.length} ` +
            `entries (rows of ${c.maxBlocks}) do not agree`,
        );
      }
      const { step, plan } = await planFor(t);
      backend.write(step.blockTable, batch.blockTable);
      step.reset(batch.ids, batch.positions);
      plan.resetHistory();
      return await plan.run(steps);
    },
    release() {
      for (const entry of plans.values()) free(entry);
      plans.clear();
    },
  };
}
