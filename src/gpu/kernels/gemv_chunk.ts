/**
 * The weight-format half of the GEMV templates: WGSL that walks one row of `W[N, K]` in
 * chunks and dots each chunk with the matching slice of `x`. Both GEMV strategies (workgroup
 * reduction and one-row-per-invocation) build on it, so every dtype is unpacked in one place.
 *
 * Generated symbols: `CHUNKS` (chunks per row), bindings 1 (`x`), 2 (`w`) and 3 (`ws`, block
 * scales of quantised types), the chunk type `XC`, `load_x(c, m) -> XC` (the x slice of chunk
 * `c` for token `m`), `dot_w(row, c, xc) -> f32` and `dot_chunk(row, c, m)`.
 *
 * Chunks: 8 values for f16 when K % 8 == 0 (one 16-byte load), 4 values for f32 when K % 4 == 0,
 * one 32-value block for Q8_0 / Q4_0 (the block's words are loaded as `vec4<u32>`, unpacked with
 * vector shifts, and the block scale is applied once), otherwise one value.
 *
 * @example
 * ```ts
 * import { gemvChunkCode } from "./gemv_chunk.ts";
 * console.assert(gemvChunkCode("q4_0", 64).includes("fn dot_w"));
 * ```
 */
import type { WeightDType } from "./kernel_source.ts";

/** Values of `x` consumed per chunk for `dtype` and `k`. */
export function gemvChunkValues(dtype: WeightDType, k: number): number {
  if (dtype === "q8_0" || dtype === "q4_0") return 32;
  if (dtype === "f16" && k % 8 === 0) return 8;
  if (k % 4 === 0) return 4;
  return 1;
}

/** WGSL declaring the GEMV inputs and the per-chunk dot product (see the module comment). */
export function gemvChunkCode(dtype: WeightDType, k: number): string {
  const values = gemvChunkValues(dtype, k);
  const head = `const CHUNKS: u32 = ${k / values}u;
fn dot_chunk(row: u32, c: u32, m: u32) -> f32 { return dot_w(row, c, load_x(c, m)); }`;
  if (dtype === "q8_0" || dtype === "q4_0") return `${head}\n${blockCode(dtype, k)}`;
  if (values === 8) {
    return `${head}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
alias XC = array<vec4<f32>, 2>;
fn load_x(c: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + c * 2u;
  return XC(x[i], x[i + 1u]);
}
fn dot_w(row: u32, c: u32, xc: XC) -> f32 {
  let q = w[row * CHUNKS + c];
  let a = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
  let b = vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
  return dot(a, xc[0]) + dot(b, xc[1]);
}`;
  }
  if (values === 4) {
    const load = dtype === "f32"
      ? "w[row * CHUNKS + c]"
      : "vec4<f32>(unpack2x16float(w[row * CHUNKS + c].x), unpack2x16float(w[row * CHUNKS + c].y))";
    return `${head}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "vec4<f32>" : "vec2<u32>"}>;
alias XC = vec4<f32>;
fn load_x(c: u32, m: u32) -> XC { return x[m * CHUNKS + c]; }
fn dot_w(row: u32, c: u32, xc: XC) -> f32 { return dot(${load}, xc); }`;
  }
  const load = dtype === "f32" ? "w[i]" : "unpack2x16float(w[i >> 1u])[i & 1u]";
  return `${head}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<${dtype === "f32" ? "f32" : "u32"}>;
alias XC = f32;
fn load_x(c: u32, m: u32) -> XC { return x[m * K + c]; }
fn dot_w(row: u32, c: u32, xc: XC) -> f32 { let i = row * K + c; return ${load} * xc; }`;
}

/** Q8_0 / Q4_0: one chunk is one block; its words are read as `vec4<u32>` and unpacked whole. */
function blockCode(dtype: "q8_0" | "q4_0", k: number): string {
  const xs = Array.from({ length: 8 }, (_, j) => `x[i + ${j}u]`).join(", ");
  let body: string;
  if (dtype === "q8_0") {
    // Two vec4<u32> loads = 32 signed bytes; arithmetic shifts sign-extend each byte exactly.
    const lines: string[] = [];
    for (let h = 0; h < 2; h++) {
      lines.push(`  let q${h} = bitcast<vec4<i32>>(w[b * 2u + ${h}u]);`);
      for (let j = 0; j < 4; j++) {
        lines.push(
          `  s += dot(vec4<f32>((vec4<i32>(q${h}.${"xyzw"[j]}) << SHL) >> SHR), xc[${h * 4 + j}]);`,
        );
      }
    }
    body = lines.join("\n");
  } else {
    // One vec4<u32> load = 16 bytes; byte j holds element j (low nibble) and j + 16 (high).
    const lines = [`  let q = w[b];`];
    for (let j = 0; j < 4; j++) {
      const c = "xyzw"[j];
      lines.push(`  let v${j} = vec4<u32>(q.${c}) >> SHIFT;`);
      lines.push(
        `  s += dot(vec4<f32>(v${j} & LOW4), xc[${j}]) + dot(vec4<f32>((v${j} >> vec4<u32>(4u)) & LOW4), xc[${
          j + 4
        }]);`,
      );
    }
    // Σ (q − 8)·x = Σ q·x − 8·Σ x: subtract the offset once per block.
    lines.push(
      "  let xs = xc[0] + xc[1] + xc[2] + xc[3] + xc[4] + xc[5] + xc[6] + xc[7];",
      "  s -= 8.0 * dot(xs, vec4<f32>(1.0));",
    );
    body = lines.join("\n");
  }
  const constants = dtype === "q8_0"
    ? `const SHL = vec4<u32>(24u, 16u, 8u, 0u);
const SHR = vec4<u32>(24u);`
    : `const SHIFT = vec4<u32>(0u, 8u, 16u, 24u);
const LOW4 = vec4<u32>(15u);`;
  return `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<u32>;
${constants}
alias XC = array<vec4<f32>, 8>;
fn load_x(c: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + c * 8u;
  return XC(${xs});
}
// one chunk = one ${dtype === "q8_0" ? "8" : "4"}-word block of 32 values, scaled once
fn dot_w(row: u32, c: u32, xc: XC) -> f32 {
  let b = row * CHUNKS + c;
  var s = 0.0;
${body}
  return s * unpack2x16float(ws[b >> 1u])[b & 1u];
}`;
}
