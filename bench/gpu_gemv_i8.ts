/**
 * Int8-activation GEMV (`src/gpu/kernels/gemv_i8.ts`, quantise x + `dot4I8Packed`) vs today's
 * best float-activation GEMV (`wide` and `lane` candidates), m = 1, Q8_0 and Q4_0 weights, at
 * 2048², 4096² and the 100m fixture's decode matmul shapes, against a vec4 copy kernel in the
 * same run. Device times per dispatch (DispatchTimer: timestamps, or the slope of two submit
 * sizes). The int8 time is the pair (quantise x, then GEMV: what the backend runs); the GEMV
 * alone and the quantise alone are reported beside it. "weight GB/s" counts the weight and
 * scale bytes only (the same numerator for both paths), so "% copy" compares like with like.
 * Every timed candidate's output is checked against a CPU dot product on 4 rows (float: within
 * 1e-4 of Σ|w·x|; int8: within the derived bound of tests/gpu/kernels_gemv_i8_test.ts), so a
 * fast but wrong kernel cannot win.
 *
 * Run: node_modules/.bin/deno run -A bench/gpu_gemv_i8.ts [--quick] [--large]
 * On a lent GPU: bash bench/device/gpu_kernels_device.sh "bench/gpu_gemv_i8.ts --large".
 * `--quick` (software drivers): 2048² and the 100m shapes, fewer repeats. `--large` adds 8192²
 * and 16384 × 8192 (past a 60 MB L2). Markdown on stdout; progress on stderr.
 */
import { acquireGpuContext } from "../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../src/gpu/device/gpu_provider.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { Dispatch } from "../src/gpu/compile/kernel_runtime.ts";
import { gemvGrid, gemvKernel } from "../src/gpu/kernels/gemv.ts";
import { gemvI8Kernel } from "../src/gpu/kernels/gemv_i8.ts";
import {
  DOT4_FEATURE,
  quantizedRowBytes,
  quantizedScaleBytes,
  quantizeRowsGrid,
  quantizeRowsKernel,
} from "../src/gpu/kernels/quantize_rows.ts";
import { GEMV_CANDIDATES, gemvTuning, type TuningConfig } from "../src/gpu/compile/kernel_piece.ts";
import { GEMV_I8_CANDIDATES } from "../src/gpu/compile/gemv_i8_tuning.ts";
import { f16BitsToF32 } from "../src/gpu/kernels/quant.ts";
import { quantizeRowsRef } from "../src/gpu/reference/quantize_rows.ts";
import type { KernelSource } from "../src/gpu/kernels/kernel_source.ts";
import { benchTimer, copyBandwidth } from "./gpu_bench_util.ts";
import { FIXTURE_SIZES, fixtureVocab } from "../tests/fixtures/model/fixture_model.ts";

const t0 = performance.now();
const quick = Deno.args.includes("--quick"), large = Deno.args.includes("--large");
const elapsed = () => (performance.now() - t0) / 1000;
const log = (s: string) => console.error(`[gemv-i8 ${elapsed().toFixed(1)}s] ${s}`);

const ctx = await acquireGpuContext(navigatorGpuProvider(), {
  runtime: `Deno/${Deno.version.deno}`,
});
if (!ctx.wgslFeatures.has(DOT4_FEATURE)) {
  console.log(`No ${DOT4_FEATURE} in this runtime's WGSL: the int8 GEMV cannot run here.`);
  ctx.destroy();
  Deno.exit(0);
}
const rt = new KernelRuntime(ctx);
const timer = benchTimer(rt);
const { repeats, trials } = quick ? { repeats: 2, trials: 1 } : { repeats: 8, trials: 3 };
const FLOAT: readonly TuningConfig[] = GEMV_CANDIDATES.filter((t) => t.wide || t.lane);

// 100m fixture decode matmuls (store epilogue; gate+up as its 2N-row weight).
const f = FIXTURE_SIZES["100m"], headDim = f.nEmbd / f.nHead;
const vocab = fixtureVocab({ size: "100m" }).tokens.length;
const fixture: [number, number, string][] = [
  [f.nEmbd + 2 * f.nHeadKv * headDim, f.nEmbd, "100m QKV"],
  [f.nEmbd, f.nEmbd, "100m o"],
  [2 * f.nFf, f.nEmbd, "100m gate+up"],
  [f.nEmbd, f.nFf, "100m down"],
  [vocab, f.nEmbd, "100m LM head"],
];
const shapes: [number, number, string][] = [
  [2048, 2048, "2048²"],
  ...(quick ? [] : [[4096, 4096, "4096²"] as [number, number, string]]),
  ...(large
    ? [[8192, 8192, "8192²"], [16384, 8192, "16384 × 8192"]] as [number, number, string][]
    : []),
  ...fixture,
];

