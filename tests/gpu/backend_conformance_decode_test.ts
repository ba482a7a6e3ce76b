/**
 * The shared backend conformance suite, decode-path ops: `kvAppend` + `pagedAttention` over a
 * {@link PagedKvCache}, and `sample`. Every backend is checked against an oracle written here
 * (dense attention over each sequence's logical K/V history; sampling rules), and the GPU
 * backends additionally against the `cpu` backend on the same random inputs.
 *
 * `advance` (the end of a decode step) appends the sampled ids at row `state[0]` of the
 * history, moves positions and the step that `sample` draws from, and rejects bad shapes; a
 * step past the history's rows throws on `cpu` and writes no row on the GPU backends.
 *
 * Shapes: odd head dims (13, 7, 9), GQA ratios 1, 2 and 4, block sizes 3, 4, 5 and 16, context
 * lengths not a multiple of the block size, several sequences of different lengths, block
 * tables shuffled (physical blocks out of order), prefill tokens of different sequences
 * interleaved; one case longer than 256 tokens so `webgpu` takes the split-K + merge path
 * rather than the fused single pass.
 *
 * Tolerances: the KV cache is an exact copy (bit-equal to `cpu`); attention
 * |got − want| ≤ 2e-5 + 1e-4·|want| (f32 on the GPU vs f64 softmax in the oracle and `cpu`);
 * sampling ids are exact (same PCG draw on every backend).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import type { Backend } from "../../src/gpu/ops/backend.ts";
import { createBackendRegistry } from "../../src/gpu/backends/backend_registry.ts";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { createPagedKvCache, type PagedBatch } from "../../src/gpu/ops/paged_kv_cache.ts";
import { packSamplingParams } from "../../src/gpu/ops/sampling_inputs.ts";
import { argmaxRef, type SamplingParams } from "../../src/gpu/reference/sampling.ts";
import { type AttentionCase, buildAttentionCase, denseAttention } from "./_paged_case.ts";

const device = await acquireTestDevice();
const TOL = { abs: 2e-5, rel: 1e-4 };

const CASES: AttentionCase[] = [
  {
    heads: 3,
    kvHeads: 3,
    headDim: 13,
    blockSize: 4,
    numBlocks: 12,
    maxBlocks: 4,
    contexts: [7, 13, 1],
  },
  {
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    blockSize: 5,
    numBlocks: 14,
    maxBlocks: 4,
    contexts: [9, 17, 3],
  },
  {
    heads: 8,
    kvHeads: 2,
    headDim: 7,
    blockSize: 3,
    numBlocks: 16,
    maxBlocks: 4,
    contexts: [11, 2, 5, 8],
  },
  {
    heads: 4,
    kvHeads: 1,
    headDim: 9,
    blockSize: 16,
    numBlocks: 40,
    maxBlocks: 20,
    contexts: [300, 70, 129],
  },
];

/** Runs prefill append, decode append and decode attention of `c` on `b`. */
async function runDecodeStep(b: Backend, c: AttentionCase, seed: number) {
  const x = buildAttentionCase(c, seed);
  const cache = createPagedKvCache(b, c);
  const row = c.kvHeads * c.headDim, width = c.heads * c.headDim;
  const u32 = (a: Uint32Array) => b.upload(a, [a.length]);
  const batch = (tokens: { seq: number; pos: number }[]): PagedBatch => ({
    blockTable: b.upload(x.blockTable, [x.seqs, c.maxBlocks]),
    tokenSeq: u32(Uint32Array.from(tokens, (t) => t.seq)),
    positions: u32(Uint32Array.from(tokens, (t) => t.pos)),
  });
  const rows = (tokens: { seq: number; pos: number }[], of: Float32Array[]) => {
    const out = new Float32Array(tokens.length * row);
    tokens.forEach((t, i) => out.set(of[t.seq].subarray(t.pos * row, (t.pos + 1) * row), i * row));
    return b.upload(out, [tokens.length, row]);
  };
  b.kvAppend(cache, rows(x.prefill, x.k), rows(x.prefill, x.v), batch(x.prefill));
  const decode = batch(x.decode);
  b.kvAppend(cache, rows(x.decode, x.k), rows(x.decode, x.v), decode);
  const out = b.empty([x.seqs, width]);
  b.pagedAttention(out, b.upload(x.q, [x.seqs, width]), cache, decode);
  return {
    x,
    out: await b.read(out) as Float32Array,
    k: await b.read(cache.k) as Float32Array,
    v: await b.read(cache.v) as Float32Array,
  };
}

const SAMPLING: SamplingParams[] = [
  { temperature: 0, topK: 0, topP: 1, seed: 1 }, // greedy
  { temperature: 1, topK: 1, topP: 1, seed: 2 }, // top-k = 1
  { temperature: 1.5, topK: 0, topP: 1e-6, seed: 3 }, // tiny top-p keeps the top token
  { temperature: 0.8, topK: 40, topP: 0.9, seed: 4 },
  { temperature: 2, topK: 5, topP: 1, seed: 5 },
  { temperature: 1, topK: 0, topP: 1, seed: 6 }, // the 256-candidate cap
];
const VOCAB = 1000;

