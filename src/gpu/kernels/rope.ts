/**
 * Rotary position embedding applied in place to `x[T, H, D]` with per-token positions. Two
 * pairings: `interleaved` rotates (2i, 2i+1) — GGUF `llama` weights — and `neox` rotates
 * (i, i + R/2) — HF rotate-half and GGUF `qwen2`. Frequencies are `theta^(-2i/R)` over the
 * first `R` (rotary) dimensions; the rest pass through.
 *
 * @example
 * ```ts
 * import { ropeKernel } from "./rope.ts";
 * const k = ropeKernel({ heads: 4, headDim: 16, theta: 10000, mode: "neox" });
 * console.assert(k.name.includes("neox"));
 * ```
 *
 * @module
 */
import { defineKernel, grid2d, type KernelSource, positiveInt } from "./kernel_source.ts";
import { f32Literal } from "./rmsnorm.ts";

/** RoPE pairing style. */
export type RopeMode = "interleaved" | "neox";

/** Template parameters of {@link ropeKernel}. */
export interface RopeOptions {
  /** Heads in the tensor (query heads or KV heads). */
  readonly heads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Rotated dimensions (even, ≤ headDim). Default headDim. */
  readonly rotaryDim?: number;
  /** Frequency base. */
  readonly theta: number;
  /** Pairing style. */
  readonly mode: RopeMode;
  /**
   * Per-pair frequency divisors (`rotaryDim / 2` of them; Llama 3's `rope_freqs`): pair `i`
   * rotates by `position · theta^(-2i/R) / freqFactors[i]`. Absent: all 1.
   */
  readonly freqFactors?: readonly number[];
}

/** Invocations per RoPE workgroup. */
export const ROPE_WORKGROUP = 64;

/** Bindings: 0 uniform `{tokens}`, 1 x (read-write), 2 positions (u32 per token). */
export function ropeKernel(options: RopeOptions): KernelSource {
  const heads = positiveInt(options.heads, "heads");
  const headDim = positiveInt(options.headDim, "headDim");
  const rot = positiveInt(options.rotaryDim ?? headDim, "rotaryDim");
  if (rot % 2 || rot > headDim) {
    throw new RangeError(`Cannot generate rope: rotaryDim ${rot} must be even and ≤ ${headDim}`);
  }
  const half = rot / 2;
  const ff = options.freqFactors;
  if (ff && (ff.length !== half || ff.some((f) => !(f > 0)))) {
    throw new RangeError(`Cannot generate rope: freqFactors needs ${half} positive values`);
  }
  const pair = options.mode === "neox"
    ? `let i0 = i; let i1 = i + ${half}u;`
    : "let i0 = 2u * i; let i1 = 2u * i + 1u;";
  const code = `
const H: u32 = ${heads}u;
const D: u32 = ${headDim}u;
const HALF: u32 = ${half}u;
const LOG2_THETA: f32 = ${f32Literal(Math.log2(options.theta))};
${
    ff
      ? `const FF = array<f32, ${half}>(${ff.map((f) => f32Literal(f)).join(", ")});\n`
      : ""
  }struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;

@compute @workgroup_size(${ROPE_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * ${ROPE_WORKGROUP}u + lid;
  let i = g % HALF;
  let th = g / HALF;
  let t = th / H;
  if (t >= params.tokens) { return; }
  ${pair}
  let freq = exp2(-f32(2u * i) / f32(2u * HALF) * LOG2_THETA)${ff ? " / FF[i]" : ""};
  let angle = f32(positions[t]) * freq;
  let c = cos(angle);
  let s = sin(angle);
  let base = th * D;
  let a = x[base + i0];
  let b = x[base + i1];
  x[base + i0] = a * c - b * s;
  x[base + i1] = a * s + b * c;
}
`;
  const ffTag = ff ? `.ff${fnv1a(ff.join(","))}` : "";
  return defineKernel(`rope.${options.mode}.h${heads}.d${headDim}.r${rot}${ffTag}`, {
    heads,
    headDim,
    rot,
    theta: options.theta,
    mode: options.mode,
    ...(ff ? { freqFactors: ff.join(",") } : {}),
    wg: [ROPE_WORKGROUP],
  }, code);
}

/** 32-bit FNV-1a of `text` in hex (a short tag for kernel names). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** Grid covering `tokens × heads × rotaryDim/2` invocations. */
export function ropeGrid(
  tokens: number,
  heads: number,
  rotaryDim: number,
): [number, number, number] {
  const [x, y] = grid2d(Math.ceil((tokens * heads * rotaryDim / 2) / ROPE_WORKGROUP));
  return [x, y, 1];
}