/** xorshift32 words. */
function randomWords(count: number, seed: number): Uint32Array {
  const out = new Uint32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s >>> 0;
  }
  return out;
}

type Q = "q8_0" | "q4_0";
/** Random repacked blocks (`quant.ts` layout) with f16 scales in [2^-7, 2^-6). */
function packed(dtype: Q, n: number, k: number) {
  const words = randomWords(n * k / (dtype === "q8_0" ? 4 : 8), n + k);
  const scales = randomWords(Math.ceil(n * k / 64), 7);
  for (let i = 0; i < scales.length; i++) scales[i] = (scales[i] & 0x03ff03ff) | 0x20002000;
  return { words, scales };
}

/** Row `row` dequantised (f64 values). */
function rowValues(dtype: Q, w: ReturnType<typeof packed>, row: number, k: number): number[] {
  const bytes = new Uint8Array(w.words.buffer), i8 = new Int8Array(w.words.buffer);
  const halves = new Uint16Array(w.scales.buffer);
  return Array.from({ length: k }, (_, e) => {
    const i = row * k + e, b = i >> 5, j = i & 31, d = f16BitsToF32(halves[b]);
    return dtype === "q8_0"
      ? i8[i] * d
      : (((bytes[b * 16 + (j & 15)] >> (j < 16 ? 0 : 4)) & 15) - 8) * d;
  });
}

interface Result {
  label: string;
  ms: number;
  gemvMs?: number;
  ok: boolean;
}

const label = (t: TuningConfig) => {
  const o = gemvTuning(t);
  const body = `wg ${o.workgroupSize}, ${
    o.strategy === "wide" ? `tpr ${o.threadsPerRow}, ` : ""
  }rows ${o.rows}`;
  return t.i8
    ? `i8 ${body}, unroll ${t.unroll}`
    : o.strategy === "wide"
    ? `wide ${body}, unroll ${o.unroll}`
    : `${o.strategy} ${body}`;
};

async function dispatchOf(
  source: KernelSource,
  bindings: Record<number, GPUBuffer>,
  grid: [number, number, number],
): Promise<Dispatch> {
  const pipeline = await rt.pipeline(source);
  return { pipeline, bindGroup: rt.bindGroup(pipeline, bindings), grid, label: source.name };
}

log("copy baseline");
const copySizes = quick ? [8 << 20, 32 << 20] : [96 << 20, 256 << 20];
const bestCopy = async () => {
  let best = 0;
  for (const bytes of copySizes) {
    best = Math.max(best, (await copyBandwidth(rt, bytes, quick ? 2 : 5)).gbs);
  }
  return best;
};
await bestCopy();
const copyBefore = await bestCopy();

