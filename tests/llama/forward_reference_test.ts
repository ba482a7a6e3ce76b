/**
 * The `cpu` forward pass of the engine's batch runner against an independent float64
 * implementation of the architecture written here (RMSNorm, RoPE in the pairing of the file's
 * convention, GQA causal attention, SwiGLU), on the F32 fixtures. The safetensors twin of the
 * GGUF llama fixture (Q/K un-permuted to HF order, rotate-half RoPE) must give the same logits
 * as the GGUF file (adjacent-pair RoPE): this is what catches a wrong RoPE convention.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCpuBackend } from "../../src/gpu/backends/cpu_backend.ts";
import {
  createKvCachePool,
  createLlamaBatchRunner,
} from "../../src/gpu/llama/llama_batch_runner.ts";
import { loadLlamaModel } from "../../src/model/model_loader.ts";
import { uploadLlamaCheckpoint } from "../../src/model/llama_upload.ts";
import {
  FIXTURE_SIZES,
  type FixtureModelOptions,
  fixtureTensors,
} from "../fixtures/model/fixture_model.ts";
import {
  fixtureFiles,
  fixtureRoot,
  ggufModel,
  ggufModelWithRopeFreqs,
  safetensorsModel,
} from "./_fixture_dir.ts";

let root: Awaited<ReturnType<typeof fixtureRoot>>;
before(async () => (root = await fixtureRoot()));
after(() => root.dispose());

const files = fixtureFiles;

/** Float64 reference: logits `[T][V]` of `tokens` run from position 0, GGUF-named weights. */
function referenceLogits(
  options: FixtureModelOptions,
  tokens: number[],
  pairing: "adjacent" | "halves",
  freqDivisors?: number[],
): Float64Array[] {
  const c = FIXTURE_SIZES[options.size ?? "tiny"];
  const w = new Map(fixtureTensors(options).map((t) => [t.name, Float64Array.from(t.values())]));
  const get = (n: string) => w.get(n)!;
  const D = c.nEmbd, H = c.nHead, KV = c.nHeadKv, hd = D / H, F = c.nFf;
  const V = get("token_embd.weight").length / D;
  const matvec = (m: Float64Array, x: Float64Array, rows: number, bias?: Float64Array) => {
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = bias ? bias[r] : 0;
      for (let k = 0; k < x.length; k++) s += m[r * x.length + k] * x[k];
      out[r] = s;
    }
    return out;
  };
  const rms = (x: Float64Array, g: Float64Array) => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    const inv = 1 / Math.sqrt(ms + c.rmsEps);
    return x.map((v, i) => v * inv * g[i]);
  };
  const rope = (x: Float64Array, heads: number, pos: number) => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        const [a, b] = pairing === "adjacent" ? [2 * i, 2 * i + 1] : [i, i + hd / 2];
        const ang = pos * Math.pow(c.ropeBase, (-2 * i) / hd) / (freqDivisors?.[i] ?? 1);
        const x0 = x[h * hd + a], x1 = x[h * hd + b];
        x[h * hd + a] = x0 * Math.cos(ang) - x1 * Math.sin(ang);
        x[h * hd + b] = x0 * Math.sin(ang) + x1 * Math.cos(ang);
      }
    }
  };
  const keys: Float64Array[][] = Array.from({ length: c.nLayer }, () => []);
  const values: Float64Array[][] = Array.from({ length: c.nLayer }, () => []);
  const out: Float64Array[] = [];
  tokens.forEach((tok, pos) => {
    let h = get("token_embd.weight").slice(tok * D, (tok + 1) * D);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `blk.${l}.`;
      const x = rms(h, get(p + "attn_norm.weight"));
      const q = matvec(get(p + "attn_q.weight"), x, H * hd, w.get(p + "attn_q.bias"));
      const k = matvec(get(p + "attn_k.weight"), x, KV * hd, w.get(p + "attn_k.bias"));
      const v = matvec(get(p + "attn_v.weight"), x, KV * hd, w.get(p + "attn_v.bias"));
      rope(q, H, pos);
      rope(k, KV, pos);
      keys[l].push(k);
      values[l].push(v);
      const attn = new Float64Array(H * hd);
      for (let qh = 0; qh < H; qh++) {
        const kh = Math.floor(qh / (H / KV));
        const scores = keys[l].map((kk) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[qh * hd + d] * kk[kh * hd + d];
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        values[l].forEach((vv, j) => {
          for (let d = 0; d < hd; d++) attn[qh * hd + d] += (e[j] / z) * vv[kh * hd + d];
        });
      }
      h = h.map((v, i) => v + matvec(get(p + "attn_output.weight"), attn, D)[i]);
      const y = rms(h, get(p + "ffn_norm.weight"));
      const g = matvec(get(p + "ffn_gate.weight"), y, F),
        u = matvec(get(p + "ffn_up.weight"), y, F);
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
      const down = matvec(get(p + "ffn_down.weight"), act, D);
      h = h.map((v, i) => v + down[i]);
    }
    const head = w.get("output.weight") ?? get("token_embd.weight");
    out.push(matvec(head, rms(h, get("output_norm.weight")), V));
  });
  return out;
}

