/**
 * Q8_0 / Q4_0 block dot products without integer-to-float conversions, for the `wide` GEMV
 * strategy on real GPUs. On NVIDIA an int→f32 conversion issues at a quarter of the FMA rate,
 * so the 32 conversions per block of the plain unpack (`gemv_chunk.ts`) cap a 4-bit GEMV near
 * half the memory bandwidth. Here each quantised value becomes a float with one bitwise op:
 *
 * - OR-ing an integer `v < 2^23` into the mantissa of 2^23 (bits `0x4B000000`) gives the f32
 *   `2^23 + v` exactly, so `bitcast<f32>((word & (15 << p)) | 0x4B000000) − (2^23 + 8·2^p)` is
 *   `(q − 8)·2^p` exactly for the 4-bit field `q` at bit `p` (needs `p + 4 ≤ 23`). Fields at
 *   bits 20, 24 and 28 come from the word shifted right by 12 (one shift per word).
 * - The power of two is cancelled by pre-scaling `x`: the block's 32 x values are multiplied by
 *   `2^−p` of their field once per block (shared by every row that uses them), and scaling by a
 *   power of two is exact, so every product equals `(q − 8)·x` as the plain unpack computes it.
 * - Q8_0: XOR with `0x80` per byte turns the signed byte into `q + 128`; fields at bits 0 and 8
 *   of the word and of the word shifted right by 16 give `q·2^p` after subtracting
 *   `2^23 + 128·2^p`.
 *
 * Per 4-bit value that is one AND/OR (fused by the GPU compiler into one logic op), one FADD
 * and one FMA. The layout is the repacked one of `quant.ts` (Q4_0: 4 words per block, word j
 * byte i holding elements 4j + i (low nibble) and 4j + i + 16 (high); Q8_0: 8 words per
 * block), scales as packed f16 pairs.
 *
 * Generated symbols: `CHUNKS` (blocks per row), bindings 1 (`x` as vec4), 2 (`w`), 3 (`ws`),
 * `XC` (a block's 32 pre-scaled x values), `load_x(b, m) -> XC`, `dot_w(row, b, xc)` (the
 * unscaled dot of block `b` of `row`), `block_scale(row, b)` and `dot_unit(row, b, xc)` (the
 * scaled dot).
 *
 * @example
 * ```ts
 * import { gemvMagicBlockCode } from "./gemv_magic.ts";
 * console.assert(gemvMagicBlockCode("q4_0", 64).includes("0x4b000000u"));
 * ```
 */

/** 2^23: the f32 whose mantissa holds an integer OR-ed into it. */
const MAGIC = 8388608;

/** WGSL vec4<f32> literal; the values (integers below 2^24, powers of two) print exactly. */
function vec4f(v: readonly number[]): string {
  return `vec4<f32>(${v.map((x) => (Number.isInteger(x) ? `${x}.0` : `${x}`)).join(", ")})`;
}

/** WGSL vec4<u32> literal in hex. */
function vec4u(v: readonly number[]): string {
  return `vec4<u32>(${v.map((x) => `0x${x.toString(16)}u`).join(", ")})`;
}

/**
 * The field positions (bit offsets after the optional shift) of the 4 values an x vec4 meets.
 * Q4_0 x vec v < 4 holds elements 4v..4v+3 = word v's low nibbles of bytes 0..3, at bits
 * 0, 8, 16 of the word and 12 of the word >> 12 (byte 3's low nibble is at bit 24); v ≥ 4
 * holds word v − 4's high nibbles at bits 4, 12 of the word and 8, 16 of the word >> 12.
 * Q8_0 bytes 0..3 sit at bits 0, 8 of the word and 0, 8 of the word >> 16.
 */
const Q4_LOW = [0, 8, 16, 12] as const;
const Q4_HIGH = [4, 12, 8, 16] as const;
const Q8 = [0, 8, 0, 8] as const;

