/**
 * The Llama decode step written once against backend ops: the same greedy ids on `cpu` op at a
 * time, `webgpu` op at a time (a read per step), a captured `webgpu` plan run as 3 + 3 + 4
 * steps and a captured `webgpu-eager` plan (whose addRmsnorm replays a buffer copy), for f32,
 * q8_0 and a Qwen2-like q8_0 model (QKV bias, tied LM head); with temperature, top-k and top-p
 * the `webgpu` plan equals `webgpu` op at a time exactly. The ids are not constant and depend
 * on the attention context (a different RoPE mode changes them), so agreement is not vacuous.
 * Also: capture refusals, plan buffers returned to the pool, backend destroy with live plans,
 * the history bound, and per-bucket matmul tuning (selection, warm-up, dispatch).
 *
 * Tests without a device (cpu step, weights, kernel selection) also run under Bun.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "./_device.ts";
import { type Backend, canCapture } from "../../src/gpu/ops/backend.ts";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";
import { selectMatmul, warmUpKernelSet } from "../../src/gpu/backends/matmul_tuning.ts";
import { BufferPool } from "../../src/gpu/device/buffer_pool.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { KernelCompileCache } from "../../src/gpu/compile/compile_cache.ts";
import { cacheKeyFactors } from "../../src/gpu/compile/cache_key_factors.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import {
  fixedPiece,
  type KernelPiece,
  matmulOpName,
  matmulPiece,
  type MatmulPieceOptions,
} from "../../src/gpu/compile/kernel_piece.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../../src/gpu/compile/model_kernel_set.ts";
import { smallLlamaConfig } from "./_llama_config.ts";
import {
  createLlamaDecodeStep,
  releaseLlamaWeights,
} from "../../src/gpu/llama/llama_decode_step.ts";
import { randomLlamaWeights } from "../../src/gpu/llama/llama_random_weights.ts";
import type { SamplingParams } from "../../src/gpu/reference/sampling.ts";
import type { TuningConfig } from "../../src/gpu/compile/kernel_piece.ts";
import { CompiledKernelSet, type CompiledPiece } from "../../src/gpu/compile/kernel_set.ts";
import { type KernelSource, kernelSourcesGenerated } from "../../src/gpu/kernels/kernel_source.ts";
import { fnv1aHex } from "../../src/gpu/device/content_hash.ts";
import type { CacheKeyFactors } from "../../src/gpu/compile/cache_key_factors.ts";

const device = await acquireTestDevice();

const STEPS = 10;
const GREEDY: SamplingParams[] = [0, 1].map((seed) => ({ temperature: 0, topK: 0, topP: 1, seed }));
const START = new Uint32Array([5, 17]);

const config = smallLlamaConfig;

interface Case {
  readonly config: LlamaKernelConfig;
  /** Weight seed (default 1). */
  readonly seed?: number;
  readonly tied?: boolean;
  readonly sampling?: readonly SamplingParams[];
}

/** A decode step of `c` on `backend` (2 layers), reset to START at position 0. */
function setup(backend: Backend, c: Case) {
  const sampling = c.sampling ?? GREEDY;
  const weights = randomLlamaWeights(backend, c.config, {
    layers: 2,
    seed: c.seed ?? 1,
    tied: c.tied,
  });
  // Shuffled physical blocks: sequence 0 owns 3, 1, 7, 5; sequence 1 owns 0, 2, 4, 6.
  const step = createLlamaDecodeStep(backend, { config: c.config, weights }, {
    blockTable: new Uint32Array([3, 1, 7, 5, 0, 2, 4, 6]).subarray(0, sampling.length * 4),
    numBlocks: 8,
    maxSteps: STEPS,
    sampling,
  });
  step.reset(START.subarray(0, sampling.length), new Uint32Array(sampling.length));
  return {
    step,
    release() {
      step.release();
      releaseLlamaWeights(backend, weights);
    },
  };
}

/** STEPS steps op at a time, reading the ids after each; checks the history agrees. */
async function opAtATime(backend: Backend, c: Case): Promise<number[]> {
  const s = setup(backend, c);
  try {
    const ids: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      s.step.encode();
      ids.push(...await backend.read(s.step.ids));
    }
    assert.deepEqual([...await backend.read(s.step.history)], ids, "history = ids read per step");
    return ids;
  } finally {
    s.release();
  }
}

