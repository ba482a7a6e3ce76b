/**
 * The shared conformance suite every {@link Backend} runs: each op is checked against the
 * reference functions on random inputs (odd sizes; f32 and quantised weights). The `cpu`
 * backend always runs; `webgpu-eager` and `webgpu` run where an adapter exists.
 * Tolerance: |got − want| ≤ 1e-5·K + 1e-4·|want| (want computed on dequantised weights).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import type { Backend, Tensor } from "../../src/gpu/ops/backend.ts";
import { createBackendRegistry } from "../../src/gpu/backends/backend_registry.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import {
  concatWeightRows,
  dequantizeWeight,
  hostWeightFromF32,
} from "../../src/gpu/kernels/host_weight.ts";
import {
  embeddingRef,
  matmulRef,
  rmsnormRef,
  silu,
  softmaxRef,
} from "../../src/gpu/reference/dense.ts";
import { ropeRef } from "../../src/gpu/reference/attention.ts";
import { argmaxRef } from "../../src/gpu/reference/sampling.ts";

const device = await acquireTestDevice();

/** Runs the suite against backends made by `factory`. */
function conformance(name: string, skip: string | false, factory: () => Promise<Backend>) {
  describe(`backend conformance: ${name}`, { skip }, () => {
    const run = async (fn: (b: Backend) => Promise<void>) => {
      const b = await factory();
      try {
        await fn(b);
      } finally {
        b.destroy();
      }
    };
    for (const dtype of ["f32", "q4_0"] as const) {
      for (const m of [1, 5]) {
        it(`matmul ${dtype} m=${m}`, () =>
          run(async (b) => {
            const n = 19, k = 64;
            const wh = hostWeightFromF32(dtype, randomFloats(n * k, 1), [n, k]);
            const x = randomFloats(m * k, 2);
            const out = b.empty([m, n]);
            b.matmul(out, b.upload(x, [m, k]), b.uploadWeight(wh));
            assertClose(await b.read(out), matmulRef(x, dequantizeWeight(wh), { m, n, k }), {
              abs: 1e-5 * k,
              rel: 1e-4,
            }, "matmul");
          }));
      }
    }
    it("matmulGateUpSilu (q8_0, m=3)", () =>
      run(async (b) => {
        const n = 11, k = 32, m = 3;
        const gate = hostWeightFromF32("q8_0", randomFloats(n * k, 3), [n, k]);
        const up = hostWeightFromF32("q8_0", randomFloats(n * k, 4), [n, k]);
        const x = randomFloats(m * k, 5);
        const out = b.empty([m, n]);
        b.matmulGateUpSilu(out, b.upload(x, [m, k]), b.uploadWeight(concatWeightRows([gate, up])));
        const gv = matmulRef(x, dequantizeWeight(gate), { m, n, k }),
          uv = matmulRef(x, dequantizeWeight(up), { m, n, k });
        assertClose(await b.read(out), gv.map((g, i) => silu(g) * uv[i]), {
          abs: 1e-5 * k,
          rel: 1e-4,
        }, "gate_up");
      }));
    for (const [dtype, m] of [["q8_0", 1], ["f16", 3]] as const) {
      it(`matmulQkv ${dtype} m=${m} with bias (GQA sizes 32/16/16)`, () =>
        run(async (b) => {
          const k = 64, sizes = [32, 16, 16], n = 64;
          const wh = hostWeightFromF32(dtype, randomFloats(n * k, 21), [n, k]);
          const bias = randomFloats(n, 22), x = randomFloats(m * k, 23);
          const outs = sizes.map((s) => b.empty([m, s])) as [Tensor, Tensor, Tensor];
          b.matmulQkv(outs, b.upload(x, [m, k]), b.uploadWeight(wh), b.upload(bias, [n]));
          const all = matmulRef(x, dequantizeWeight(wh), { m, n, k }, bias);
          let col = 0;
          for (let o = 0; o < 3; o++) {
            const want = new Float32Array(m * sizes[o]);
            for (let i = 0; i < m; i++) {
              want.set(all.subarray(i * n + col, i * n + col + sizes[o]), i * sizes[o]);
            }
            assertClose(await b.read(outs[o]), want, { abs: 1e-5 * k, rel: 1e-4 }, `qkv ${o}`);
            col += sizes[o];
          }
        }));
    }
    for (const dtype of ["f32", "q4_0"] as const) {
      it(`embedding gather (${dtype} table 40×64, 5 tokens)`, () =>
        run(async (b) => {
          const table = hostWeightFromF32(dtype, randomFloats(40 * 64, 24), [40, 64]);
          const ids = new Uint32Array([3, 0, 39, 3, 17]);
          const out = b.empty([5, 64]);
          b.embedding(out, b.uploadWeight(table), b.upload(ids, [5]));
          assertClose(await b.read(out), embeddingRef(dequantizeWeight(table), ids, 64), {
            abs: 1e-6,
            rel: 1e-6,
          }, "embedding");
        }));
    }
    it("softmax rows=3 cols=301", () =>
      run(async (b) => {
        const x = randomFloats(3 * 301, 25, 8);
        const out = b.empty([3, 301]);
        b.softmax(out, b.upload(x, [3, 301]));
        assertClose(await b.read(out), softmaxRef(x, 301), { abs: 1e-6, rel: 1e-4 }, "softmax");
      }));
    it("rmsnorm and addRmsnorm (residual updated)", () =>
      run(async (b) => {
        const rows = 3, dim = 40;
        const x = randomFloats(rows * dim, 6),
          r = randomFloats(rows * dim, 7),
          w = randomFloats(dim, 8);
        const out = b.empty([rows, dim]),
          residual = b.upload(r, [rows, dim]),
          wt = b.upload(w, [dim]);
        b.addRmsnorm(out, residual, b.upload(x, [rows, dim]), wt, 1e-5);
        const sum = r.map((v, i) => v + x[i]);
        assertClose(await b.read(residual), sum, { abs: 1e-6, rel: 1e-5 }, "residual");
        assertClose(
          await b.read(out),
          rmsnormRef(sum, w, dim, 1e-5),
          { abs: 1e-5, rel: 1e-4 },
          "norm",
        );
      }));
    it("rope (neox) and add", () =>
      run(async (b) => {
        const o = { heads: 2, headDim: 8, theta: 10000, mode: "neox" as const };
        const x = randomFloats(3 * 16, 9), pos = new Uint32Array([0, 4, 9]);
        const xt = b.upload(x, [3, 16]);
        b.rope(xt, b.upload(pos, [3]), o);
        const want = x.slice();
        ropeRef(want, pos, o);
        assertClose(await b.read(xt), want, { abs: 2e-4, rel: 1e-4 }, "rope");
        const s = b.empty([3, 16]);
        b.add(s, xt, xt);
        assertClose(await b.read(s), want.map((v) => 2 * v), { abs: 4e-4, rel: 1e-4 }, "add");
      }));
    it("argmax", () =>
      run(async (b) => {
        const logits = randomFloats(2 * 300, 10);
        const ids = b.empty([2], "u32");
        b.argmax(ids, b.upload(logits, [2, 300]));
        assert.deepEqual([...await b.read(ids)], [...argmaxRef(logits, 300)]);
      }));
    it("write replaces a tensor in order with queued ops and rejects mismatched data", () =>
      run(async (b) => {
        const x = b.upload(new Float32Array([1, 2, 3]), [3]);
        const before = b.empty([3]), after = b.empty([3]);
        b.add(before, x, x);
        b.write(x, new Float32Array([10, 20, 30])); // ops are queued: staged behind them
        b.add(after, x, x);
        assert.deepEqual([...await b.read(before)], [2, 4, 6]);
        assert.deepEqual([...await b.read(after)], [20, 40, 60]);
        const ids = b.empty([2], "u32");
        b.write(ids, new Uint32Array([7, 8])); // nothing queued: written at once
        assert.deepEqual([...await b.read(ids)], [7, 8]);
        assert.throws(() => b.write(x, new Float32Array(4)), RangeError);
        assert.throws(() => b.write(x, new Uint32Array(3)), RangeError);
      }));
    it("rejects tensors of another backend", () =>
      run(async (b) => {
        const foreign = { shape: [1], kind: "f32" as const, backend: "elsewhere" };
        await assert.rejects(async () => await b.read(foreign), TypeError);
      }));
  });
}

