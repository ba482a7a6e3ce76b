/**
 * The autotuner on the device: it times every candidate, then the piece's refinements of the
 * first-pass winner, and returns the fastest of all; candidates that do not fit the device's
 * workgroup limit are skipped. Candidates differ in work by at least 4× so the order is unambiguous.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { autotune } from "../../src/gpu/compile/autotuner.ts";
import type { KernelPiece, TuningConfig } from "../../src/gpu/compile/kernel_piece.ts";
import { elementwiseGrid, elementwiseKernel } from "../../src/gpu/kernels/elementwise.ts";
import { defineKernel } from "../../src/gpu/kernels/kernel_source.ts";

const device = await acquireTestDevice();

describe("autotuner", { skip: device.skip }, () => {
  it("refines the first-pass winner and keeps the fastest of both passes", async () => {
    const h = new KernelHarness(device.context!);
    const refined: TuningConfig[] = [];
    try {
      const max = 1 << 22;
      const a = h.buf(max * 4), b = h.buf(max * 4), out = h.buf(max * 4);
      const oversized = device.context!.limits.maxComputeInvocationsPerWorkgroup * 2;
      // `n` elements are added per dispatch: less work is faster.
      const piece: KernelPiece = {
        name: "test.add",
        candidates: [{ n: max }, { n: max / 8 }, { n: max / 2 }, { n: 1, wg: oversized }],
        generate: (t) =>
          t.wg
            ? defineKernel(
              "test.too_big",
              { wg: [t.wg] },
              `@compute @workgroup_size(${t.wg}) fn main() {}`,
            )
            : elementwiseKernel("add"),
        refine(winner) {
          refined.push(winner);
          return [{ n: winner.n / 16 }];
        },
        benchmark: (runtime, pipeline, t) => ({
          dispatch: {
            pipeline,
            bindGroup: runtime.bindGroup(pipeline, { 0: h.uni([t.n, 0]), 1: a, 2: b, 3: out }),
            grid: elementwiseGrid(t.n),
            label: "add",
          },
          dispose() {},
        }),
      };
      const result = await autotune(h.rt, piece, { repeats: 4, trials: 3 });
      assert.deepEqual(refined, [{ n: max / 8 }], "refine saw the first-pass winner once");
      assert.deepEqual(result.tuning, { n: max / 128 }, "the refinement won");
      assert.deepEqual(
        result.timings.map((t) => t.tuning.n),
        [max, max / 8, max / 2, max / 128],
        "the oversized candidate was skipped",
      );
    } finally {
      h.dispose();
    }
  });
});
