/**
 * The weight-format half of the GEMV templates: WGSL that walks one row of `W[N, K]` in
 * chunks and dots each chunk with the matching slice of `x`. Both GEMV strategies (workgroup
 * reduction and one-row-per-invocation) build on it, so every dtype is unpacked in one place.
 *
 * A chunk is `G` sub-chunks. Float weights have `G = 1` and a sub-chunk of 8 values for f16
 * when K % 8 == 0 (one 16-byte load), 4 values for f32 when K % 4 == 0, otherwise one value.
 * Quantised weights (Q8_0 / Q4_0) have one 32-value block per sub-chunk, its words loaded as
 * `vec4<u32>` and unpacked with vector shifts, and `G` blocks per chunk (the largest of 8, 4,
 * 2, 1 that divides the row's block count, chosen by the caller) so the f16 block scales of a
 * chunk arrive in one load of `G / 2` words instead of one load per block. Fewer, wider loads
 * per invocation can help GPUs; on llvmpipe the unrolled blocks cost registers and `G = 1`
 * usually wins, so the autotuner tries the largest group only as a refinement.
 *
 * Generated symbols: `CHUNKS`, `G`, bindings 1 (`x`), 2 (`w`) and 3 (`ws`, block scales of
 * quantised types), the sub-chunk x type `XC` and `load_x(s, m) -> XC` (x of sub-chunk `s` for
 * token `m`), the sub-chunk weight type `WC` and `load_w(row, s) -> WC` (sub-chunk `s` of `row`,
 * dequantised but unscaled), `dot_wx(wc, xc) -> f32` (their dot, summed in a fixed order), and
 * for quantised types `load_scales(row, c)` (the raw scale words of chunk `c`);
 * {@link gemvScaleExpr} gives the WGSL of one block's scale. Loading and dequantising a weight
 * sub-chunk is separate from its dot so that a token-batched kernel does it once for all of
 * its tokens (`gemv_tokens.ts`): a row's sum is then the same whatever the batch.
 *
 * @example
 * ```ts
 * import { gemvChunkCode, gemvScaleGroup } from "./gemv_chunk.ts";
 * console.assert(gemvScaleGroup("q4_0", 4096) === 8);
 * console.assert(gemvChunkCode("q4_0", 64).includes("fn dot_w"));
 * ```
 *
 * @module
 */
import type { WeightDType } from "./kernel_source.ts";

/** Values of `x` consumed per sub-chunk for `dtype` and `k`. */
export function gemvChunkValues(dtype: WeightDType, k: number): number {
  if (dtype === "q8_0" || dtype === "q4_0") return 32;
  if (dtype === "f16" && k % 8 === 0) return 8;
  if (k % 4 === 0) return 4;
  return 1;
}

/** `G`: sub-chunks (blocks) per chunk, 1 for float weights. */
export function gemvScaleGroup(dtype: WeightDType, k: number): number {
  if (dtype !== "q8_0" && dtype !== "q4_0") return 1;
  const blocks = k / 32;
  return [8, 4, 2].find((g) => blocks % g === 0) ?? 1;
}

/** Whether `dtype` has per-block scales (and so `load_scales`). */
export function gemvScaled(dtype: WeightDType): boolean {
  return dtype === "q8_0" || dtype === "q4_0";
}

/**
 * WGSL for the scale of block `j` (a constant) of a chunk whose scales are in the variable
 * `words` (returned by `load_scales`: raw f16 words, or the f32 scale itself when `g = 1`).
 */
export function gemvScaleExpr(words: string, g: number, j: number): string {
  if (g === 1) return words;
  const word = g === 2 ? words : `${words}.${"xyzw"[j >> 1]}`;
  return `unpack2x16float(${word})[${j & 1}]`;
}

/**
 * WGSL declaring the GEMV inputs and the chunk dot products (see the module comment). `g` is
 * the blocks per chunk of quantised weights (1, 2, 4 or 8, dividing K / 32; default 1).
 */