/** STEPS steps of a captured plan, run in `chunks` submits. */
async function planned(backend: Backend, c: Case, chunks = [3, 3, 4]): Promise<number[]> {
  assert.ok(canCapture(backend));
  const s = setup(backend, c);
  const plan = await backend.capture(() => s.step.encode(), { history: s.step.history });
  try {
    const ids: number[] = [];
    for (const k of chunks) ids.push(...await plan.run(k));
    return ids;
  } finally {
    plan.destroy();
    s.release();
  }
}

/** The five matmuls of a step of `c` at `m` tokens (QKV, o, gate+up, down, LM head). */
/**
 * A kernel set holding `tuned` matmuls, each generated from its tuning; `pipeline` gives each
 * one's pipeline (selection alone never touches it).
 */
async function matmulSet(
  tuned: readonly [MatmulPieceOptions, TuningConfig][],
  pipeline: (source: CompiledPiece["source"]) => Promise<GPUComputePipeline> = () =>
    Promise.resolve({} as GPUComputePipeline),
  others: readonly { key: CompiledPiece["key"]; piece: KernelPiece }[] = [],
): Promise<CompiledKernelSet> {
  const entry = async (key: CompiledPiece["key"], piece: KernelPiece, tuning: TuningConfig) => {
    const source = piece.generate(tuning);
    return { key, source, tuning, pipeline: await pipeline(source), fromCache: false };
  };
  return new CompiledKernelSet(
    await Promise.all([
      ...tuned.map(([o, tuning]) =>
        entry({ bucket: o.m, op: matmulOpName(o), backend: "webgpu" }, matmulPiece(o), tuning)
      ),
      ...others.map((i) => entry(i.key, i.piece, i.piece.candidates[0])),
    ]),
  );
}

function stepMatmuls(c: LlamaKernelConfig, m: number): MatmulPieceOptions[] {
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const shapes: Omit<MatmulPieceOptions, "dtype" | "m">[] = [
    {
      n: q + 2 * kv,
      k: c.hidden,
      bias: c.qkvBias,
      epilogue: { kind: "split3", sizes: [q, kv, kv] },
    },
    { n: c.hidden, k: q },
    { n: c.intermediate, k: c.hidden, epilogue: { kind: "gate_up_silu" } },
    { n: c.hidden, k: c.intermediate },
    { n: c.vocab, k: c.hidden },
  ];
  return shapes.map((o) => ({ ...o, dtype: c.dtype, m }));
}

function assertVaried(ids: number[], what: string): void {
  assert.equal(ids.length, STEPS * 2, what);
  for (const seq of [0, 1]) {
    const column = ids.filter((_, i) => i % 2 === seq);
    assert.ok(new Set(column).size >= 4, `${what}: sequence ${seq} is not near-constant`);
  }
}

