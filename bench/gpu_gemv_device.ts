/**
 * Quick GEMV-vs-copy sweep for a real GPU (issue 12's decode GEMV, batch m = 1): every GEMV
 * tuning candidate the autotuner can pick (the older `workgroup` / `lane` strategies with
 * their scale-group refinements, and the `wide` strategy), plus a few extra `wide`
 * configurations while a time budget lasts, for f32 / f16 / q8_0 / q4_0 weights at 8192² and
 * 16384 × 8192 (past a 60 MB L2), against a vec4 copy kernel measured in the same run.
 * Every candidate's output is checked on the device against a CPU dot product of the same
 * packed weights (4 rows), so a fast but wrong kernel cannot win.
 *
 * Run: deno run -A bench/gpu_gemv_device.ts [--quick] [--budget=SECONDS]
 * On a lent GPU: bash bench/device/gpu_kernels_device.sh "bench/gpu_gemv_device.ts".
 * `--quick` (software drivers) uses one small shape, no extra configurations and fewer
 * repeats. `--budget` (default 75) skips the older candidates and extra configurations still
 * untimed after that many seconds (the wide candidates always run). Markdown on stdout;
 * progress on stderr.
 */
import { acquireGpuContext } from "../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../src/gpu/device/gpu_provider.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { WeightDType } from "../src/gpu/kernels/kernel_source.ts";
import { gemvGrid, gemvKernel } from "../src/gpu/kernels/gemv.ts";
import { gemvCandidates, gemvTuning, type TuningConfig } from "../src/gpu/compile/kernel_piece.ts";
import { f16BitsToF32 } from "../src/gpu/kernels/quant.ts";
import { benchTimer, copyBandwidth, timeDispatch } from "./gpu_bench_util.ts";

const t0 = performance.now();
const quick = Deno.args.includes("--quick");
const budgetS = Number(Deno.args.find((a) => a.startsWith("--budget="))?.slice(9) ?? 75);
const elapsed = () => (performance.now() - t0) / 1000;
const log = (s: string) => console.error(`[gemv-device ${elapsed().toFixed(1)}s] ${s}`);

/** `wide` configurations outside the candidate list, one lever moved at a time. */
const EXTRA: readonly TuningConfig[] = [
  { wg: 256, tpr: 256, rows: 8, unroll: 1 },
  { wg: 256, tpr: 256, rows: 1, unroll: 4 },
  { wg: 256, tpr: 256, rows: 2, unroll: 2 },
  { wg: 256, tpr: 128, rows: 4, unroll: 2 },
  { wg: 256, tpr: 64, rows: 4, unroll: 1 },
  { wg: 256, tpr: 32, rows: 4, unroll: 1 },
  { wg: 128, tpr: 128, rows: 2, unroll: 4 },
  { wg: 128, tpr: 128, rows: 1, unroll: 8 },
  { wg: 128, tpr: 64, rows: 4, unroll: 2 },
  { wg: 128, tpr: 32, rows: 8, unroll: 1 },
  { wg: 128, tpr: 16, rows: 4, unroll: 2 },
  { wg: 64, tpr: 32, rows: 2, unroll: 4 },
].map((t) => ({ ...t, lane: 0, wide: 1 }));

const ctx = await acquireGpuContext(navigatorGpuProvider(), {
  runtime: `Deno/${Deno.version.deno}`,
});
const rt = new KernelRuntime(ctx);
const { repeats, trials } = quick ? { repeats: 2, trials: 1 } : { repeats: 8, trials: 3 };

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

/** Packed weights in the GPU layout of `host_weight.ts`, random but finite. */
function packedWeights(dtype: WeightDType, n: number, k: number) {
  const words = randomWords(
    dtype === "f32" ? n * k : dtype === "f16" ? n * k / 2 : n * k / (dtype === "q8_0" ? 4 : 8),
    n + k,
  );
  if (dtype === "f32") {
    const f = new Float32Array(words.length);
    for (let i = 0; i < f.length; i++) f[i] = words[i] / 2 ** 32 - 0.5;
    return { data: f, scales: undefined };
  }
  if (dtype === "f16") {
    for (let i = 0; i < words.length; i++) words[i] &= 0xbbffbbff; // |v| < 1, sign kept
    return { data: words, scales: undefined };
  }
  const blocks = n * k / 32;
  const scales = randomWords(Math.ceil(blocks / 2), 7);
  for (let i = 0; i < scales.length; i++) scales[i] = (scales[i] & 0x03ff03ff) | 0x20002000;
  return { data: words, scales };
}

