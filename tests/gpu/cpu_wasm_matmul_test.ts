/**
 * The `cpu` backend's WebAssembly SIMD matmul (`src/gpu/backends/cpu_wasm/`): products equal the
 * dequantised reference within f32 summation error for every weight format and row count, a
 * row's bits do not depend on how many rows share a call, and weights held in wasm memory read
 * back, embed and release like the reference backend's.
 * Tolerance: |got − want| ≤ 1e-6·K + 1e-5·|want| (want: f64 sums over dequantised weights).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  createWasmWeight,
  wasmSimdAvailable,
} from "../../src/gpu/backends/cpu_wasm/wasm_weight.ts";
import { matmulModuleBytes } from "../../src/gpu/backends/cpu_wasm/matmul_kernels.ts";
import { sleb, uleb } from "../../src/gpu/backends/cpu_wasm/wasm_encoding.ts";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import type { WeightDType } from "../../src/gpu/kernels/kernel_source.ts";
import { embeddingRef, matmulRef } from "../../src/gpu/reference/dense.ts";

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function assertNear(got: Float32Array, want: Float32Array, k: number, label: string) {
  assert.equal(got.length, want.length, label);
  for (let i = 0; i < want.length; i++) {
    const bound = 1e-6 * k + 1e-5 * Math.abs(want[i]);
    assert.ok(
      Math.abs(got[i] - want[i]) <= bound,
      `${label}[${i}]: ${got[i]} vs ${want[i]} (bound ${bound})`,
    );
  }
}

const DTYPES: WeightDType[] = ["f32", "f16", "q8_0", "q4_0"];

describe("cpu backend: WebAssembly SIMD matmul", () => {
  it("encodes LEB128 numbers and builds a module the runtime validates", () => {
    assert.deepEqual(uleb(0), [0]);
    assert.deepEqual(uleb(128), [0x80, 1]);
    assert.deepEqual(sleb(-1), [0x7f]);
    assert.deepEqual(sleb(64), [0xc0, 0]);
    assert.deepEqual(sleb(-129), [0xff, 0x7e]);
    // Deno and Bun both have WebAssembly SIMD: the fast path MUST be the one under test.
    assert.ok(WebAssembly.validate(matmulModuleBytes()));
    assert.equal(wasmSimdAvailable(), true);
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: m = 1, 3, 4, 5, 8 match the dequantised reference; rows are batch-independent`, () => {
      const n = 37, k = 96;
      const host = hostWeightFromF32(dtype, values(n * k, 7), [n, k]);
      const weight = createWasmWeight(host)!;
      assert.equal(weight.storage, dtype === "q8_0" || dtype === "q4_0" ? "q8" : "f32");
      const deq = dequantizeWeight(host);
      const x = values(8 * k, 11);
      const single = Array.from({ length: 8 }, (_, r) => weight.multiply(x.subarray(r * k), 1));
      for (const m of [1, 3, 4, 5, 8]) {
        const got = weight.multiply(x, m);
        assertNear(got, matmulRef(x, deq, { m, n, k }), k, `${dtype} m=${m}`);
        for (let r = 0; r < m; r++) {
          assert.deepEqual(got.subarray(r * n, (r + 1) * n), single[r], `${dtype} m=${m} row ${r}`);
        }
      }
      for (let j = 0; j < n; j += 9) {
        assert.deepEqual(weight.row(j), deq.subarray(j * k, (j + 1) * k));
      }
    });
  }

  it("refuses shapes the kernels cannot take, and x shorter than m rows", () => {
    assert.equal(createWasmWeight(hostWeightFromF32("f32", values(12, 1), [2, 6])), undefined);
    const w = createWasmWeight(hostWeightFromF32("f32", values(16, 1), [2, 8]))!;
    assert.throws(() => w.multiply(new Float32Array(8), 2), RangeError);
  });

  it("the cpu backend: wasm and js kernels agree on matmul, fused QKV with bias, gate+up+SiLU, embedding and read", async () => {
    const n = 24, k = 64, m = 6;
    for (const dtype of DTYPES) {
      const host = hostWeightFromF32(dtype, values(n * k, 3), [n, k]);
      const results = [];
      for (const kernels of ["wasm", "js"] as const) {
        const b = createCpuBackend({ kernels });
        const w = b.uploadWeight(host);
        const x = b.upload(values(m * k, 5), [m, k]);
        const out = b.empty([m, n]);
        b.matmul(out, x, w);
        const bias = b.upload(values(n, 9), [n]);
        const outs = [b.empty([m, 8]), b.empty([m, 10]), b.empty([m, 6])] as const;
        b.matmulQkv(outs, x, w, bias);
        const silu = b.empty([m, n / 2]);
        b.matmulGateUpSilu(silu, x, w);
        const ids = b.upload(new Uint32Array([3, 0, 23]), [3]);
        const emb = b.empty([3, k]);
        b.embedding(emb, w, ids);
        results.push({
          mm: await b.read(out),
          qkv: await Promise.all(outs.map((o) => b.read(o))),
          silu: await b.read(silu),
          emb: await b.read(emb),
          read: await b.read(w),
        });
        b.release(w);
        b.destroy();
      }
      const [wasm, js] = results;
      const deq = dequantizeWeight(host);
      assertNear(wasm.mm as Float32Array, js.mm as Float32Array, k, `${dtype} matmul`);
      wasm.qkv.forEach((o, i) =>
        assertNear(o as Float32Array, js.qkv[i] as Float32Array, k, `${dtype} qkv ${i}`)
      );
      assertNear(wasm.silu as Float32Array, js.silu as Float32Array, k, `${dtype} silu`);
      assert.deepEqual(wasm.emb, embeddingRef(deq, new Uint32Array([3, 0, 23]), k));
      assert.deepEqual(wasm.read, deq);
      assert.deepEqual(js.read, deq);
    }
  });

  it("refuses an embedding id past the table", () => {
    const b = createCpuBackend();
    const w = b.uploadWeight(hostWeightFromF32("q8_0", values(64, 1), [2, 32]));
    assert.throws(
      () => b.embedding(b.empty([1, 32]), w, b.upload(new Uint32Array([2]), [1])),
      /token id 2 is not below 2/,
    );
    b.destroy();
  });
});
