/**
 * Dawn's `GPU` object (npm `webgpu`) owns the native instance that its devices and event pump
 * use without owning, so a context MUST keep it alive: here the caller drops its provider at
 * once, a full collection runs, and the device still completes `mapAsync` readbacks. Before
 * `acquireGpuContext` held the object, this crashed inside `Instance::ProcessEvents` (segfault,
 * `std::system_error`) on the first readback. Runs where WebGPU comes from Dawn (Bun, Node).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, dawnTestProvider } from "./_device.ts";
import { acquireGpuContext, type GpuContext } from "../../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../../src/gpu/device/gpu_provider.ts";

const shared = await acquireTestDevice();
const skip = navigatorGpuProvider()
  ? "this runtime has its own navigator.gpu; the test is about Dawn's GPU object"
  : shared.skip;

/** A full garbage collection where the runtime exposes one (Bun always; Node with --expose-gc). */
function collectGarbage(): boolean {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else return false;
  return true;
}

/** A context whose provider (and `GPU` object) nothing but the context references. */
async function contextFromDroppedProvider(): Promise<GpuContext> {
  return await acquireGpuContext(await dawnTestProvider());
}

describe("Dawn GPU object lifetime", { skip }, () => {
  it("a context keeps Dawn's GPU object alive after the caller drops the provider", async () => {
    const context = await contextFromDroppedProvider();
    const staging = context.device.createBuffer({ size: 16, usage: 0x1 /* MAP_READ */ | 0x8 });
    try {
      for (let i = 0; i < 4; i++) {
        assert.ok(collectGarbage(), "this runtime exposes no garbage collection");
        await new Promise((resolve) => setTimeout(resolve, 5));
        await staging.mapAsync(0x1 /* READ */);
        assert.deepEqual([...new Uint32Array(staging.getMappedRange())], [0, 0, 0, 0]);
        staging.unmap();
      }
    } finally {
      staging.destroy();
      context.destroy();
      await context.device.lost;
    }
  });
});