/** Logits of every position from the engine's runner on `cpu`, in chunks of `chunk`. */
async function runnerLogits(path: string, tokens: number[], chunk = tokens.length) {
  const backend = createCpuBackend();
  const { checkpoint } = await loadLlamaModel(path, files);
  const model = uploadLlamaCheckpoint(backend, checkpoint, { blockSize: 4, maxBlocks: 8 });
  const pool = createKvCachePool(backend, model.config, {
    layers: checkpoint.config.layers,
    numBlocks: 10,
  });
  const runner = createLlamaBatchRunner(backend, model, pool);
  // Blocks 9, 2, 7, ... : a scattered physical layout.
  const blockTable = Uint32Array.from({ length: 8 }, (_, i) => (9 + 3 * i) % 10);
  const out: Float32Array[] = [];
  for (let s = 0; s < tokens.length; s += chunk) {
    const n = Math.min(chunk, tokens.length - s);
    const logits = await runner.run({
      ids: Uint32Array.from(tokens.slice(s, s + n)),
      positions: Uint32Array.from({ length: n }, (_, i) => s + i),
      tokenSeq: new Uint32Array(n),
      blockTable,
      logitRows: Array.from({ length: n }, (_, i) => i),
    });
    const vocab = logits.length / n;
    for (let i = 0; i < n; i++) out.push(logits.slice(i * vocab, (i + 1) * vocab));
  }
  runner.release();
  pool.release();
  return out;
}

function maxDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let m = 0;
  a.forEach((row, t) => {
    for (let i = 0; i < row.length; i++) m = Math.max(m, Math.abs(row[i] - b[t][i]));
  });
  return m;
}

const PROMPT = [1, 40, 77, 12, 300, 5, 5, 91, 150, 33, 8, 260, 44, 17];
/** f32 accumulation against float64 over two layers: logits (std ~3) agree to this. */
const TOLERANCE = 2e-3;

describe("cpu forward pass vs a float64 reference", () => {
  it("GGUF llama (adjacent-pair RoPE), GQA, untied", async () => {
    const path = await ggufModel(root.path, "ref-llama", {});
    const ref = referenceLogits({}, PROMPT, "adjacent");
    const got = await runnerLogits(path, PROMPT);
    assert.ok(maxDiff(got, ref) < TOLERANCE, `max diff ${maxDiff(got, ref)}`);
    // The check can fail: the other pairing is far off.
    const wrong = referenceLogits({}, PROMPT, "halves");
    assert.ok(maxDiff(got, wrong) > 0.05, `wrong pairing only ${maxDiff(got, wrong)} away`);
  });

  it("GGUF qwen2 (rotate-half RoPE, QKV biases), tied output", async () => {
    const options = { arch: "qwen2", tied: true } as const;
    const path = await ggufModel(root.path, "ref-qwen", options);
    const ref = referenceLogits(options, PROMPT, "halves");
    const got = await runnerLogits(path, PROMPT);
    assert.ok(maxDiff(got, ref) < TOLERANCE, `max diff ${maxDiff(got, ref)}`);
  });

  it("the safetensors twin of the llama fixture (HF layout) gives the GGUF model's logits", async () => {
    const dir = await safetensorsModel(root.path, "ref-llama-hf", {});
    const ref = referenceLogits({}, PROMPT, "adjacent");
    const got = await runnerLogits(dir, PROMPT);
    assert.ok(maxDiff(got, ref) < TOLERANCE, `max diff ${maxDiff(got, ref)}`);
  });

  it("chunked prefill gives the logits of one pass", async () => {
    const path = await ggufModel(root.path, "ref-chunk", {});
    const whole = await runnerLogits(path, PROMPT);
    const chunked = await runnerLogits(path, PROMPT, 3);
    assert.ok(maxDiff(whole, chunked) < 1e-4, `max diff ${maxDiff(whole, chunked)}`);
  });

  it("Llama 3 RoPE scaling: GGUF rope_freqs and an HF rope_scaling of type llama3", async () => {
    // HF's llama3 rule, written here: wavelengths below 64/4 kept, above 64/1 slowed by 8,
    // interpolated between (base 1e4: all three bands occur at the fixture's head size).
    const hd = FIXTURE_SIZES.tiny.nEmbd / FIXTURE_SIZES.tiny.nHead;
    const divisors = Array.from({ length: hd / 2 }, (_, i) => {
      const inv = Math.pow(10000, (-2 * i) / hd), wavelen = (2 * Math.PI) / inv;
      if (wavelen < 16) return 1;
      if (wavelen > 64) return 8;
      const smooth = (64 / wavelen - 1) / (4 - 1);
      return inv / ((1 - smooth) * inv / 8 + smooth * inv);
    });
    assert.ok(divisors.some((d) => d === 1) && divisors.some((d) => d === 8));
    assert.ok(divisors.some((d) => d > 1 && d < 8));
    const path = await ggufModelWithRopeFreqs(root.path, "llama3", divisors);
    const ref = referenceLogits({}, PROMPT, "adjacent", divisors);
    const got = await runnerLogits(path, PROMPT);
    assert.ok(maxDiff(got, ref) < TOLERANCE, `gguf: max diff ${maxDiff(got, ref)}`);
    const unscaled = referenceLogits({}, PROMPT, "adjacent");
    assert.ok(maxDiff(got, unscaled) > 0.05, "the scaling changes the logits");
    const dir = await safetensorsModel(root.path, "llama3-hf", {});
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    config.rope_scaling = {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    };
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    const hf = await runnerLogits(dir, PROMPT);
    assert.ok(maxDiff(hf, ref) < TOLERANCE, `safetensors: max diff ${maxDiff(hf, ref)}`);
  });
});
