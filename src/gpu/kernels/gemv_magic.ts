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
 * block), scales as packed f16 pairs. A unit is one 16-byte load: a Q4_0 block or half a Q8_0
 * block, so adjacent invocations read adjacent 16 bytes.
 *
 * Generated symbols: `CHUNKS` (16-byte units per row: Q4_0 blocks, Q8_0 half blocks),
 * bindings 1 (`x` as vec4), 2 (`w`), 3 (`ws`), `XC` (a unit's pre-scaled x values),
 * `load_x(u, m) -> XC`, `WC` and `load_w(row, u) -> WC` (unit `u` of `row` as exact floats
 * `(q − 8)·2^p` / `q·2^p`, unscaled: decoded once, dotted with every token's x),
 * `dot_wx(wc, xc) -> f32` (their dot, in a fixed order) and `block_scale(row, u)`.
 *
 * @example
 * ```ts
 * import { gemvMagicBlockCode } from "./gemv_magic.ts";
 * console.assert(gemvMagicBlockCode("q4_0", 64).includes("0x4b000000u"));
 * ```
 *
 * @module
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
/**
 * Values per 16-byte weight unit: a Q4_0 block (16 bytes of nibbles), or half a Q8_0 block, so
 * that adjacent invocations read adjacent 16 bytes (a whole-block Q8_0 unit would make each
 * load instruction touch every other 16 bytes).
 */
export function gemvMagicUnitValues(dtype: "q8_0" | "q4_0"): number {
  return dtype === "q4_0" ? 32 : 16;
}

/** WGSL declaring the inputs and the conversion-free unit dot for `dtype` (see the module). */
export function gemvMagicBlockCode(dtype: "q8_0" | "q4_0", k: number): string {
  if (k % 32) throw new RangeError(`Cannot generate gemv: k = ${k} is not a multiple of 32`);
  const values = gemvMagicUnitValues(dtype);
  const vecs = values / 4;
  const pre = (ps: readonly number[]) => vec4f(ps.map((p) => 2 ** -p));
  const xScale = Array.from(
    { length: vecs },
    (_, v) => (dtype === "q8_0" ? pre(Q8) : v < 4 ? pre(Q4_LOW) : pre(Q4_HIGH)),
  );
  const loads = xScale.map((s, v) => `x[i + ${v}u] * ${s}`).join(",\n    ");
  const lines = [
    dtype === "q4_0" ? "  let q = w[i];" : "  let q = w[i] ^ vec4<u32>(0x80808080u);",
  ];
  // Decoded vec4 v of the unit meets x vec4 v; `order` is the summation order of the dot.
  const vecsOut: string[] = [];
  const order: number[] = [];
  for (let j = 0; j < 4; j++) {
    const c = `q.${"xyzw"[j]}`;
    const unpack = (lanes: string, mask: string, off: string) =>
      `bitcast<vec4<f32>>((vec4<u32>(${lanes}) & ${mask}) | MAGIC) - ${off}`;
    if (dtype === "q4_0") {
      lines.push(`  let h${j} = ${c} >> 12u;`);
      vecsOut[j] = unpack(`${c}, ${c}, ${c}, h${j}`, "MASK_LO", "OFF_LO");
      vecsOut[j + 4] = unpack(`${c}, ${c}, h${j}, h${j}`, "MASK_HI", "OFF_HI");
      order.push(j, j + 4);
    } else {
      lines.push(`  let h${j} = ${c} >> 16u;`);
      vecsOut[j] = unpack(`${c}, ${c}, h${j}, h${j}`, "MASK8", "OFF8");
      order.push(j);
    }
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
  const perBlock = 32 / values;
  return `const CHUNKS: u32 = ${k / values}u;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<u32>;
const MAGIC = vec4<u32>(0x4b000000u);
${constants}
alias XC = array<vec4<f32>, ${vecs}>;
// unit u's ${values} x values for token m, each scaled by 2^-p of the bit field it meets
fn load_x(u: u32, m: u32) -> XC {
  let i = m * ${k / 4}u + u * ${vecs}u;
  return XC(
    ${loads});
}
// the f16 scale of the block holding unit u of row
fn block_scale(row: u32, u: u32) -> f32 {
  let b = row * ${k / 32}u + ${perBlock === 1 ? "u" : "(u >> 1u)"};
  return unpack2x16float(ws[b >> 1u])[b & 1u];
}
// unit u of row (one 16-byte load), decoded: ${dtype === "q4_0" ? "(q - 8)" : "q"}·2^p, unscaled
alias WC = array<vec4<f32>, ${vecs}>;
fn load_w(row: u32, u: u32) -> WC {
  let i = row * CHUNKS + u;
${lines.join("\n")}
  return WC(
    ${vecsOut.join(",\n    ")},
  );
}
fn dot_wx(wc: WC, xc: XC) -> f32 {
  var s = 0.0;
${order.map((v) => `  s += dot(wc[${v}], xc[${v}]);`).join("\n")}
  return s;
}`;
}
