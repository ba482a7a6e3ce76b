/**
 * CPU reference of the activation quantisation of the int8 GEMV (`kernels/quantize_rows.ts`)
 * and of the GEMV itself on the quantised inputs. The rounding is ggml's `quantize_row_q8_1`,
 * in f32 arithmetic: `d = amax / 127`, `id = d ≠ 0 ? 1 / d : 0`, `q = roundf(x · id)` (halves
 * away from zero), plus the block's integer sum `Σq`.
 *
 * @example
 * ```ts
 * import { quantizeRowsRef } from "./quantize_rows.ts";
 * const x = Float32Array.from({ length: 32 }, (_, i) => i - 16);
 * const { q, d, sum } = quantizeRowsRef(x, 32);
 * console.assert(q[0] === -127 && d[0] === Math.fround(16 / 127) && sum[0] === q.reduce((a, b) => a + b, 0));
 * ```
 *
 * @module
 */
import { f16BitsToF32 as f16ToF32 } from "../../model/gguf/gguf_quant.ts";

/** Rows of `x` quantised per block of 32: int8 values, f32 scales and integer block sums. */
export interface QuantizedRows {
  /** `[M, K]` int8 values. */
  readonly q: Int8Array;
  /** `[M, K / 32]` scales `d = max|x| / 127` (f32). */
  readonly d: Float32Array;
  /** `[M, K / 32]` block sums `Σq`. */
  readonly sum: Int32Array;
}

/** ggml's `roundf`: nearest integer, halves away from zero. */
export function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
}

/** Quantises every row of `x` (`k` values each, a multiple of 32) as the GPU kernel does. */
export function quantizeRowsRef(x: Float32Array, k: number): QuantizedRows {
  if (k % 32 || x.length % k) {
    throw new RangeError(
      `Cannot quantise rows: k = ${k} is not a multiple of 32 dividing ${x.length}`,
    );
  }
  const blocks = x.length / 32;
  const q = new Int8Array(x.length), d = new Float32Array(blocks), sum = new Int32Array(blocks);
  const f = Math.fround;
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const scale = f(amax / 127);
    const id = scale === 0 ? 0 : f(1 / scale);
    let s = 0;
    for (let i = 0; i < 32; i++) {
      // |x · id| ≤ 127 up to rounding; roundf never leaves int8 (127.5 would need amax · id > 127.5)
      const v = roundHalfAway(f(x[b * 32 + i] * id));
      q[b * 32 + i] = v;
      s += v;
    }
    d[b] = scale;
    sum[b] = s;
  }
  return { q, d, sum };
}

/**
 * The int8 GEMV in f64 on quantised rows: `y[m, n] = Σ_b dw[n, b] · d[m, b] · Σ_i qw · q`,
 * with `qw` the weight's integer values (Q4_0: nibble − 8) and `dw` its block scales. This is
 * what the GPU kernel computes, exactly up to its f32 accumulation.
 */
export function gemvI8Ref(
  rows: QuantizedRows,
  weight: { q: Int8Array; d: Float32Array },
  shape: { m: number; n: number; k: number },
): Float64Array {
  const { m, n, k } = shape;
  const kb = k / 32;
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let b = 0; b < kb; b++) {
        let dot = 0;
        for (let e = 0; e < 32; e++) {
          dot += weight.q[j * k + b * 32 + e] * rows.q[i * k + b * 32 + e];
        }
        s += weight.d[j * kb + b] * rows.d[i * kb + b] * dot;
      }
      y[i * n + j] = s;
    }
  }
  return y;
}

/**
 * The integer values and f32 block scales of GGML Q8_0 / Q4_0 blocks (`count` values): `q`
 * (Q4_0: nibble − 8) such that value = q · d of its block, as the int8 GEMV reads them.
 */
export function weightBlocksRef(
  dtype: "q8_0" | "q4_0",
  blocks: Uint8Array,
  count: number,
): { q: Int8Array; d: Float32Array } {
  const size = dtype === "q8_0" ? 34 : 18;
  const q = new Int8Array(count), d = new Float32Array(count / 32);
  const view = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
  for (let b = 0; b < count / 32; b++) {
    d[b] = f16ToF32(view.getUint16(b * size, true));
    for (let i = 0; i < 32; i++) {
      const at = b * size + 2;
      q[b * 32 + i] = dtype === "q8_0"
        ? view.getInt8(at + i)
        : ((i < 16 ? blocks[at + i] & 15 : blocks[at + i - 16] >> 4) - 8);
    }
  }
  return { q, d };
}
