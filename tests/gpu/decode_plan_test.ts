/**
 * The recorded decode plan: K steps in one submit with the sampled id fed back on the GPU
 * reproduce the CPU reference's greedy ids exactly, match step-at-a-time dispatch, and refuse
 * to overrun the history buffer.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, randomFloats } from "./_device.ts";
import { KernelRuntime } from "../../src/gpu/kernel_runtime.ts";
import {
  buildToyDecoder,
  type ToyDecoderOptions,
  toyDecoderReference,
} from "../../src/gpu/toy_decoder.ts";
import { hostWeightFromF32 } from "../../src/gpu/host_weight.ts";

const device = await acquireTestDevice();

describe("recorded decode plan", { skip: device.skip }, () => {
  for (const dtype of ["f32", "q8_0"] as const) {
    it(`${dtype}: 12 steps as 3 submits of 4 equal the CPU greedy ids and the unrecorded path`, async () => {
      const runtime = new KernelRuntime(device.context!);
      const vocab = 96, dim = 64;
      const o: ToyDecoderOptions = {
        vocab,
        dim,
        dtype,
        table: hostWeightFromF32(dtype, randomFloats(vocab * dim, 5), [vocab, dim]),
        norm: randomFloats(dim, 6),
        maxSteps: 12,
      };
      const toy = await buildToyDecoder(runtime, o);
      try {
        toy.reset(3);
        const ids = [...await toy.plan.run(4), ...await toy.plan.run(4), ...await toy.plan.run(4)];
        const want = toyDecoderReference(o, 3, 12);
        assert.deepEqual(ids, want);
        assert.ok(new Set(want).size > 1, "the sequence is not trivially constant");
        await assert.rejects(toy.plan.run(1), RangeError);
        toy.reset(3);
        const stepwise: number[] = [];
        for (let i = 0; i < 5; i++) stepwise.push(await toy.unrecordedStep());
        assert.deepEqual(stepwise, want.slice(0, 5));
      } finally {
        toy.destroy();
        runtime.destroy();
      }
    });
  }
});
