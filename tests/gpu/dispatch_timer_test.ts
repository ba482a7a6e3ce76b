/**
 * The device-side dispatch timer: both methods measure work (16 runs of a dispatch take longer
 * than one), neither includes the readback, bad options are refused, and `timestamp` is refused
 * on a device without `timestamp-query`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { DispatchTimer, type TimerMethod } from "../../src/gpu/compile/dispatch_timer.ts";
import type { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { elementwiseGrid, elementwiseKernel } from "../../src/gpu/kernels/elementwise.ts";

const device = await acquireTestDevice();

describe("dispatch timer (no device)", () => {
  it("refuses timestamps without the feature", () => {
    const runtime = { device: { features: new Set<string>() } } as unknown as KernelRuntime;
    assert.equal(new DispatchTimer(runtime).method, "slope");
    assert.throws(() => new DispatchTimer(runtime, { method: "timestamp" }), TypeError);
  });
});

describe("dispatch timer", { skip: device.skip }, () => {
  const methods: TimerMethod[] = device.context?.device.features.has("timestamp-query")
    ? ["timestamp", "slope"]
    : ["slope"];
  for (const method of methods) {
    it(`${method}: 16 dispatches per run take longer than 1, and bad options throw`, async () => {
      const h = new KernelHarness(device.context!);
      const timer = new DispatchTimer(h.rt, { method });
      try {
        const n = 1 << 20;
        const pipeline = await h.rt.pipeline(elementwiseKernel("add"));
        const d = {
          pipeline,
          bindGroup: h.rt.bindGroup(pipeline, {
            0: h.uni([n, 0]),
            1: h.buf(n * 4),
            2: h.buf(n * 4),
            3: h.buf(n * 4),
          }),
          grid: elementwiseGrid(n),
          label: "add",
        };
        const one = await timer.msPerDispatch([d], { repeats: 4, trials: 3 });
        const sixteen = await timer.msPerDispatch(Array(16).fill(d), { repeats: 4, trials: 3 });
        assert.ok(one > 0 && Number.isFinite(one), `one dispatch: ${one} ms`);
        assert.ok(sixteen > 4 * one, `16 dispatches ${sixteen} ms vs 1 dispatch ${one} ms`);
        await assert.rejects(timer.msPerDispatch([d], { repeats: 0 }), RangeError);
        await assert.rejects(timer.msPerDispatch([d], { trials: 1.5 }), RangeError);
      } finally {
        timer.destroy();
        h.dispose();
      }
    });
  }
});
