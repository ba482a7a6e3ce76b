/**
 * The recorded decode plan: K steps in one submit with the sampled id fed back on the GPU
 * reproduce the CPU reference's greedy ids exactly, match step-at-a-time dispatch, and refuse
 * to overrun the history buffer; recorded copies replay in order between compute passes; a
 * destroyed plan frees what it owns once and refuses to run. (Plans captured from backend ops
 * are tested in `llama_decode_step_test.ts`.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, randomFloats } from "./_device.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import {
  buildToyDecoder,
  type ToyDecoderOptions,
  toyDecoderReference,
} from "../../src/gpu/llama/toy_decoder.ts";
import { hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import { PlanRecorder } from "../../src/gpu/ops/decode_plan.ts";
import { elementwiseGrid, elementwiseKernel } from "../../src/gpu/kernels/elementwise.ts";
import { decodeAdvanceKernel } from "../../src/gpu/kernels/decode_advance.ts";

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
  it("a recorded copy replays in order between passes; destroy runs once and ends the plan", async () => {
    const runtime = new KernelRuntime(device.context!);
    const n = 5, a0 = randomFloats(n, 7), b = randomFloats(n, 8);
    const buffers = [
      runtime.uniform([n]),
      runtime.buffer(a0),
      runtime.buffer(b),
      runtime.buffer(n * 4),
      runtime.uniform([1]),
      runtime.buffer(16),
      runtime.buffer(new Uint32Array([0])),
      runtime.buffer(new Uint32Array([9])),
      runtime.buffer(4 * 4),
    ];
    const [uni, a, bb, sum, one, state, positions, ids, history] = buffers;
    let destroyed = 0;
    try {
      const recorder = new PlanRecorder(runtime);
      // a = a + b, through a temporary and a copy back (as webgpu-eager's addRmsnorm does).
      await recorder.record(
        elementwiseKernel("add"),
        { 0: uni, 1: a, 2: bb, 3: sum },
        elementwiseGrid(n),
      );
      recorder.copy(sum, a, n * 4);
      await recorder.record(decodeAdvanceKernel(), {
        0: one,
        1: state,
        2: positions,
        6: ids,
        7: history,
      }, [1, 1, 1]);
      const plan = recorder.finish({
        history,
        tokens: 1,
        maxSteps: 4,
        onDestroy: () => destroyed++,
      });
      assert.deepEqual([...await plan.run(3)], [9, 9, 9]);
      const want = a0.map((x, i) => x + b[i] + b[i] + b[i]);
      const got = await runtime.readF32(a, n);
      got.forEach((x, i) =>
        assert.ok(Math.abs(x - want[i]) < 1e-6, `a[${i}] = ${x}, want ${want[i]}`)
      );
      assert.deepEqual([...await runtime.readU32(positions, 1)], [3]);
      assert.equal(plan.stepsRun, 3);
      plan.destroy();
      plan.destroy();
      assert.equal(destroyed, 1, "onDestroy runs once");
      await assert.rejects(plan.run(1), TypeError);
    } finally {
      buffers.forEach((x) => x.destroy());
      runtime.destroy();
    }
  });
});