describe("llama decode step: cpu and kernel selection (no device)", () => {
  it("random weights are deterministic per seed and tie the LM head on request", async () => {
    const cpu = createCpuBackend(), c = config("q8_0");
    const a = randomLlamaWeights(cpu, c, { layers: 1, seed: 3 });
    const b = randomLlamaWeights(cpu, c, { layers: 1, seed: 3 });
    const other = randomLlamaWeights(cpu, c, { layers: 1, seed: 4, tied: true });
    assert.deepEqual(await cpu.read(a.layers[0].qkv), await cpu.read(b.layers[0].qkv));
    assert.deepEqual(await cpu.read(a.lmHead), await cpu.read(b.lmHead));
    assert.notDeepEqual(await cpu.read(a.layers[0].qkv), await cpu.read(other.layers[0].qkv));
    assert.notEqual(a.lmHead, a.embedding);
    assert.equal(other.lmHead, other.embedding);
    assert.throws(() => randomLlamaWeights(cpu, c, { layers: 0, seed: 1 }), RangeError);
  });
  it("cpu greedy ids vary and depend on the attention context (RoPE mode)", async () => {
    const neox = await opAtATime(createCpuBackend(), { config: config("f32") });
    assertVaried(neox, "neox");
    const interleaved = await opAtATime(createCpuBackend(), {
      config: config("f32", { ropeMode: "interleaved" }),
    });
    assert.notDeepEqual(interleaved, neox, "positions reach the ids through attention");
  });
  it("cpu: advancing past maxSteps throws RangeError", () => {
    const cpu = createCpuBackend();
    const s = setup(cpu, { config: config("f32") });
    for (let i = 0; i < STEPS; i++) s.step.encode();
    assert.throws(() => s.step.encode(), RangeError);
    s.release();
  });
  it("rejects weights that do not fit the config and an inconsistent batch", () => {
    const cpu = createCpuBackend(), c = config("f32");
    const weights = randomLlamaWeights(cpu, c, { layers: 1, seed: 1 });
    const batch = {
      blockTable: new Uint32Array(4),
      numBlocks: 4,
      maxSteps: 2,
      sampling: GREEDY.slice(0, 1),
    };
    const create = (cfg: LlamaKernelConfig, b = batch) =>
      createLlamaDecodeStep(cpu, { config: cfg, weights }, b);
    create(c).release();
    assert.throws(() => create({ ...c, intermediate: 128 }), /layer 0 gateUp is weight/);
    assert.throws(() => create({ ...c, qkvBias: true }), /layer 0 qkvBias is missing/);
    assert.throws(() => create(c, { ...batch, blockTable: new Uint32Array(5) }), RangeError);
  });
  it("selectMatmul runs the set's kernel and grid for (operation, bucket), else the default", async () => {
    const gemv: MatmulPieceOptions = { dtype: "q8_0", m: 1, n: 96, k: 64 };
    const gemm: MatmulPieceOptions = { ...gemv, m: 32, epilogue: { kind: "gate_up_silu" } };
    const lane = { wg: 16, rows: 2, lane: 1 }, tile = { bm: 16, bn: 16, bk: 16, tm: 2, tn: 2 };
    const tuning = await matmulSet([[gemv, lane], [gemm, tile]]);
    const tunedGemv = selectMatmul(gemv, tuning), plainGemv = selectMatmul(gemv);
    assert.deepEqual(tunedGemv.tuning, lane);
    assert.equal(tunedGemv.source.hash, matmulPiece(gemv).generate(lane).hash);
    assert.notEqual(tunedGemv.source.hash, plainGemv.source.hash);
    assert.deepEqual(tunedGemv.grid, [3, 1, 1], "96 rows / (16 lanes × 2 rows)");
    assert.deepEqual(plainGemv.grid, [96, 1, 1], "one workgroup per row");
    const tunedGemm = selectMatmul(gemm, tuning);
    assert.match(tunedGemm.source.name, /\.16x16x16\.2x2$/);
    assert.deepEqual(tunedGemm.grid, [6, 2, 1], "96 columns / bn 16, 32 rows / bm 16");
    // A decode batch of 8 rows runs the token-batched GEMV: one grid layer per pass of
    // gemvDefaultTokens(m) rows (8 → one pass of 8, 3 → one of 4, 16 → two of 8).
    const eight = selectMatmul({ ...gemv, m: 8 });
    assert.match(eight.source.name, /^gemv\..*\.t8$/);
    assert.deepEqual(eight.grid, [96, 1, 1]);
    assert.deepEqual(selectMatmul({ ...gemv, m: 3 }).grid, [96, 1, 1]);
    assert.match(selectMatmul({ ...gemv, m: 3 }).source.name, /\.t4$/);
    assert.deepEqual(selectMatmul({ ...gemv, m: 16 }).grid, [96, 1, 2]);
    assert.equal(selectMatmul({ ...gemv, m: 16 }).source, eight.source, "one kernel for 8 and 16");
    // Another bucket, shape or epilogue has no tuned piece.
    for (const other of [{ ...gemv, m: 2 }, { ...gemv, n: 64 }, { ...gemm, epilogue: undefined }]) {
      assert.equal(selectMatmul(other, tuning).tuning, undefined);
    }
  });
  it("a kernel set is keyed by (operation, bucket) and refuses a key twice", async () => {
    const o: MatmulPieceOptions = { dtype: "f32", m: 1, n: 32, k: 32 };
    const lane = { wg: 16, rows: 2, lane: 1 };
    const set = await matmulSet([[o, lane], [{ ...o, m: 2 }, {}]]);
    assert.equal(matmulOpName(o), "gemv.f32.n32.k32.store");
    assert.equal(
      matmulOpName({ ...o, bias: true, epilogue: { kind: "gate_up_silu" } }),
      "gemv.f32.n32.k32.gate_up_silu.bias",
    );
    assert.deepEqual(set.get(matmulOpName(o), 1)?.tuning, lane);
    assert.deepEqual(set.get(matmulOpName(o), 2)?.tuning, {});
    assert.equal(set.get(matmulOpName(o), 4), undefined);
    assert.equal(set.get(matmulOpName({ ...o, n: 64 }), 1), undefined);
    // Two different kernels under one (operation, bucket): a collision naming both.
    const [a, b] = [lane, {}].map((t) => matmulPiece(o).generate(t));
    await assert.rejects(
      matmulSet([[o, lane], [o, {}]]),
      (e: Error) =>
        e instanceof RangeError && e.message.includes("collision at 1:gemv.f32.n32.k32.store") &&
        e.message.includes(a.hash) && e.message.includes(b.hash),
    );
    await assert.rejects(
      matmulSet([[o, lane], [o, lane]]),
      /1:gemv.f32.n32.k32.store:webgpu twice/,
    );
    // The model's kernel set names every piece once per bucket, whatever its dimensions.
    for (const backend of ["webgpu", "webgpu-eager"] as const) {
      const c = { ...config("q8_0"), kvHeads: 4, intermediate: 64 }; // Q and K RoPE coincide
      const items = llamaKernelSet(c, { buckets: [1, 2], backend });
      const keys = items.map((i) => `${i.key.bucket}:${i.key.op}`);
      assert.equal(new Set(keys).size, keys.length, keys.join(" "));
      assert.ok(items.every((i) => i.key.op === i.piece.name && i.key.backend === backend));
    }
  });
});