/** WGSL declaring the inputs and the conversion-free block dot for `dtype` (see the module). */
export function gemvMagicBlockCode(dtype: "q8_0" | "q4_0", k: number): string {
  if (k % 32) throw new RangeError(`Cannot generate gemv: k = ${k} is not a multiple of 32`);
  const blocks = k / 32;
  const pre = (ps: readonly number[]) => vec4f(ps.map((p) => 2 ** -p));
  const xScale = dtype === "q4_0"
    ? Array.from({ length: 8 }, (_, v) => (v < 4 ? pre(Q4_LOW) : pre(Q4_HIGH)))
    : Array.from({ length: 8 }, () => pre(Q8));
  const loads = xScale.map((s, v) => `x[i + ${v}u] * ${s}`).join(",\n    ");
  let body: string;
  if (dtype === "q4_0") {
    const lines = ["  let q = w[i];"];
    for (let j = 0; j < 4; j++) {
      const c = `q.${"xyzw"[j]}`;
      lines.push(
        `  let h${j} = ${c} >> 12u;`,
        `  s += dot(bitcast<vec4<f32>>((vec4<u32>(${c}, ${c}, ${c}, h${j}) & MASK_LO) | MAGIC) - OFF_LO, xc[${j}]);`,
        `  s += dot(bitcast<vec4<f32>>((vec4<u32>(${c}, ${c}, h${j}, h${j}) & MASK_HI) | MAGIC) - OFF_HI, xc[${
          j + 4
        }]);`,
      );
    }
    body = lines.join("\n");
  } else {
    const lines: string[] = [];
    for (let h = 0; h < 2; h++) {
      lines.push(`  let q${h} = w[i * 2u + ${h}u] ^ vec4<u32>(0x80808080u);`);
      for (let j = 0; j < 4; j++) {
        const c = `q${h}.${"xyzw"[j]}`;
        lines.push(
          `  let h${h}${j} = ${c} >> 16u;`,
          `  s += dot(bitcast<vec4<f32>>((vec4<u32>(${c}, ${c}, h${h}${j}, h${h}${j}) & MASK8) | MAGIC) - OFF8, xc[${
            h * 4 + j
          }]);`,
        );
      }
    }
    body = lines.join("\n");
  }
  const field = (bits: number, ps: readonly number[]) =>
    vec4u(ps.map((p) => (2 ** bits - 1) * 2 ** p));
  const offset = (zero: number, ps: readonly number[]) =>
    vec4f(ps.map((p) => MAGIC + zero * 2 ** p));
  const constants = dtype === "q4_0"
    ? `const MASK_LO = ${field(4, Q4_LOW)};
const MASK_HI = ${field(4, Q4_HIGH)};
const OFF_LO = ${offset(8, Q4_LOW)};
const OFF_HI = ${offset(8, Q4_HIGH)};`
    : `const MASK8 = ${field(8, Q8)};
const OFF8 = ${offset(128, Q8)};`;
  return `const CHUNKS: u32 = ${blocks}u;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<u32>;
const MAGIC = vec4<u32>(0x4b000000u);
${constants}
alias XC = array<vec4<f32>, 8>;
// block b's x values for token m, each scaled by 2^-p of the bit field it meets
fn load_x(b: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + b * 8u;
  return XC(
    ${loads});
}
fn block_scale(row: u32, b: u32) -> f32 {
  let i = row * CHUNKS + b;
  return unpack2x16float(ws[i >> 1u])[i & 1u];
}
// block b of row: Σ (q - ${dtype === "q4_0" ? "8" : "0"})·x over 32 values, unscaled
fn dot_w(row: u32, b: u32, xc: XC) -> f32 {
  let i = row * CHUNKS + b;
  var s = 0.0;
${body}
  return s;
}
fn dot_unit(row: u32, b: u32, xc: XC) -> f32 { return dot_w(row, b, xc) * block_scale(row, b); }`;
}
