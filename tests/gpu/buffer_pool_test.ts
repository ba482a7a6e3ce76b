/**
 * The buffer pool: reuse within a size class and usage, power-of-two size classes, foreign
 * buffers rejected, everything destroyed on close; and the WebGPU backends draw their per-op
 * uniforms and temporaries from it, so N ops create a bounded number of buffers.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, randomFloats } from "./_device.ts";
import { BufferPool } from "../../src/gpu/device/buffer_pool.ts";
import { KernelRuntime, STORAGE_USAGE } from "../../src/gpu/compile/kernel_runtime.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";
import { hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import { createPagedKvCache } from "../../src/gpu/ops/paged_kv_cache.ts";
import { packSamplingParams } from "../../src/gpu/ops/sampling_inputs.ts";

const device = await acquireTestDevice();
const UNIFORM = 0x40 | 0x8;

describe("buffer pool", { skip: device.skip }, () => {
  it("reuses a released buffer of the same size class and usage", () => {
    const pool = new BufferPool(device.context!.device);
    try {
      const a = pool.acquire(100, UNIFORM);
      assert.equal(a.size, 256, "minimum class is 256 bytes");
      pool.release(a);
      const b = pool.acquire(200, UNIFORM);
      assert.equal(b, a, "same class (256) and usage: reused");
      const c = pool.acquire(257, UNIFORM);
      assert.equal(c.size, 512, "rounded up to the next power of two");
      const d = pool.acquire(100, STORAGE_USAGE);
      assert.notEqual(d, a, "different usage is a different class");
      assert.deepEqual(pool.stats, { created: 3, reused: 1, live: 3 });
    } finally {
      pool.destroy();
    }
  });
  it("rejects buffers it did not create and destroys all of its buffers on close", async () => {
    const pool = new BufferPool(device.context!.device);
    const foreign = device.context!.device.createBuffer({ size: 256, usage: UNIFORM });
    try {
      assert.throws(() => pool.release(foreign), RangeError);
      const held = pool.acquire(4096, 0x1 /* MAP_READ */ | 0x8);
      pool.release(pool.acquire(16, UNIFORM));
      pool.destroy();
      assert.equal(pool.stats.live, 0);
      // A destroyed buffer can no longer be mapped.
      await assert.rejects(held.mapAsync(0x1));
    } finally {
      foreign.destroy();
    }
  });
  it("N acquire/release cycles create no more buffers than the peak in use", () => {
    const pool = new BufferPool(device.context!.device);
    try {
      for (let i = 0; i < 200; i++) {
        const held = [
          pool.acquire(16, UNIFORM),
          pool.acquire(16, UNIFORM),
          pool.acquire(3000, 0x80),
        ];
        held.forEach((b) => pool.release(b));
      }
      assert.deepEqual(pool.stats, { created: 3, reused: 597, live: 3 });
    } finally {
      pool.destroy();
    }
  });
});

describe("webgpu backends use the pool", { skip: device.skip }, () => {
  for (const fused of [false, true]) {
    it(`${fused ? "webgpu" : "webgpu-eager"}: 20 flushes of ops create buffers once`, async () => {
      const runtime = new KernelRuntime(device.context!);
      const pool = new BufferPool(device.context!.device);
      const b = createWebGpuBackend(runtime, { fused, pool });
      try {
        const k = 32, n = 8;
        const x = b.upload(randomFloats(k, 1), [1, k]);
        const w = b.uploadWeight(hostWeightFromF32("q8_0", randomFloats(2 * n * k, 2), [2 * n, k]));
        const out = b.empty([1, n]), norm = b.empty([1, n]), residual = b.empty([1, n]);
        const nw = b.upload(new Float32Array(n).fill(1), [n]);
        const step = async () => {
          b.matmulGateUpSilu(out, x, w);
          b.addRmsnorm(norm, residual, out, nw, 1e-5);
          await b.read(norm);
        };
        await step();
        const after1 = pool.stats.created;
        assert.ok(after1 > 0, "ops drew uniforms from the pool");
        for (let i = 0; i < 19; i++) await step();
        assert.equal(pool.stats.created, after1, "no new buffers after the first flush");
        assert.ok(pool.stats.reused >= 19 * after1);
      } finally {
        b.destroy();
        runtime.destroy();
      }
      assert.ok(pool.stats.live > 0, "an injected pool is not destroyed by the backend");
      pool.destroy();
    });
  }
  for (const fused of [false, true]) {
    it(`${fused ? "webgpu" : "webgpu-eager"}: decode steps (kvAppend, split-K attention, sample) reuse pooled buffers`, async () => {
      const runtime = new KernelRuntime(device.context!);
      const pool = new BufferPool(device.context!.device);
      const b = createWebGpuBackend(runtime, { fused, pool });
      try {
        const heads = 4, kvHeads = 2, headDim = 8, blockSize = 16, maxBlocks = 20, vocab = 300;
        // 320-token block-table rows: the split-K + merge path (partials from the pool) on both.
        const cache = createPagedKvCache(b, { numBlocks: 20, blockSize, kvHeads, headDim });
        const blockTable = b.upload(
          Uint32Array.from({ length: maxBlocks }, (_, i) => 19 - i),
          [1, maxBlocks],
        );
        const tokenSeq = b.upload(new Uint32Array([0]), [1]);
        const kv = b.upload(randomFloats(kvHeads * headDim, 3), [1, kvHeads * headDim]);
        const q = b.upload(randomFloats(heads * headDim, 4), [1, heads * headDim]);
        const logits = b.upload(randomFloats(vocab, 5), [1, vocab]);
        const params = b.upload(
          packSamplingParams([{ temperature: 1, topK: 0, topP: 0.9, seed: 1 }]),
          [1, 4],
        );
        const state = b.empty([1], "u32"), ids = b.empty([1], "u32"), out = b.empty([1, 32]);
        const positions = [0, 100, 300].map((p) => b.upload(new Uint32Array([p]), [1]));
        const step = async (i: number) => {
          const batch = { blockTable, tokenSeq, positions: positions[i % 3] };
          b.kvAppend(cache, kv, kv, batch);
          b.pagedAttention(out, q, cache, batch);
          b.sample(ids, logits, { params, state });
          await b.read(ids);
        };
        await step(0);
        const after1 = pool.stats.created;
        assert.ok(after1 >= 3, "uniforms and split-K partials came from the pool");
        for (let i = 1; i < 6; i++) await step(i);
        assert.equal(pool.stats.created, after1, "no new buffers after the first step");
      } finally {
        b.destroy();
        runtime.destroy();
      }
      pool.destroy();
    });
  }
});