const registry = createBackendRegistry();
const gpuSkip = device.skip;
const runtime = device.context ? new KernelRuntime(device.context) : undefined;
conformance("cpu", false, () => registry.create("cpu", {}));
conformance("cpu (js kernels)", false, () => registry.create("cpu", { cpu: { kernels: "js" } }));
conformance("webgpu-eager", gpuSkip, () => registry.create("webgpu-eager", { runtime }));
conformance("webgpu", gpuSkip, () => registry.create("webgpu", { runtime }));

describe("backend registry", () => {
  it("registers third-party backends by name and rejects duplicates and unknown names", async () => {
    const r = createBackendRegistry();
    r.register("mine", () => ({ ...registry, name: "mine" }) as unknown as Backend);
    assert.deepEqual(r.names(), ["cpu", "webgpu-eager", "webgpu", "mine"]);
    assert.equal((await r.create("mine", {})).name, "mine");
    assert.throws(() => r.register("cpu", () => null as unknown as Backend), TypeError);
    await assert.rejects(r.create("nope", {}), RangeError);
  });
  it("falls back to cpu with a log line when no GPU runtime exists", async () => {
    const lines: string[] = [];
    const b = await createBackendRegistry().create("webgpu", { log: (l) => lines.push(l) });
    assert.equal(b.name, "cpu");
    assert.match(lines[0], /no WebGPU adapter was found; falling back to "cpu"/);
  });
});