describe("kernel name collisions", () => {
  const source = (code: string): KernelSource => ({
    name: "rmsnorm.d64",
    code,
    entryPoint: "main",
    workgroupSize: [64, 1, 1],
    hash: fnv1aHex(code),
    params: { dim: 64 },
  });
  const key = (bucket: number) => ({ bucket, op: "rmsnorm.d64", backend: "webgpu" });
  const compiled = (bucket: number, s: KernelSource): CompiledPiece => ({
    key: key(bucket),
    source: s,
    tuning: {},
    pipeline: {} as GPUComputePipeline,
    fromCache: false,
  });
  const [one, other] = [source("// one"), source("// other")];
  const namesBoth = (at: string) => (e: Error) =>
    e instanceof RangeError && e.message.includes(`collision at ${at}`) &&
    e.message.includes(one.hash) && e.message.includes(other.hash);

  it("warm-up rejects two different sources under one (operation, bucket), naming both", async () => {
    const cache = await KernelCompileCache.open({} as KernelRuntime, {
      storage: memoryCacheStorage(),
      root: "/unused",
      factors: {} as CacheKeyFactors,
      disabled: true,
    });
    await assert.rejects(
      cache.warmUp([
        { key: key(1), piece: fixedPiece(one) },
        { key: key(1), piece: fixedPiece(other) },
      ]),
      namesBoth("1:rmsnorm.d64:webgpu"),
    );
    assert.equal(cache.counters.piecesSeen, 0, "rejected before anything was compiled");
  });

  it("a kernel set rejects an untuned operation whose buckets hold different sources", () => {
    assert.throws(
      () => new CompiledKernelSet([compiled(1, one), compiled(2, other)]),
      namesBoth("2:rmsnorm.d64:webgpu"),
    );
    const set = new CompiledKernelSet([compiled(1, one), compiled(2, one)]);
    assert.equal(set.fixed("rmsnorm.d64", 2)?.key.bucket, 2, "the bucket's own entry");
    assert.equal(set.fixed("rmsnorm.d64", 5)?.source, one, "an unwarmed bucket: same kernel");
    assert.equal(set.fixed("rmsnorm.d32", 1), undefined);
  });
});

