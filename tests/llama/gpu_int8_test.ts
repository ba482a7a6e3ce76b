/**
 * The llama engine's backend with the int8-activation GEMV forced (`int8Gemv: "force"`): the
 * fixture's logits on `webgpu` and `webgpu-eager` stay within {@link INT8_TOLERANCE} of `cpu`
 * for Q8_0 and Q4_0; the forced warm-up adds the quantise kernels (one per K and bucket) and
 * its logits differ from the float path's, and the float path of the same model stays within
 * the float tolerance (so the int8 error is measured against an accurate baseline). That a
 * forced set holds only int8 GEMVs is tested in tests/gpu/gemv_i8_integration_test.ts.
 *
 * Tolerance, derived: quantising x per block of 32 moves each value by at most d/2 =
 * max|x|/254, uniformly spread, so a matmul's output error is about (max|x| / (254·√3)) /
 * rms(x) ≈ 0.4–0.5% of its value for activation blocks whose max is ~2–2.5× their rms. The
 * fixture has 4 int8 matmul inputs per layer (QKV, o, gate+up, down) over 2 layers plus the LM
 * head: 9 roughly independent errors, √9 · 0.45% ≈ 1.4% of the logits' spread (measured on
 * lavapipe: rms Δ 0.033–0.034 = 1.1–1.2% of the logits' std 2.92; max |Δ| 0.11–0.13 over 1344
 * logits, ~3.5 rms). Stated bounds: rms Δ ≤ {@link INT8_RMS_TOLERANCE} × std(logits) (2.5%)
 * and max |Δ| ≤ {@link INT8_TOLERANCE} (0.3, ~9 rms of the measured error). A wrong kernel
 * (a wrong nibble, scale or offset) gives errors of the order of the logits themselves.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "../gpu/_device.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { loadLlamaModel } from "../../src/model/model_loader.ts";
import { llamaKernelConfig } from "../../src/model/llama_upload.ts";
import { createLlamaBackend } from "../../engines/llama/llama_backend.ts";
import { DOT4_FEATURE } from "../../src/gpu/kernels/quantize_rows.ts";
import { fixtureFiles, fixtureRoot, ggufModel } from "./_fixture_dir.ts";
import { PROBE_GEOMETRY, probeLogits } from "./_logits_probe.ts";

const device = await acquireTestDevice();
const skip = device.skip ||
  (device.context!.wgslFeatures.has(DOT4_FEATURE)
    ? false
    : `the device's WGSL lacks ${DOT4_FEATURE}`);

let root: Awaited<ReturnType<typeof fixtureRoot>>;
before(async () => (root = await fixtureRoot()));
after(() => root.dispose());

const files = fixtureFiles;
/** Max |Δ logit| of the int8 path vs `cpu` (see the module comment). */
const INT8_TOLERANCE = 0.3;
/** rms Δ logit of the int8 path vs `cpu`, relative to the logits' standard deviation. */
const INT8_RMS_TOLERANCE = 0.025;
/** The float path's tolerance (as in gpu_engine_test.ts). */
const FLOAT_TOLERANCE = 5e-3;

/**
 * The probe's logits (`_logits_probe.ts`: prefill 8 rows, bucket 8, then a 2-row step, bucket 2) on
 * `name`, both buckets warmed; returns them and the warmed int8 GEMVs' count.
 */
async function logitsOn(
  name: "cpu" | "webgpu" | "webgpu-eager",
  path: string,
  int8Gemv: "off" | "force",
) {
  const { checkpoint } = await loadLlamaModel(path, files);
  const lines: string[] = [];
  const handle = await createLlamaBackend(name, llamaKernelConfig(checkpoint, PROBE_GEOMETRY), {
    acquire: () => Promise.resolve(device.context),
    ownsDevice: false,
    cache: { storage: memoryCacheStorage(), root: "/unused", disabled: true, tune: false },
    buckets: [2, 8],
    int8Gemv,
  }, (l) => lines.push(l));
  try {
    return { logits: await probeLogits(handle.backend, checkpoint), lines };
  } finally {
    handle.release();
  }
}

/** The kernel count of the backend's "Warming N ... kernels" log line. */
function warmed(lines: readonly string[]): number {
  const line = lines.find((l) => /^Warming \d+ /.test(l));
  assert.ok(line, lines.join("\n"));
  return Number(line.split(" ")[1]);
}

function rmsDiff(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length);
}

function std(a: number[]): number {
  const mean = a.reduce((x, y) => x + y, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

describe("llama engine with the int8 GEMV forced", { skip }, () => {
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`${dtype}: webgpu and webgpu-eager logits within ${INT8_TOLERANCE} (rms ${INT8_RMS_TOLERANCE} std) of cpu`, async () => {
      const path = await ggufModel(root.path, `int8-${dtype}`, { dtype });
      const want = (await logitsOn("cpu", path, "off")).logits;
      for (const name of ["webgpu", "webgpu-eager"] as const) {
        const off = await logitsOn(name, path, "off"), forced = await logitsOn(name, path, "force");
        // K = 64 (QKV, o, gate+up, LM head) and 128 (down), buckets 2 and 8: 4 more kernels.
        assert.equal(warmed(forced.lines), warmed(off.lines) + 4, forced.lines.join("\n"));
        const float = maxAbsDiff(off.logits, want);
        assert.ok(float < FLOAT_TOLERANCE, `${name} float path: max |Δ| ${float}`);
        const int8 = maxAbsDiff(forced.logits, want);
        assert.ok(int8 < INT8_TOLERANCE, `${name} int8 path: max |Δ| ${int8}`);
        const rms = rmsDiff(forced.logits, want), spread = std(want);
        assert.ok(
          rms < INT8_RMS_TOLERANCE * spread,
          `${name} int8 path: rms Δ ${rms}, std ${spread}`,
        );
        // The forced path is not the float one: its error differs measurably.
        assert.ok(int8 > float, `${name}: int8 |Δ| ${int8} vs float ${float}`);
        console.log(
          `${dtype} ${name}: max |Δ logit| float ${float.toExponential(2)}, int8 ${
            int8.toExponential(2)
          }; int8 rms Δ ${rms.toFixed(4)} (logit std ${spread.toFixed(2)})`,
        );
      }
    });
  }
});