/** Samples `logits` at each step with `params`; one fresh state tensor per step. */
async function sampleSteps(
  b: Backend,
  logits: Float32Array,
  params: SamplingParams[],
  steps: number[],
): Promise<number[][]> {
  const lt = b.upload(logits, [params.length, VOCAB]);
  const pt = b.upload(packSamplingParams(params), [params.length, 4]);
  const out: number[][] = [];
  for (const step of steps) {
    const ids = b.empty([params.length], "u32");
    b.sample(ids, lt, { params: pt, state: b.upload(new Uint32Array([step]), [1]) });
    out.push([...await b.read(ids)]);
  }
  return out;
}

function topIndices(logits: Float32Array, k: number): Set<number> {
  return new Set([...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, k));
}

function conformance(name: string, skip: string | false, factory: () => Promise<Backend>) {
  describe(`backend conformance (decode ops): ${name}`, { skip }, () => {
    const run = async (fn: (b: Backend, cpu: Backend) => Promise<void>) => {
      const b = await factory(), cpu = createCpuBackend();
      try {
        await fn(b, cpu);
      } finally {
        b.destroy();
        cpu.destroy();
      }
    };
    CASES.forEach((c, i) => {
      const title = `kvAppend + pagedAttention H=${c.heads} HKV=${c.kvHeads} D=${c.headDim} ` +
        `bs=${c.blockSize} contexts=${c.contexts}`;
      it(title, () =>
        run(async (b, cpu) => {
          const got = await runDecodeStep(b, c, 100 + i);
          const { x } = got, row = c.kvHeads * c.headDim;
          // Oracle: every (sequence, position) sits at its block-table slot.
          for (let s = 0; s < x.seqs; s++) {
            for (let p = 0; p < c.contexts[s]; p++) {
              const slot = x.blockTable[s * c.maxBlocks + Math.floor(p / c.blockSize)] *
                  c.blockSize + p % c.blockSize;
              const want = x.k[s].subarray(p * row, (p + 1) * row);
              assert.deepEqual(got.k.subarray(slot * row, (slot + 1) * row), want, `k ${s}:${p}`);
              const wantV = x.v[s].subarray(p * row, (p + 1) * row);
              assert.deepEqual(got.v.subarray(slot * row, (slot + 1) * row), wantV);
            }
          }
          assertClose(got.out, denseAttention(c, x), TOL, "attention vs dense oracle");
          if (b.name === "cpu") return;
          const ref = await runDecodeStep(cpu, c, 100 + i);
          assert.deepEqual(got.k, ref.k, "k cache equals cpu");
          assert.deepEqual(got.v, ref.v, "v cache equals cpu");
          assertClose(got.out, ref.out, TOL, "attention vs cpu");
        }));
    });
    it("pagedAttention rejects a query width that is not a multiple of kvHeads·headDim", () =>
      run(async (b) => {
        const cache = createPagedKvCache(b, { numBlocks: 2, blockSize: 4, kvHeads: 2, headDim: 4 });
        const batch = {
          blockTable: b.upload(new Uint32Array([0, 1]), [1, 2]),
          tokenSeq: b.upload(new Uint32Array([0]), [1]),
          positions: b.upload(new Uint32Array([3]), [1]),
        };
        assert.throws(
          () => b.pagedAttention(b.empty([1, 12]), b.empty([1, 12]), cache, batch),
          RangeError,
        );
        assert.throws(() => b.kvAppend(cache, b.empty([1, 4]), b.empty([1, 4]), batch), RangeError);
        await Promise.resolve();
      }));
    it(`sample (vocab ${VOCAB}): cpu ids, greedy = argmax, top-k=1 and tiny top-p keep the top token`, () =>
      run(async (b, cpu) => {
        const logits = randomFloats(SAMPLING.length * VOCAB, 41, 4);
        const steps = [0, 1, 2, 3, 4, 5, 6, 7];
        const got = await sampleSteps(b, logits, SAMPLING, steps);
        const rowOf = (r: number) => logits.subarray(r * VOCAB, (r + 1) * VOCAB);
        const argmax = argmaxRef(logits, VOCAB);
        const top40 = topIndices(rowOf(3), 40), top5 = topIndices(rowOf(4), 5);
        for (const ids of got) {
          assert.deepEqual(ids.slice(0, 3), [argmax[0], argmax[1], argmax[2]]);
          assert.ok(top40.has(ids[3]), `row 3 id ${ids[3]} is in the top 40`);
          assert.ok(top5.has(ids[4]), `row 4 id ${ids[4]} is in the top 5`);
        }
        assert.ok(new Set(got.map((ids) => ids[5])).size > 1, "the draw varies with the step");
        if (b.name !== "cpu") {
          assert.deepEqual(got, await sampleSteps(cpu, logits, SAMPLING, steps), "ids equal cpu");
        }
      }));
    it("sample is deterministic for a seed and step, and the seed changes the draw", () =>
      run(async (b) => {
        const logits = randomFloats(2 * VOCAB, 42, 4);
        const params = (seed: number) =>
          [0, 1].map(() => ({ temperature: 1, topK: 0, topP: 1, seed }));
        const steps = [0, 1, 2, 3, 4, 5];
        const first = await sampleSteps(b, logits, params(9), steps);
        assert.deepEqual(await sampleSteps(b, logits, params(9), steps), first);
        assert.notDeepEqual(await sampleSteps(b, logits, params(10), steps), first);
        assert.notDeepEqual(first.map((r) => r[0]), first.map((r) => r[1]), "rows draw apart");
      }));
    it("advance appends ids at row state[0] and moves positions and the step", () =>
      run(async (b) => {
        const history = b.empty([3, 2], "u32"), ids = b.upload(new Uint32Array([7, 9]), [2]);
        const positions = b.upload(new Uint32Array([4, 0]), [2]);
        const state = b.upload(new Uint32Array([1, 5, 0, 0]), [4]);
        b.advance(history, { ids, positions, state });
        b.write(ids, new Uint32Array([11, 12]));
        b.advance(history, { ids, positions, state });
        assert.deepEqual([...await b.read(history)], [0, 0, 7, 9, 11, 12]);
        assert.deepEqual([...await b.read(positions)], [6, 2]);
        assert.deepEqual([...await b.read(state)], [3, 5, 0, 0], "only word 0 moves");
        if (b.name === "cpu") {
          assert.throws(() => b.advance(history, { ids, positions, state }), RangeError);
          assert.deepEqual([...await b.read(positions)], [6, 2], "a refused step changes nothing");
          return;
        }
        b.advance(history, { ids, positions, state });
        assert.deepEqual([...await b.read(history)], [0, 0, 7, 9, 11, 12], "no row past the end");
        assert.deepEqual([...await b.read(positions)], [7, 3]);
        assert.deepEqual([...await b.read(state)], [4, 5, 0, 0]);
      }));
    it("sample then advance draws each step from the advanced state (equal to cpu)", () =>
      run(async (b, cpu) => {
        const logits = randomFloats(2 * VOCAB, 43, 4);
        const params = [3, 4].map((seed) => ({ temperature: 1, topK: 0, topP: 0.95, seed }));
        const steps = [0, 1, 2, 3, 4];
        const chained = async (x: Backend) => {
          const lt = x.upload(logits, [2, VOCAB]), ids = x.empty([2], "u32");
          const sampling = {
            params: x.upload(packSamplingParams(params), [2, 4]),
            state: x.empty([1], "u32"),
          };
          const history = x.empty([steps.length, 2], "u32");
          const positions = x.empty([2], "u32");
          for (const _ of steps) {
            x.sample(ids, lt, sampling);
            x.advance(history, { ids, positions, state: sampling.state });
          }
          const rows = await x.read(history);
          return steps.map((s) => [rows[2 * s], rows[2 * s + 1]]);
        };
        const got = await chained(b);
        assert.deepEqual(got, await sampleSteps(b, logits, params, steps), "step s draws at s");
        assert.ok(new Set(got.map((r) => r[0])).size > 1, "the draw moves with the step");
        if (b.name !== "cpu") assert.deepEqual(got, await chained(cpu), "ids equal cpu");
      }));
    it("advance rejects mis-shaped tensors", () =>
      run(async (b) => {
        const u32 = (shape: number[]) => b.empty(shape, "u32");
        const ok = { ids: u32([2]), positions: u32([2]), state: u32([1]) };
        b.advance(u32([4, 2]), ok);
        for (
          const [history, inputs] of [
            [b.empty([4, 2]), ok], // f32 history
            [u32([4, 3]), ok], // row width is not T
            [u32([8]), ok], // not [maxSteps, T]
            [u32([4, 2]), { ...ok, positions: u32([3]) }],
            [u32([4, 2]), { ...ok, state: b.empty([1]) }],
            [u32([4, 2]), { ...ok, ids: b.empty([2]) }],
          ] as const
        ) {
          assert.throws(() => b.advance(history, inputs), RangeError);
        }
        await Promise.resolve();
      }));
    it("sample rejects mis-shaped inputs", () =>
      run(async (b) => {
        const logits = b.empty([2, 8]), state = b.upload(new Uint32Array([0]), [1]);
        const params = b.upload(packSamplingParams([SAMPLING[0]]), [1, 4]);
        assert.throws(() => b.sample(b.empty([2], "u32"), logits, { params, state }), RangeError);
        assert.throws(() => packSamplingParams([{ ...SAMPLING[0], topP: 0 }]), RangeError);
        await Promise.resolve();
      }));
  });
}

const registry = createBackendRegistry();
const runtime = device.context ? new KernelRuntime(device.context) : undefined;
conformance("cpu", false, () => registry.create("cpu", {}));
conformance("cpu (js kernels)", false, () => registry.create("cpu", { cpu: { kernels: "js" } }));
conformance("webgpu-eager", device.skip, () => registry.create("webgpu-eager", { runtime }));
conformance("webgpu", device.skip, () => registry.create("webgpu", { runtime }));
