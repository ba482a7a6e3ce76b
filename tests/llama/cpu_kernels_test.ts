/**
 * The llama engine's `cpu` backend with its two matmul kernel sets: WebAssembly SIMD (the
 * default; weights kept quantised, f32 accumulation) against the TypedArray reference (`js`:
 * dequantised f32 weights, f64 accumulation). Logits agree within a stated tolerance for every
 * GGUF format, greedy generations are identical on the F32 fixture, and a bad `--cpu-kernels`
 * is refused naming the flag.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadLlamaModel } from "../../src/model/model_loader.ts";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import type { FixtureModelOptions } from "../fixtures/model/fixture_model.ts";
import { fixtureFiles, fixtureRoot, ggufModel } from "./_fixture_dir.ts";
import { probeLogits } from "./_logits_probe.ts";

let root: Awaited<ReturnType<typeof fixtureRoot>>;
before(async () => (root = await fixtureRoot()));
after(() => root.dispose());

const files = fixtureFiles;
const quiet = () => {};

/** The probe's logits on the `cpu` backend with `kernels`. */
async function logits(path: string, kernels: "wasm" | "js"): Promise<number[]> {
  const { checkpoint } = await loadLlamaModel(path, files);
  const backend = createCpuBackend({ kernels });
  try {
    return await probeLogits(backend, checkpoint);
  } finally {
    backend.destroy();
  }
}

/** Logits have std ~3; the two kernel sets differ only by f32 vs f64 summation. */
const TOLERANCE = 1e-3;

const CASES: [string, FixtureModelOptions][] = [
  ["f32", { dtype: "f32" }],
  ["f16", { dtype: "f16" }],
  ["q8_0", { dtype: "q8_0" }],
  ["q4_0", { dtype: "q4_0" }],
  ["f32 qwen2 (biases, tied)", { dtype: "f32", arch: "qwen2", tied: true }],
];

describe("llama engine: cpu kernels (wasm vs js)", () => {
  for (const [label, options] of CASES) {
    it(`${label}: wasm logits match the js reference within ${TOLERANCE}`, async () => {
      const path = await ggufModel(root.path, `cpuk-${label.replace(/\W+/g, "-")}`, options);
      const [wasm, js] = [await logits(path, "wasm"), await logits(path, "js")];
      assert.equal(wasm.length, js.length);
      const diff = wasm.reduce((m, v, i) => Math.max(m, Math.abs(v - js[i])), 0);
      assert.ok(diff < TOLERANCE, `max diff ${diff}`);
      assert.ok(wasm.some((v, i) => v !== js[i]), "the two kernel sets really differ");
    });
  }

  it("greedy generations are identical with either kernel set (F32)", async () => {
    const path = await ggufModel(root.path, "cpuk-greedy", { dtype: "f32" });
    const run = async (cpuKernels: "wasm" | "js") => {
      const engine = new LlamaEngine({ model: path, cpuKernels, log: quiet, maxModelLen: 64 });
      await engine.start("1");
      try {
        return await Promise.all([[1, 50, 60], [1, 7, 8, 9, 10]].map(async (prompt) => {
          const { context } = createRequestContext();
          const request = parseGenerateRequest({
            model: "m",
            token_ids: prompt,
            stop_conditions: { max_tokens: 12, ignore_eos: true },
            sampling_options: { temperature: 0 },
          });
          const ids: number[] = [];
          for await (const c of engine.generate(request, context)) ids.push(...c.token_ids);
          return ids;
        }));
      } finally {
        await engine.cleanup();
      }
    };
    const wasm = await run("wasm");
    assert.equal(wasm[0].length, 12);
    assert.deepEqual(wasm, await run("js"));
  });

  it("refuses an unknown --cpu-kernels naming the flag", async () => {
    const path = await ggufModel(root.path, "cpuk-args", { dtype: "f32" });
    await assert.rejects(
      LlamaEngine.fromArgs(["--model", path, "--cpu-kernels", "avx512"]),
      /--cpu-kernels: "avx512" is not one of wasm, js/,
    );
  });
});