/** CPU value of element `i` (flat) of the packed weights, and the dot of `row` with x. */
function cpuRow(
  dtype: WeightDType,
  w: ReturnType<typeof packedWeights>,
  row: number,
  x: Float32Array,
) {
  const k = x.length;
  const bytes = new Uint8Array(w.data.buffer), i8 = new Int8Array(w.data.buffer);
  const halves = new Uint16Array(w.data.buffer);
  const scale = (b: number) => f16BitsToF32(new Uint16Array(w.scales!.buffer)[b]);
  let dot = 0, l1 = 0;
  for (let e = 0; e < k; e++) {
    const i = row * k + e, b = i >> 5, j = i & 31;
    const v = dtype === "f32"
      ? (w.data as Float32Array)[i]
      : dtype === "f16"
      ? f16BitsToF32(halves[i])
      : dtype === "q8_0"
      ? i8[b * 32 + j] * scale(b)
      : (((bytes[b * 16 + (j & 15)] >> (j < 16 ? 0 : 4)) & 15) - 8) * scale(b);
    dot += v * x[e];
    l1 += Math.abs(v * x[e]);
  }
  return { dot, l1 };
}

function label(t: TuningConfig): string {
  const o = gemvTuning(t);
  return o.strategy === "wide"
    ? `wide wg ${o.workgroupSize}, tpr ${o.threadsPerRow}, rows ${o.rows}, unroll ${o.unroll}`
    : `${o.strategy} wg ${o.workgroupSize}, rows ${o.rows}${
      o.scaleGroup > 1 ? `, g ${o.scaleGroup}` : ""
    }`;
}

// Copy baseline: best of two sizes, before and after the sweep.
const copySizes = quick ? [8 << 20, 32 << 20] : [96 << 20, 256 << 20];
const bestCopy = async () => {
  let best = 0;
  for (const bytes of copySizes) {
    best = Math.max(best, (await copyBandwidth(rt, bytes, quick ? 2 : 5)).gbs);
  }
  return best;
};
log("copy baseline");
await bestCopy(); // clocks ramp up
const copyBefore = await bestCopy();

interface Combo {
  n: number;
  k: number;
  dtype: WeightDType;
  bytes: number;
  bindings: Record<number, GPUBuffer>;
  buffers: GPUBuffer[];
  check: { row: number; dot: number; l1: number }[];
  results: { t: TuningConfig; ms: number; ok: boolean; extra: boolean }[];
}
const shapes = quick ? [[256, 1024]] : [[8192, 8192], [16384, 8192]];
const combos: Combo[] = [];
for (const [n, k] of shapes) {
  for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as WeightDType[]) {
    log(`pack ${n} × ${k} ${dtype}`);
    const w = packedWeights(dtype, n, k);
    const x = new Float32Array(randomWords(k, 99)).map((v) => v / 2 ** 31 - 1);
    const buffers = [rt.uniform([1]), rt.buffer(x), rt.buffer(w.data), rt.buffer(n * 4)];
    const bindings: Record<number, GPUBuffer> = {
      0: buffers[0],
      1: buffers[1],
      2: buffers[2],
      4: buffers[3],
    };
    if (w.scales) buffers.push(bindings[3] = rt.buffer(w.scales));
    const check = [0, 1, n >> 1, n - 1].map((row) => ({ row, ...cpuRow(dtype, w, row, x) }));
    const bytes = w.data.byteLength + (w.scales?.byteLength ?? 0) + k * 4;
    combos.push({ n, k, dtype, bytes, bindings, buffers, check, results: [] });
  }
}

const zeros = new Float32Array(16384);
async function measure(c: Combo, t: TuningConfig, extra: boolean): Promise<void> {
  const o = gemvTuning(t);
  const y = c.bindings[4];
  rt.device.queue.writeBuffer(y, 0, zeros, 0, c.n);
  let ms: number;
  try {
    ms = await timeDispatch(
      rt,
      gemvKernel({ dtype: c.dtype, n: c.n, k: c.k, ...o }),
      c.bindings,
      gemvGrid({ n: c.n, m: 1, ...o }),
      { repeats, trials },
    );
  } catch (error) {
    // One failing candidate (a compile error on this driver) must not end a one-shot run.
    log(`FAILED ${c.dtype} ${c.n}×${c.k} ${label(t)}: ${(error as Error).message.slice(0, 300)}`);
    c.results.push({ t, ms: Infinity, ok: false, extra });
    return;
  }
  const got = await rt.readF32(y, c.n);
  const ok = c.check.every((r) => Math.abs(got[r.row] - r.dot) <= 1e-4 * r.l1 + 1e-6);
  if (!ok) {
    log(
      `MISMATCH ${c.dtype} ${c.n}×${c.k} ${label(t)}: ${
        c.check.map((r) => `${got[r.row]} vs ${r.dot}`).join(", ")
      }`,
    );
  }
  c.results.push({ t, ms, ok, extra });
}