const rows: string[][] = [];
for (const [n, k, name] of shapes) {
  for (const dtype of ["q8_0", "q4_0"] as const) {
    log(`${name} (${n} × ${k}) ${dtype}`);
    const w = packed(dtype, n, k);
    const x = new Float32Array(randomWords(k, 99)).map((v) => v / 2 ** 31 - 1);
    const own: GPUBuffer[] = [];
    const buf = (d: ArrayBufferView | number) => (own.push(rt.buffer(d)), own.at(-1)!);
    const uni = rt.uniform([1]);
    own.push(uni);
    const [xb, wb, sb, yb] = [buf(x), buf(w.words), buf(w.scales), buf(n * 4)];
    const xq = buf(quantizedRowBytes(1, k)), xd = buf(quantizedScaleBytes(1, k));
    const checkRows = [0, 1, n >> 1, n - 1];
    const dx = quantizeRowsRef(x, k).d;
    const refs = checkRows.map((r) => {
      const v = rowValues(dtype, w, r, k);
      let dot = 0, l1 = 0, bound = 0;
      v.forEach((wv, p) => {
        dot += wv * x[p];
        l1 += Math.abs(wv * x[p]);
        bound += 1.001 * (dx[p >> 5] / 2) * Math.abs(wv) +
          2 ** -20 * k * Math.abs(wv) * (Math.abs(x[p]) + dx[p >> 5]);
      });
      return { r, dot, l1, bound };
    });
    const quantize = await dispatchOf(
      quantizeRowsKernel({ k }),
      { 0: uni, 1: xb, 2: xq, 3: xd },
      quantizeRowsGrid(k, 1),
    );
    const results: { float: Result[]; i8: Result[] } = { float: [], i8: [] };
    const verify = async (i8: boolean) => {
      const y = await rt.readF32(yb, n);
      return refs.every((c) => Math.abs(y[c.r] - c.dot) <= (i8 ? c.bound : 1e-4 * c.l1 + 1e-6));
    };
    for (const t of [...FLOAT, ...GEMV_I8_CANDIDATES]) {
      const o = gemvTuning(t);
      try {
        if (t.i8) {
          const gemv = await dispatchOf(
            gemvI8Kernel({
              dtype,
              n,
              k,
              workgroupSize: t.wg,
              rows: t.rows,
              threadsPerRow: t.tpr,
              unroll: t.unroll,
            }),
            { 0: uni, 1: xq, 2: wb, 3: sb, 4: yb, 8: xd },
            gemvGrid({ n, m: 1, ...o }),
          );
          const ms = await timer.msPerDispatch([quantize, gemv], { repeats, trials });
          const gemvMs = await timer.msPerDispatch([gemv], { repeats, trials });
          results.i8.push({ label: label(t), ms, gemvMs, ok: await verify(true) });
        } else {
          const gemv = await dispatchOf(
            gemvKernel({ dtype, n, k, ...o }),
            { 0: uni, 1: xb, 2: wb, 3: sb, 4: yb },
            gemvGrid({ n, m: 1, ...o }),
          );
          const ms = await timer.msPerDispatch([gemv], { repeats, trials });
          results.float.push({ label: label(t), ms, ok: await verify(false) });
        }
      } catch (error) {
        log(`FAILED ${label(t)}: ${(error as Error).message.slice(0, 300)}`);
        (t.i8 ? results.i8 : results.float).push({ label: label(t), ms: Infinity, ok: false });
      }
    }
    const quantizeMs = await timer.msPerDispatch([quantize], { repeats, trials });
    own.forEach((b) => b.destroy());
    const best = (rs: Result[]) =>
      rs.filter((r) => r.ok).reduce<Result | undefined>(
        (a, b) => (!a || b.ms < a.ms ? b : a),
        undefined,
      );
    const fl = best(results.float), q8 = best(results.i8);
    const bytes = w.words.byteLength + w.scales.byteLength;
    const gbs = (ms: number) => bytes / (ms * 1e6);
    const wrong = [...results.float, ...results.i8].filter((r) => !r.ok).map((r) => r.label);
    rows.push([
      `${name} (${n} × ${k})`,
      dtype,
      (bytes / 2 ** 20).toFixed(2),
      fl ? fl.label : "-",
      fl ? fl.ms.toFixed(3) : "-",
      fl ? gbs(fl.ms).toPrecision(4) : "-",
      "-",
      q8 ? q8.label : "-",
      q8 ? q8.ms.toFixed(3) : "-",
      q8?.gemvMs !== undefined ? q8.gemvMs.toFixed(3) : "-",
      quantizeMs.toFixed(3),
      q8 ? gbs(q8.ms).toPrecision(4) : "-",
      "-",
      fl && q8 ? `${(fl.ms / q8.ms).toFixed(2)}×` : "-",
      wrong.length ? wrong.join("; ") : "none",
    ]);
  }
}
const copyAfter = await bestCopy();
const copy = Math.max(copyBefore, copyAfter);
function pctOf(gbs: number): string {
  return `${((gbs / copy) * 100).toFixed(0)}%`;
}
// The % columns need the final copy figure.
for (const r of rows) {
  for (const [g, p] of [[5, 6], [11, 12]]) if (r[g] !== "-") r[p] = pctOf(Number(r[g]));
}

const info = ctx.adapter as unknown as Record<string, string>;
const out = [
  "### Int8-activation GEMV (m = 1) vs the best float-activation GEMV",
  "",
  `Adapter: ${
    [info.vendor, info.architecture, info.description].filter(Boolean).join(" / ")
  }; features: ${
    [...ctx.features].sort().join(", ")
  }; ${DOT4_FEATURE}: yes. Copy kernel (vec4, read + write), best of ${
    copySizes.map((b) => b >> 20).join(", ")
  } MiB: ${copyBefore.toFixed(1)} GB/s before, ${copyAfter.toFixed(1)} GB/s after; baseline **${
    copy.toFixed(1)
  } GB/s**. Device times (${timer.method}), median of ${trials} × ${repeats} dispatches. Float: best of ${FLOAT.length} \`wide\`/\`lane\` candidates; int8: best of ${GEMV_I8_CANDIDATES.length} candidates, timed as quantise + GEMV. GB/s = weight + scale bytes / time.`,
  "",
  "| shape | dtype | weight MiB | best float | float ms | float GB/s | float % copy | best int8 | int8 ms (quantise + GEMV) | GEMV alone ms | quantise ms | int8 GB/s | int8 % copy | float ÷ int8 | wrong or failed |",
  `|${" --- |".repeat(15)}`,
  ...rows.map((r) => `| ${r.join(" | ")} |`),
  "",
  `Total ${elapsed().toFixed(0)} s.`,
];
rt.destroy();
ctx.destroy();
console.log(out.join("\n"));