describe("llama decode step on the GPU", { skip: device.skip }, () => {
  const runtime = device.context ? new KernelRuntime(device.context) : undefined;
  const gpu = (fused: boolean, options: { pool?: BufferPool; rt?: KernelRuntime } = {}) =>
    createWebGpuBackend(options.rt ?? runtime!, { fused, pool: options.pool });
  const using = async <T>(b: Backend, fn: (b: Backend) => Promise<T>): Promise<T> => {
    try {
      return await fn(b);
    } finally {
      b.destroy();
    }
  };

  const cases: [string, Case][] = [
    ["f32", { config: config("f32") }],
    ["q8_0", { config: config("q8_0") }],
    // Seed 2: tied models tend to echo their input token; this one's ids vary.
    ["q8_0, QKV bias, tied LM head", {
      config: config("q8_0", { qkvBias: true }),
      seed: 2,
      tied: true,
    }],
  ];
  for (const [name, c] of cases) {
    it(`${name}: greedy ids equal on cpu, webgpu op at a time, webgpu plan and webgpu-eager plan`, async () => {
      const want = await opAtATime(createCpuBackend(), c);
      assertVaried(want, "cpu");
      assert.deepEqual(await using(gpu(true), (b) => opAtATime(b, c)), want, "webgpu op");
      assert.deepEqual(await using(gpu(true), (b) => planned(b, c)), want, "webgpu plan");
      assert.deepEqual(await using(gpu(false), (b) => planned(b, c)), want, "eager plan");
    });
  }

  it("temperature, top-k and top-p: the webgpu plan equals webgpu op at a time", async () => {
    const c: Case = {
      config: config("q8_0"),
      sampling: [
        { temperature: 0.9, topK: 20, topP: 0.9, seed: 11 },
        { temperature: 1.3, topK: 0, topP: 0.8, seed: 12 },
      ],
    };
    const stepwise = await using(gpu(true), (b) => opAtATime(b, c));
    assertVaried(stepwise, "sampled");
    assert.deepEqual(await using(gpu(true), (b) => planned(b, c, [1, 5, 4])), stepwise);
    const greedy = await using(gpu(true), (b) => planned(b, { config: c.config }));
    assert.notDeepEqual(stepwise, greedy, "sampling departs from greedy");
  });

  it("a plan refuses to run past maxSteps; reset and resetHistory replay the same ids", () =>
    using(gpu(true), async (b) => {
      assert.ok(canCapture(b));
      const s = setup(b, { config: config("f32") });
      const plan = await b.capture(() => s.step.encode(), { history: s.step.history });
      const first = [...await plan.run(STEPS)];
      await assert.rejects(plan.run(1), RangeError);
      s.step.reset(START, new Uint32Array(2));
      plan.resetHistory();
      assert.deepEqual([...await plan.run(4), ...await plan.run(6)], first);
      await assert.rejects(plan.run(0), RangeError);
      plan.destroy();
      s.release();
    }));

  it("capture refuses queued ops, nesting, host transfers and empty steps, and leaks nothing", async () => {
    const pool = new BufferPool(device.context!.device);
    const refusals = gpu(true, { pool });
    try {
      assert.ok(canCapture(refusals));
      const s = setup(refusals, { config: config("f32") });
      const history = s.step.history, encode = () => s.step.encode();
      encode();
      assert.throws(() => refusals.capture(encode, { history }), /queued ops are not flushed/);
      const firstIds = [...await refusals.read(s.step.ids)];
      const refused: [RegExp, () => void][] = [
        [/do not nest/, () => (encode(), refusals.capture(encode, { history }))],
        [/Cannot read a tensor while capturing/, () => (encode(), refusals.read(s.step.ids))],
        [/Cannot write a tensor while capturing/, () => s.step.reset(START, START)],
        [/recorded no op/, () => {}],
      ];
      for (const [message, step] of refused) {
        assert.throws(() => refusals.capture(step, { history }), TypeError);
        assert.throws(() => refusals.capture(step, { history }), message);
      }
      assert.throws(() => refusals.capture(encode, { history: s.step.ids }), RangeError);
      const plan = await refusals.capture(encode, { history });
      // Nothing of the refused captures reached the queue: the plan continues at step 1 (its
      // own row count starts at 0, so read the whole history rather than its result).
      await plan.run(STEPS - 1);
      const want = await opAtATime(createCpuBackend(), { config: config("f32") });
      assert.deepEqual(firstIds, want.slice(0, 2));
      assert.deepEqual([...await refusals.read(history)], want);
      plan.destroy();
      s.release();
    } finally {
      refusals.destroy();
    }
    // The same op, read and capture on a fresh pool create as many buffers: the refused
    // captures returned everything they took.
    const fresh = new BufferPool(device.context!.device);
    await using(gpu(true, { pool: fresh }), async (b) => {
      const s = setup(b, { config: config("f32") });
      s.step.encode();
      await b.read(s.step.ids);
      assert.ok(canCapture(b));
      (await b.capture(() => s.step.encode(), { history: s.step.history })).destroy();
      s.release();
    });
    assert.equal(pool.stats.created, fresh.stats.created);
    pool.destroy();
    fresh.destroy();
  });

  it("plan.destroy returns its buffers to the pool; backend destroy ends live plans", async () => {
    const pool = new BufferPool(device.context!.device);
    const captureOn = async (b: Backend) => {
      assert.ok(canCapture(b));
      const s = setup(b, { config: config("q8_0") });
      return { s, plan: await b.capture(() => s.step.encode(), { history: s.step.history }) };
    };
    const b1 = gpu(false, { pool });
    const { plan: first } = await captureOn(b1);
    const held = pool.stats.created;
    assert.ok(held > 10, "the plan holds a uniform per op and the eager temporaries");
    first.destroy();
    first.destroy(); // idempotent
    await assert.rejects(first.run(1), TypeError);
    const { plan: second } = await captureOn(b1);
    assert.equal(pool.stats.created, held, "the second plan reused the first one's buffers");
    b1.destroy();
    assert.ok(second.destroyed, "destroying the backend destroyed its live plan");
    await assert.rejects(second.run(1), TypeError);
    second.destroy(); // afterwards: nothing to do, no throw
    // The destroyed backend gave the live plan's buffers back to the injected pool.
    await using(gpu(false, { pool }), async (b2) => {
      const { plan } = await captureOn(b2);
      assert.equal(pool.stats.created, held, "a third capture reused them again");
      assert.equal((await plan.run(2)).length, 4);
    });
    pool.destroy();
    // An owned pool is destroyed with the backend, live plans' buffers included.
    const owner = gpu(true);
    const { plan } = await captureOn(owner);
    owner.destroy();
    assert.ok(plan.destroyed);
    plan.destroy();
  });

  it("webgpu with matmul tuning dispatches the tuned kernels and still equals cpu", async () => {
    const rt = new KernelRuntime(device.context!);
    const c = config("q8_0"), matmuls = stepMatmuls(c, 1);
    const one: Case = { config: c, sampling: GREEDY.slice(0, 1) };
    const lane = { wg: 16, rows: 2, lane: 1 };
    // The model's other (fixed) kernels complete the set: dispatch finds every kernel in it.
    const fixed = llamaKernelSet(c, { buckets: [1], backend: "webgpu" })
      .filter((i) => i.piece.candidates.length === 1 && !i.key.op.startsWith("gemv"));
    const tuning = await matmulSet(
      matmuls.map((o) => [o, lane]),
      (s) => rt.pipeline(s),
      fixed,
    );
    const b = createWebGpuBackend(rt, { fused: true, kernels: tuning });
    try {
      assert.ok(canCapture(b));
      const s = setup(b, one);
      const plan = await b.capture(() => s.step.encode(), { history: s.step.history });
      const labels = plan.steps.map((p) => p.kind === "dispatch" ? p.dispatch.label : "copy");
      for (const o of matmuls) {
        const tuned = selectMatmul(o, tuning).source, plain = selectMatmul(o).source;
        assert.ok(labels.includes(tuned.name), `${tuned.name} is dispatched`);
        assert.ok(rt.hasPipeline(tuned), `${tuned.name} was compiled`);
        assert.ok(!rt.hasPipeline(plain), `the default ${plain.name} was not`);
      }
      const ids = [...await plan.run(STEPS)];
      plan.destroy();
      s.release();
      assert.deepEqual(ids, await opAtATime(createCpuBackend(), one));
      assert.ok(new Set(ids).size >= 4, "the single sequence is not near-constant");
    } finally {
      b.destroy();
      rt.destroy();
    }
  });

  for (const backend of ["webgpu", "webgpu-eager"] as const) {
    it(`${backend}: the model kernel set covers every kernel a decode step dispatches`, async () => {
      const rt = new KernelRuntime(device.context!);
      const c = config("q8_0", { qkvBias: true });
      try {
        const cache = await KernelCompileCache.open(rt, {
          storage: memoryCacheStorage(),
          root: "/unused",
          factors: cacheKeyFactors(device.context!, c, c.dtype),
          disabled: true,
          tune: false,
        });
        const items = llamaKernelSet(c, { buckets: [2], backend });
        const kernels = await cache.warmUp(items);
        const warmed = rt.pipelinesCreated, generated = kernelSourcesGenerated();
        const lookups = rt.pipelineLookups;
        const fused = backend === "webgpu";
        // Two sequences: bucket 2, whose kernels dispatch looks up in the set, op at a time
        // and as a captured plan.
        const b = createWebGpuBackend(rt, { fused, kernels });
        try {
          await opAtATime(b, { config: c });
          await planned(b, { config: c });
          assert.equal(rt.pipelineLookups, lookups, "no pipeline was looked up by WGSL hash");
          assert.equal(rt.pipelinesCreated, warmed, "no pipeline was compiled after warm-up");
          assert.equal(kernelSourcesGenerated(), generated, "no WGSL was generated after warm-up");
          // A kernel the given set lacks is an error at the op, not a silent compile.
          const x = b.empty([2, 8]);
          assert.throws(
            () => b.softmax(b.empty([2, 8]), x),
            /Cannot dispatch softmax\.c8 for 2 tokens on webgpu.*has no such operation/,
          );
          assert.equal(rt.pipelineLookups, lookups);
          // Without a set, ops dispatch the memoised sources (looked up by hash).
          const bare = createWebGpuBackend(rt, { fused });
          try {
            await opAtATime(bare, { config: c });
            assert.ok(rt.pipelineLookups > lookups, "a backend without a set looks pipelines up");
          } finally {
            bare.destroy();
          }
        } finally {
          b.destroy();
        }
      } finally {
        rt.destroy();
      }
    });
  }

  it("warmUpKernelSet: the backend's matmuls are the warmed-up pieces", async () => {
    const rt = new KernelRuntime(device.context!);
    const c = config("q8_0");
    try {
      const cache = await KernelCompileCache.open(rt, {
        storage: memoryCacheStorage(),
        root: "/unused",
        factors: cacheKeyFactors(device.context!, c, c.dtype),
        disabled: true,
        tune: false, // the tuner's timing is covered by the compile cache tests
      });
      const tuning = await warmUpKernelSet(cache, c, { buckets: [1, 2] });
      const matmuls = tuning.pieces.filter((p) => p.key.op.startsWith("gemv"));
      assert.equal(matmuls.length, 10, "5 matmuls × 2 buckets");
      // Two sequences: the bucket-2 pieces. Each selected kernel is one the warm-up compiled.
      for (const o of stepMatmuls(c, 2)) {
        const choice = selectMatmul(o, tuning);
        assert.ok(choice.tuning, `${matmulOpName(o)} is in the set`);
        assert.equal(choice.source, tuning.get(matmulOpName(o), 2)?.source, "the set's own source");
        assert.ok(rt.hasPipeline(choice.source), `${choice.source.name} was warmed up`);
      }
      const want = await opAtATime(createCpuBackend(), { config: c });
      const got = await using(
        createWebGpuBackend(rt, { fused: true, kernels: tuning }),
        (b) => planned(b, { config: c }),
      );
      assert.deepEqual(got, want);
    } finally {
      rt.destroy();
    }
  });
});
