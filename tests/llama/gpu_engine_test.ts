/**
 * The llama engine on the WebGPU backends (lavapipe under Deno, Dawn on GL ES under Bun):
 * logits of `webgpu` and `webgpu-eager` match `cpu` within stated tolerances for every GGUF
 * weight format (prefill chunk + decode rows, scattered blocks), greedy generations are
 * identical across backends for F32, and a second start reuses the compile cache.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "../gpu/_device.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { loadLlamaModel } from "../../src/model/model_loader.ts";
import { llamaKernelConfig } from "../../src/model/llama_upload.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { createLlamaBackend } from "../../engines/llama/llama_backend.ts";
import { FIXTURE_SIZES, type FixtureModelOptions } from "../fixtures/model/fixture_model.ts";
import { fixtureFiles, fixtureRoot, ggufModel, ggufModelWithRopeFreqs } from "./_fixture_dir.ts";
import { PROBE_GEOMETRY, probeLogits } from "./_logits_probe.ts";

const device = await acquireTestDevice();
const skip = device.skip;

let root: Awaited<ReturnType<typeof fixtureRoot>>;
before(async () => (root = await fixtureRoot()));
after(() => root.dispose());

const files = fixtureFiles;
const quiet = () => {};

/** The probe's logits on `name`. */
async function logitsOn(name: "cpu" | "webgpu" | "webgpu-eager", path: string) {
  const { checkpoint } = await loadLlamaModel(path, files);
  const handle = await createLlamaBackend(name, llamaKernelConfig(checkpoint, PROBE_GEOMETRY), {
    acquire: () => Promise.resolve(device.context),
    ownsDevice: false,
    cache: { storage: memoryCacheStorage(), root: "/unused", disabled: true, tune: false },
    buckets: [2],
  }, quiet);
  try {
    return await probeLogits(handle.backend, checkpoint);
  } finally {
    handle.release();
  }
}

function maxAbsDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/**
 * Tolerances on logits (std ~3): f32 and f16 weights differ from `cpu` only by f32 summation
 * order; the quantised kernels dequantise the same blocks as the cpu reference.
 */
const TOLERANCE = 5e-3;

const CASES: [string, FixtureModelOptions][] = [
  ["f32 llama", { dtype: "f32" }],
  ["f16 llama", { dtype: "f16" }],
  ["q8_0 llama", { dtype: "q8_0" }],
  ["q4_0 llama", { dtype: "q4_0" }],
  ["f32 qwen2 (biases, tied)", { dtype: "f32", arch: "qwen2", tied: true }],
];

describe("llama engine on WebGPU", { skip }, () => {
  for (const [label, options] of CASES) {
    it(`${label}: webgpu and webgpu-eager logits match cpu within ${TOLERANCE}`, async () => {
      const path = await ggufModel(root.path, label.replace(/\W+/g, "-"), options);
      const want = await logitsOn("cpu", path);
      for (const name of ["webgpu", "webgpu-eager"] as const) {
        const got = await logitsOn(name, path);
        const diff = maxAbsDiff(got, want);
        assert.ok(diff < TOLERANCE, `${name}: max |Δ| ${diff}`);
      }
    });
  }

  it("Llama 3 RoPE scaling (rope_freqs): webgpu and webgpu-eager logits match cpu", async () => {
    const pairs = FIXTURE_SIZES.tiny.nEmbd / FIXTURE_SIZES.tiny.nHead / 2;
    const divisors = Array.from({ length: pairs }, (_, i) => (i < 2 ? 1 : i < 4 ? 1 + i : 8));
    const path = await ggufModelWithRopeFreqs(root.path, "llama3", divisors);
    const want = await logitsOn("cpu", path);
    for (const name of ["webgpu", "webgpu-eager"] as const) {
      const diff = maxAbsDiff(await logitsOn(name, path), want);
      assert.ok(diff < TOLERANCE, `${name}: max |Δ| ${diff}`);
    }
  });

  it("greedy generations are identical across backends (F32), and a second start reuses the compile cache", async () => {
    const path = await ggufModel(root.path, "greedy", { dtype: "f32" });
    const storage = memoryCacheStorage();
    const run = async (backend: "cpu" | "webgpu" | "webgpu-eager") => {
      const engine = new LlamaEngine({
        model: path,
        backend,
        log: quiet,
        gpu: () => Promise.resolve(device.context),
        kernelCache: { storage, root: "/kernels", disabled: false, tune: false },
        warmBuckets: [1],
        maxModelLen: 64,
        blockSize: 4,
        maxNumBatchedTokens: 16, // the long prompt prefills in chunks beside decode rows
      });
      await engine.start("1");
      try {
        assert.equal(engine.backendName, backend);
        // Short prompts and a 37-token one: mixed prefill and decode rows in one step, and
        // attention over 10 blocks.
        const long = Array.from({ length: 37 }, (_, i) => 3 + ((i * 41) % 400));
        const outputs = await Promise.all(
          [[1, 50, 60], [1, 7, 8, 9, 10], long].map(async (prompt) => {
            const { context } = createRequestContext();
            const ids: number[] = [];
            const request = parseGenerateRequest({
              model: "m",
              token_ids: prompt,
              stop_conditions: { max_tokens: 8, ignore_eos: true },
              sampling_options: { temperature: 0 },
            });
            for await (const c of engine.generate(request, context)) ids.push(...c.token_ids);
            return ids;
          }),
        );
        return { outputs, counters: engine.compileCounters };
      } finally {
        await engine.cleanup();
      }
    };
    const cpu = await run("cpu");
    const first = await run("webgpu");
    assert.deepEqual(first.outputs, cpu.outputs);
    assert.ok(first.counters!.compiles > 0);
    const second = await run("webgpu");
    assert.deepEqual(second.outputs, cpu.outputs);
    assert.equal(second.counters!.compiles, 0, "second start compiles nothing");
    assert.ok(second.counters!.cacheHits > 0);
    const eager = await run("webgpu-eager");
    assert.deepEqual(eager.outputs, cpu.outputs);
  });
});

describe("llama engine backend fallback", () => {
  it("falls back to cpu with a log line when no GPU adapter exists", async () => {
    const path = await ggufModel(root.path, "fallback", {});
    const lines: string[] = [];
    const engine = new LlamaEngine({
      model: path,
      backend: "webgpu",
      log: (l) => lines.push(l),
      gpu: () => Promise.resolve(undefined),
    });
    await engine.start("1");
    await engine.cleanup();
    assert.equal(engine.backendName, "cpu");
    assert.ok(
      lines.some((l) => /no WebGPU adapter was found; falling back to "cpu"/.test(l)),
      lines.join("\n"),
    );
  });
});