// Pass 1: the wide candidates everywhere; pass 2: the older candidates (candidate-major, so a
// budget cut leaves every shape with the same subset); pass 3: the extra wide configurations.
let skipped = 0;
const within = () => elapsed() <= budgetS || (skipped++, false);
for (const c of combos) {
  log(`gemv ${c.n} × ${c.k} ${c.dtype}: wide candidates`);
  for (const t of gemvCandidates(c.dtype, c.k).filter((t) => t.wide)) await measure(c, t, false);
}
const older = combos.map((c) => gemvCandidates(c.dtype, c.k).filter((t) => !t.wide));
log(`older candidates: ${older.reduce((a, o) => a + o.length, 0)} timings`);
for (let i = 0; i < Math.max(...older.map((o) => o.length)); i++) {
  for (const [ci, c] of combos.entries()) {
    if (i < older[ci].length && within()) await measure(c, older[ci][i], false);
  }
}
log("extra wide configurations");
for (const t of quick ? [] : EXTRA) {
  for (const c of combos) if (within()) await measure(c, t, true);
}
const copyAfter = await bestCopy();
const copy = Math.max(copyBefore, copyAfter);

const out: string[] = [];
const row = (...cells: (string | number)[]) => out.push(`| ${cells.join(" | ")} |`);
const pct = (c: Combo, ms: number) => `${((c.bytes / (ms * 1e6) / copy) * 100).toFixed(0)}%`;
const info = ctx.adapter as unknown as Record<string, string>;
out.push(
  "### GEMV (m = 1) vs copy: older strategies vs `wide`",
  "",
  `Adapter: ${
    [info.vendor, info.architecture, info.description].filter(Boolean).join(" / ")
  }; features: ${[...ctx.features].sort().join(", ")}.`,
  `Copy kernel (vec4, read + write), best of ${copySizes.map((b) => b >> 20).join(", ")} MiB: ${
    copyBefore.toFixed(0)
  } GB/s before, ${copyAfter.toFixed(0)} GB/s after the sweep; baseline **${
    copy.toFixed(0)
  } GB/s**. Device times (${
    benchTimer(rt).method
  }), median of ${trials} × ${repeats} dispatches. GB/s counts weights + scales + x. "ok" = output matched the CPU dot product on 4 rows.`,
  "",
);
row(
  "n × k",
  "dtype",
  "MiB",
  "best old",
  "old ms",
  "old % copy",
  "best wide (candidates)",
  "wide ms",
  "wide GB/s",
  "wide % copy",
  "speed-up",
  "best extra wide",
  "extra % copy",
  "wrong or failed",
);
row(...Array(14).fill("---"));
for (const c of combos) {
  const good = c.results.filter((r) => r.ok);
  const best = (f: (r: Combo["results"][number]) => boolean) =>
    good.filter(f).reduce<Combo["results"][number] | undefined>(
      (a, b) => (!a || b.ms < a.ms ? b : a),
      undefined,
    );
  const old = best((r) => !r.t.wide),
    wide = best((r) => !!r.t.wide && !r.extra),
    extra = best((r) => r.extra);
  const bad = c.results.filter((r) => !r.ok).map((r) => label(r.t));
  row(
    `${c.n} × ${c.k}`,
    c.dtype,
    ((c.bytes - c.k * 4) / 2 ** 20).toFixed(1),
    old ? label(old.t) : "-",
    old ? old.ms.toFixed(3) : "-",
    old ? pct(c, old.ms) : "-",
    wide ? label(wide.t) : "-",
    wide ? wide.ms.toFixed(3) : "-",
    wide ? (c.bytes / (wide.ms * 1e6)).toPrecision(4) : "-",
    wide ? pct(c, wide.ms) : "-",
    old && wide ? `${(old.ms / wide.ms).toFixed(2)}×` : "-",
    extra ? label(extra.t) : "-",
    extra ? pct(c, extra.ms) : "-",
    bad.length ? bad.join("; ") : "none",
  );
}
out.push(
  "",
  "#### Every `wide` configuration, % of copy (* = extra, not an autotuner candidate)",
  "",
);
const wideTunings = [
  ...new Map(combos.flatMap((c) => c.results.filter((r) => r.t.wide).map((r) => [label(r.t), r])))
    .values(),
];
row("configuration", ...combos.map((c) => `${c.dtype} ${c.n}×${c.k}`));
row(...Array(combos.length + 1).fill("---"));
for (const w of wideTunings) {
  const l = label(w.t);
  row(
    `${l}${w.extra ? " *" : ""}`,
    ...combos.map((c) => {
      const r = c.results.find((r) => label(r.t) === l);
      return r ? (r.ms === Infinity ? "FAILED" : `${pct(c, r.ms)}${r.ok ? "" : " WRONG"}`) : "-";
    }),
  );
}
if (skipped) out.push("", `${skipped} timings skipped: the ${budgetS} s budget ran out.`);
out.push("", `Total ${elapsed().toFixed(0)} s.`);
combos.forEach((c) => c.buffers.forEach((b) => b.destroy()));
rt.destroy();
ctx.destroy();
console.log(out.join("\n"));