export function gemvChunkCode(dtype: WeightDType, k: number, g = 1): string {
  const values = gemvChunkValues(dtype, k);
  if (g !== 1 && (!gemvScaled(dtype) || ![2, 4, 8].includes(g) || (k / 32) % g)) {
    throw new RangeError(
      `Cannot generate gemv: ${g} blocks per chunk needs q8_0/q4_0 and K / 32 divisible by it`,
    );
  }
  const head = `const CHUNKS: u32 = ${k / values / g}u;
const G: u32 = ${g}u;`;
  if (gemvScaled(dtype)) return `${head}\n${blockCode(dtype as "q8_0" | "q4_0", k, g)}`;
  if (values === 8) {
    return `${head}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
alias XC = array<vec4<f32>, 2>;
fn load_x(c: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + c * 2u;
  return XC(x[i], x[i + 1u]);
}
alias WC = array<vec4<f32>, 2>;
fn load_w(row: u32, c: u32) -> WC {
  let q = w[row * CHUNKS + c];
  return WC(
    vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
    vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)),
  );
}
fn dot_wx(wc: WC, xc: XC) -> f32 { return dot(wc[0], xc[0]) + dot(wc[1], xc[1]); }`;
  }
  if (values === 4) {
    const load = dtype === "f32"
      ? "w[row * CHUNKS + c]"
      : "let q = w[row * CHUNKS + c]; return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y))";
    return `${head}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "vec4<f32>" : "vec2<u32>"}>;
alias XC = vec4<f32>;
fn load_x(c: u32, m: u32) -> XC { return x[m * CHUNKS + c]; }
alias WC = vec4<f32>;
fn load_w(row: u32, c: u32) -> WC { ${dtype === "f32" ? `return ${load}` : load}; }
fn dot_wx(wc: WC, xc: XC) -> f32 { return dot(wc, xc); }`;
  }
  const load = dtype === "f32" ? "w[i]" : "unpack2x16float(w[i >> 1u])[i & 1u]";
  return `${head}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "f32" : "u32"}>;
alias XC = f32;
fn load_x(c: u32, m: u32) -> XC { return x[m * K + c]; }
alias WC = f32;
fn load_w(row: u32, c: u32) -> WC { let i = row * K + c; return ${load}; }
fn dot_wx(wc: WC, xc: XC) -> f32 { return wc * xc; }`;
}

/**
 * Q8_0 / Q4_0: a sub-chunk is one block; its words are read as `vec4<u32>` and unpacked whole.
 * The f16 scales are stored row-major, two per u32 word, so the `g` scales of a chunk are
 * `g / 2` consecutive words (one `u32`, `vec2<u32>` or `vec4<u32>` load; `g = 1` loads the
 * word holding the block's scale).
 */
function blockCode(dtype: "q8_0" | "q4_0", k: number, g: number): string {
  const xs = Array.from({ length: 8 }, (_, j) => `x[i + ${j}u]`).join(", ");
  let load: string;
  let dot: string;
  if (dtype === "q8_0") {
    // Two vec4<u32> loads = 32 signed bytes; arithmetic shifts sign-extend each byte exactly.
    const vecs: string[] = [];
    for (let h = 0; h < 2; h++) {
      for (let j = 0; j < 4; j++) {
        vecs.push(`vec4<f32>((vec4<i32>(q${h}.${"xyzw"[j]}) << SHL) >> SHR)`);
      }
    }
    load = `  let q0 = bitcast<vec4<i32>>(w[b * 2u]);
  let q1 = bitcast<vec4<i32>>(w[b * 2u + 1u]);
  return WC(
    ${vecs.join(",\n    ")},
  );`;
    dot = Array.from({ length: 8 }, (_, j) => `  s += dot(wc[${j}], xc[${j}]);`).join("\n");
  } else {
    // One vec4<u32> load = 16 bytes; byte j holds element j (low nibble) and j + 16 (high);
    // the offset 8 is subtracted on dequantisation (exact in f32).
    const lines = [`  let q = w[b];`];
    for (let j = 0; j < 4; j++) lines.push(`  let v${j} = vec4<u32>(q.${"xyzw"[j]}) >> SHIFT;`);
    const low = [0, 1, 2, 3].map((j) => `vec4<f32>(v${j} & LOW4) - 8.0`);
    const high = [0, 1, 2, 3].map((j) => `vec4<f32>((v${j} >> vec4<u32>(4u)) & LOW4) - 8.0`);
    load = `${lines.join("\n")}
  return WC(
    ${[...low, ...high].join(",\n    ")},
  );`;
    dot = [0, 1, 2, 3].map((j) =>
      `  s += dot(wc[${j}], xc[${j}]) + dot(wc[${j + 4}], xc[${j + 4}]);`
    )
      .join("\n");
  }
  const constants = dtype === "q8_0"
    ? `const SHL = vec4<u32>(24u, 16u, 8u, 0u);
const SHR = vec4<u32>(24u);`
    : `const SHIFT = vec4<u32>(0u, 8u, 16u, 24u);
const LOW4 = vec4<u32>(15u);`;
  const wordType = g <= 2 ? "u32" : `vec${g / 2}<u32>`;
  const loadScales = g === 1
    ? `fn load_scales(row: u32, c: u32) -> f32 {
  let b = row * CHUNKS + c;
  return unpack2x16float(ws[b >> 1u])[b & 1u];
}`
    : `fn load_scales(row: u32, c: u32) -> ${wordType} { return ws[row * CHUNKS + c]; }`;
  return `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<${wordType}>;
${constants}
alias XC = array<vec4<f32>, 8>;
fn load_x(sub: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + sub * 8u;
  return XC(${xs});
}
// the scales of chunk c: G f16 values in G / 2 words (G = 1: the block's scale as f32)
${loadScales}
// sub-chunk sub = one ${
    dtype === "q8_0" ? "8" : "4"
  }-word block of 32 values, dequantised, unscaled
alias WC = array<vec4<f32>, 8>;
fn load_w(row: u32, sub: u32) -> WC {
  let b = row * ${k / 32}u + sub;
${load}
}
fn dot_wx(wc: WC, xc: XC) -> f32 {
  var s = 0.0;
${dot}
  return s;
}`;
}
