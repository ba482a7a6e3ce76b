/**
 * Tensor encodings a GGUF file stores, bit-compatible with ggml's reference code
 * (`ggml-quants.c`): F32, F16 (round to nearest even), Q8_0 and Q4_0 with their exact block
 * layouts and rounding, and the inverse (dequantisation) for loaders and round-trip tests.
 *
 * - Q8_0 block (32 values, 34 bytes): f16 scale `d = amax / 127`, then 32 int8
 *   `q = roundf(x / d)` (half away from zero); value = q × d.
 * - Q4_0 block (32 values, 18 bytes): f16 scale `d = max / -8` (`max` the value of largest
 *   magnitude, sign kept), then 16 bytes; byte j holds element j in its low nibble and element
 *   j + 16 in its high nibble, `nibble = min(15, trunc(x / d + 8.5))`; value = (nibble − 8) × d.
 *
 * Arithmetic is rounded to f32 where ggml computes in f32 (`Math.fround`), so the bytes equal
 * what `llama-quantize` writes for the same f32 input.
 *
 * @module
 */
import { GgmlType } from "./gguf_format.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a number to the nearest IEEE half (ties to even) and returns its 16 bits. */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Decodes 16 half-precision bits. */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** C's `roundf`: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function checkBlocks(length: number, what: string): void {
  if (length % 32 !== 0) {
    throw new RangeError(`Cannot quantize to ${what}: ${length} values is not a multiple of 32`);
  }
}

/** Quantises `values` (length a multiple of 32) to ggml Q8_0 blocks. */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  checkBlocks(values.length, "Q8_0");
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[base + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < 32; j++) {
      view.setInt8(b * 34 + 2 + j, roundf(Math.fround(values[base + j] * id)));
    }
  }
  return out;
}

/** Quantises `values` (length a multiple of 32) to ggml Q4_0 blocks. */
export function quantizeQ4_0(values: Float32Array): Uint8Array {
  checkBlocks(values.length, "Q4_0");
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = values[base + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 18, f32ToF16Bits(d), true);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(Math.fround(values[base + j] * id) + 8.5);
      const x1 = Math.fround(Math.fround(values[base + 16 + j] * id) + 8.5);
      out[b * 18 + 2 + j] = Math.min(15, Math.trunc(x0)) | (Math.min(15, Math.trunc(x1)) << 4);
    }
  }
  return out;
}

/** The tensor types {@linkcode encodeTensor} writes. */
export type WritableGgmlType =
  | typeof GgmlType.F32
  | typeof GgmlType.F16
  | typeof GgmlType.Q8_0
  | typeof GgmlType.Q4_0;

/** Encodes f32 values as a ggml tensor of `type` (F32, F16, Q8_0 or Q4_0), little-endian. */
export function encodeTensor(type: WritableGgmlType, values: Float32Array): Uint8Array {
  switch (type) {
    case GgmlType.F32: {
      const out = new Uint8Array(values.length * 4);
      const view = new DataView(out.buffer);
      for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
      return out;
    }
    case GgmlType.F16: {
      const out = new Uint8Array(values.length * 2);
      const view = new DataView(out.buffer);
      for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToF16Bits(values[i]), true);
      return out;
    }
    case GgmlType.Q8_0:
      return quantizeQ8_0(values);
    case GgmlType.Q4_0:
      return quantizeQ4_0(values);
    default:
      throw new RangeError(`Cannot encode ggml type ${type}: only F32, F16, Q8_0 and Q4_0`);
  }
}

/**
 * Decodes `count` values of a ggml tensor (F32, F16, BF16, Q8_0 or Q4_0) to f32. Throws a
 * `RangeError` naming the type for any other type, or when `data` is too short.
 */
export function decodeTensor(type: number, data: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = type === GgmlType.F32
    ? count * 4
    : type === GgmlType.F16 || type === GgmlType.BF16
    ? count * 2
    : type === GgmlType.Q8_0
    ? (count / 32) * 34
    : type === GgmlType.Q4_0
    ? (count / 32) * 18
    : -1;
  if (need < 0) throw new RangeError(`Cannot decode ggml type ${type}`);
  if (data.byteLength < need) {
    throw new RangeError(`Cannot decode tensor: ${data.byteLength} bytes, ${need} needed`);
  }
  if (type === GgmlType.F32) {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (type === GgmlType.F16) {
    for (let i = 0; i < count; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
  } else if (type === GgmlType.BF16) {
    for (let i = 0; i < count; i++) {
      u32[0] = view.getUint16(i * 2, true) << 16;
      out[i] = f32[0];
    }
  } else if (type === GgmlType.Q8_0) {
    for (let b = 0; b < count / 32; b++) {
      const d = f16BitsToF32(view.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++) out[b * 32 + j] = view.getInt8(b * 34 + 2 + j) * d;
    }
  } else {
    for (let b = 0; b < count / 32; b++) {
      const d = f16BitsToF32(view.getUint16(b * 18, true));
      for (let j = 0; j < 16; j++) {
        const byte = data[b * 18 + 2 + j];
        out[b * 32 + j] = ((byte & 0xf) - 8) * d;
        out[b * 32 + 16 + j] = ((byte >> 4) - 8) * d;
      }
    }
  }
  return out;
}
