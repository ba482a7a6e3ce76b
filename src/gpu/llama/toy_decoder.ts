/**
 * A minimal greedy decoder built from the kernels — embedding → RMSNorm → LM-head GEMV →
 * argmax → decode-advance — used to exercise and benchmark the recorded {@link DecodePlan}
 * against op-at-a-time dispatch, and checked token-for-token against the CPU reference. It is
 * a harness for the plan machinery, not the LLM engine.
 *
 * @example
 * ```ts ignore
 * const toy = await buildToyDecoder(runtime, { vocab: 64, dim: 32, dtype: "f32", seed: 1 });
 * const ids = await toy.plan.run(8);
 * toy.destroy();
 * ```
 *
 * @module
 */
import type { KernelRuntime } from "../compile/kernel_runtime.ts";
import { type DecodePlan, PlanRecorder } from "../ops/decode_plan.ts";
import { dequantizeWeight, type HostWeight, packWeight } from "../kernels/host_weight.ts";
import type { WeightDType } from "../kernels/kernel_source.ts";
import { embeddingGrid, embeddingKernel } from "../kernels/embedding.ts";
import { rmsnormKernel, rowGrid } from "../kernels/rmsnorm.ts";
import { gemvGrid, gemvKernel } from "../kernels/gemv.ts";
import { argmaxKernel } from "../kernels/argmax.ts";
import { decodeAdvanceKernel } from "../kernels/decode_advance.ts";
import { embeddingRef, matmulRef, rmsnormRef } from "../reference/dense.ts";
import { argmaxRef } from "../reference/sampling.ts";

/** A toy decoder with its plan and an unrecorded step for comparison. */
export interface ToyDecoder {
  /** The recorded plan. */
  readonly plan: DecodePlan;
  /** Resets the GPU state to start from `token` at position 0. */
  reset(token: number): void;
  /** One step without the plan: new encoder, fresh bind groups, submit, read back the id. */
  unrecordedStep(): Promise<number>;
  /** Frees every buffer. */
  destroy(): void;
}

/** Options of {@link buildToyDecoder}. */
export interface ToyDecoderOptions {
  /** Vocabulary size. */
  readonly vocab: number;
  /** Hidden size (a multiple of 32 for quantised tables). */
  readonly dim: number;
  /** Weight storage type. */
  readonly dtype: WeightDType;
  /** Weights of the table `[vocab, dim]` (tied embedding / LM head). */
  readonly table: HostWeight;
  /** Norm weight. */
  readonly norm: Float32Array;
  /** Steps the history buffer holds. */
  readonly maxSteps: number;
}

/** Builds the toy decoder's buffers and records its plan. */
export async function buildToyDecoder(
  runtime: KernelRuntime,
  o: ToyDecoderOptions,
): Promise<ToyDecoder> {
  const buffers: GPUBuffer[] = [];
  const buf = (d: ArrayBufferView | number) => (buffers.push(runtime.buffer(d)), buffers.at(-1)!);
  const uni = (v: number[]) => (buffers.push(runtime.uniform(v)), buffers.at(-1)!);
  const packed = packWeight(o.table);
  const table: Record<number, GPUBuffer> = { 2: buf(packed.data) };
  if (packed.scales) table[3] = buf(packed.scales);
  const ids = buf(4), hidden = buf(o.dim * 4), normed = buf(o.dim * 4), logits = buf(o.vocab * 4);
  const state = buf(16), positions = buf(4), history = buf(o.maxSteps * 4);
  const one = uni([1]);
  const steps: [
    ReturnType<typeof gemvKernel>,
    Record<number, GPUBuffer>,
    [number, number, number],
  ][] = [
    [
      embeddingKernel({ dtype: o.dtype, dim: o.dim }),
      { 0: one, 1: ids, ...table, 4: hidden },
      embeddingGrid(o.dim, 1),
    ],
    [
      rmsnormKernel({ dim: o.dim, eps: 1e-5 }),
      { 0: one, 1: hidden, 2: buf(o.norm), 3: normed },
      rowGrid(1),
    ],
    [gemvKernel({ dtype: o.dtype, n: o.vocab, k: o.dim }), {
      0: one,
      1: normed,
      ...table,
      4: logits,
    }, gemvGrid({ n: o.vocab, m: 1 })],
    [argmaxKernel({ vocab: o.vocab }), { 0: one, 1: logits, 2: ids }, rowGrid(1)],
    [decodeAdvanceKernel(), { 0: one, 1: state, 2: positions, 6: ids, 7: history }, [1, 1, 1]],
  ];
  const recorder = new PlanRecorder(runtime);
  for (const [source, bindings, grid] of steps) await recorder.record(source, bindings, grid);
  const plan = recorder.finish({ history, tokens: 1, maxSteps: o.maxSteps });
  const pipelines = await Promise.all(steps.map(([s]) => runtime.pipeline(s)));
  return {
    plan,
    reset(token) {
      plan.write(ids, new Uint32Array([token]));
      plan.write(state, new Uint32Array(4));
      plan.write(positions, new Uint32Array(1));
      plan.resetHistory();
    },
    async unrecordedStep() {
      const dispatches = steps.map(([source, bindings, grid], i) => ({
        pipeline: pipelines[i],
        bindGroup: runtime.bindGroup(pipelines[i], bindings),
        grid,
        label: source.name,
      }));
      runtime.run(dispatches);
      return (await runtime.readU32(ids, 1))[0];
    },
    destroy() {
      plan.destroy();
      for (const b of buffers) b.destroy();
    },
  };
}

/** The CPU reference of the toy decoder: greedy ids for `steps` steps from `token`. */
export function toyDecoderReference(o: ToyDecoderOptions, token: number, steps: number): number[] {
  const table = dequantizeWeight(o.table);
  const out: number[] = [];
  let id = token;
  for (let s = 0; s < steps; s++) {
    const h = rmsnormRef(embeddingRef(table, new Uint32Array([id]), o.dim), o.norm, o.dim, 1e-5);
    id = argmaxRef(matmulRef(h, table, { m: 1, n: o.vocab, k: o.dim }), o.vocab)[0];
    out.push(id);
  }
  return out;
}
