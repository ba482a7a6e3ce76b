/**
 * The `cpu` backend's matmul worker threads (`src/gpu/backends/cpu_wasm/thread_pool.ts`): a
 * large matmul split over 2 or 3 threads gives bit-identical results to one thread for every
 * weight format and row count, weights added, removed and released stay consistent between the
 * pool and its workers, workers start at the first large job and stop at close, and a closed
 * pool refuses work; without workers in the runtime the caller runs every job and the fallback
 * is reported once. Weights here are large enough (≥ THREAD_MIN_MACS multiply-adds per kernel
 * call) for the pool to split them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCpuThreadPool } from "../../src/gpu/backends/cpu_wasm/thread_pool.ts";
import { createWasmWeight, THREAD_MIN_MACS } from "../../src/gpu/backends/cpu_wasm/wasm_weight.ts";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import type { WeightDType } from "../../src/gpu/kernels/kernel_source.ts";
import { matmulRef } from "../../src/gpu/reference/dense.ts";

function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const n = 1027, k = 512; // odd n: thread ranges of unequal sizes
const DTYPES: WeightDType[] = ["f32", "f16", "q8_0", "q4_0"];

describe("cpu backend: matmul worker threads", () => {
  it("the weights here are large enough to be split", () => {
    assert.ok(n * k >= THREAD_MIN_MACS);
  });

  for (const threads of [2, 3]) {
    it(`${threads} threads: bit-identical to one thread for every format, m = 1, 3, 4, 9`, () => {
      const pool = createCpuThreadPool(threads);
      try {
        for (const dtype of DTYPES) {
          const host = hostWeightFromF32(dtype, values(n * k, 5), [n, k]);
          const one = createWasmWeight(host)!, split = createWasmWeight(host, pool)!;
          const x = values(9 * k, 8);
          // Repeated: a lost wake-up or a worker counted twice shows as one range of stale columns.
          for (let rep = 0; rep < 4; rep++) {
            for (const m of [1, 3, 4, 9]) {
              const want = one.multiply(x, m);
              assert.deepEqual(split.multiply(x, m), want, `${dtype} m=${m} rep ${rep}`);
            }
          }
          const ref = matmulRef(x, dequantizeWeight(host), { m: 2, n, k });
          const got = split.multiply(x, 2);
          assert.ok(
            got.every((v, i) => Math.abs(v - ref[i]) <= 1e-6 * k + 1e-5 * Math.abs(ref[i])),
          );
          split.release();
        }
        assert.equal(pool.threads, threads, "the workers started and stayed");
      } finally {
        pool.close();
      }
    });
  }

  it("weights added before and after the workers start, and removed, stay consistent", () => {
    const pool = createCpuThreadPool(2);
    try {
      const hosts = [1, 2, 3].map((seed) => hostWeightFromF32("q8_0", values(n * k, seed), [n, k]));
      const x = values(k, 4);
      const a = createWasmWeight(hosts[0], pool)!;
      const first = a.multiply(x, 1); // starts the workers, which learn `a`
      const b = createWasmWeight(hosts[1], pool)!;
      a.release();
      const c = createWasmWeight(hosts[2], pool)!;
      for (const [w, host] of [[b, hosts[1]], [c, hosts[2]]] as const) {
        assert.deepEqual(w.multiply(x, 1), createWasmWeight(host)!.multiply(x, 1));
      }
      assert.deepEqual(first, createWasmWeight(hosts[0])!.multiply(x, 1));
    } finally {
      pool.close();
    }
  });

  it("workers start at the first job and stop at close; a closed pool refuses work", () => {
    const pool = createCpuThreadPool(3);
    const w = createWasmWeight(hostWeightFromF32("f32", values(n * k, 1), [n, k]), pool)!;
    assert.equal(pool.running, 0, "no workers before the first job");
    createWasmWeight(hostWeightFromF32("f32", values(16, 1), [2, 8]), pool)!.multiply(
      values(8, 2),
      1,
    );
    assert.equal(pool.running, 0, "a small matmul starts none");
    w.multiply(values(k, 2), 1);
    assert.equal(pool.running, 2);
    pool.close();
    assert.equal(pool.running, 0);
    assert.throws(() => w.multiply(values(k, 2), 1), /thread pool is closed/);
    assert.throws(() => createCpuThreadPool(1), RangeError);
  });

  it("without workers in the runtime, jobs run on the caller and the fallback is reported once", () => {
    const saved = globalThis.Worker;
    const notices: string[] = [];
    try {
      // deno-lint-ignore no-explicit-any
      (globalThis as any).Worker = undefined;
      const pool = createCpuThreadPool(2, (reason) => notices.push(reason));
      const host = hostWeightFromF32("q8_0", values(n * k, 9), [n, k]);
      const w = createWasmWeight(host, pool)!;
      const x = values(3 * k, 4);
      assert.deepEqual(w.multiply(x, 3), createWasmWeight(host)!.multiply(x, 3));
      assert.deepEqual(w.multiply(x, 1), createWasmWeight(host)!.multiply(x, 1));
      assert.equal(pool.threads, 1);
      assert.equal(pool.running, 0);
      assert.equal(notices.length, 1);
      assert.match(notices[0], /worker threads cannot start/);
      pool.close();
    } finally {
      globalThis.Worker = saved;
    }
  });

  it("the cpu backend with threads: matmul and gate+up+SiLU equal one thread's", async () => {
    const host = hostWeightFromF32("q4_0", values(2 * n * k, 6), [2 * n, k]);
    const results = [];
    for (const threads of [1, 2]) {
      const b = createCpuBackend({ threads });
      const w = b.uploadWeight(host);
      const x = b.upload(values(5 * k, 7), [5, k]);
      const out = b.empty([5, 2 * n]), silu = b.empty([5, n]);
      b.matmul(out, x, w);
      b.matmulGateUpSilu(silu, x, w);
      results.push([await b.read(out), await b.read(silu)]);
      b.destroy();
    }
    assert.deepEqual(results[1], results[0]);
    assert.throws(() => createCpuBackend({ threads: 0 }), RangeError);
  });
});
