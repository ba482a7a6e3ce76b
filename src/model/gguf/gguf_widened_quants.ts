/**
 * GGML quantisation types the GPU kernels do not read directly, decoded to f32 on load (the
 * loader then stores them as F16): Q4_1, Q5_0, Q5_1 (32-value blocks) and the K-quants Q4_K,
 * Q5_K, Q6_K (256-value super-blocks), the types common `Q4_K_M`/`Q5_K_M`/`Q6_K` downloads use
 * (llama.cpp falls back to Q5_0/Q4_1/... for rows that are not whole super-blocks). Layouts and
 * formulas are ggml's `dequantize_row_*` (ggml-quants.c):
 *
 * - Q4_1 (20 B): f16 d, f16 m, 16 B nibbles; x = q·d + m (low nibbles first half).
 * - Q5_0 (22 B): f16 d, u32 qh, 16 B nibbles; x = ((nibble | high bit << 4) − 16)·d.
 * - Q5_1 (24 B): f16 d, f16 m, u32 qh, 16 B nibbles; x = (nibble | high bit << 4)·d + m.
 * - Q4_K (144 B): f16 d, f16 dmin, 12 B packed 6-bit scales/mins, 128 B nibbles.
 * - Q5_K (176 B): f16 d, f16 dmin, 12 B scales/mins, 32 B high bits, 128 B nibbles.
 * - Q6_K (210 B): 128 B low nibbles, 64 B high 2-bit pairs, 16 int8 scales, f16 d.
 *
 * @example
 * ```ts
 * import { decodeWidenedQuant, WIDENED_BLOCKS } from "./gguf_widened_quants.ts";
 * const block = new Uint8Array(WIDENED_BLOCKS[3].bytes); // Q4_1, d = m = 0
 * console.assert(decodeWidenedQuant(3, block, 32).every((v) => v === 0));
 * ```
 */
import { f16BitsToF32 } from "../../gpu/kernels/quant.ts";

/** Values and bytes per block of each type decoded here, by GGML type id. */
export const WIDENED_BLOCKS: Readonly<Record<number, { values: number; bytes: number }>> = {
  3: { values: 32, bytes: 20 }, // Q4_1
  6: { values: 32, bytes: 22 }, // Q5_0
  7: { values: 32, bytes: 24 }, // Q5_1
  12: { values: 256, bytes: 144 }, // Q4_K
  13: { values: 256, bytes: 176 }, // Q5_K
  14: { values: 256, bytes: 210 }, // Q6_K
};

/**
 * Decodes `count` values of GGML type `type` from `bytes`. Throws `RangeError` for other
 * types, a count that is not whole blocks, or too few bytes.
 */
export function decodeWidenedQuant(type: number, bytes: Uint8Array, count: number): Float32Array {
  const block = WIDENED_BLOCKS[type];
  if (!block) throw new RangeError(`Cannot decode GGML type ${type}: not a widened type`);
  const blocks = count / block.values;
  if (!Number.isInteger(blocks) || bytes.length < blocks * block.bytes) {
    throw new RangeError(
      `Cannot decode ${count} values of GGML type ${type} from ${bytes.length} bytes`,
    );
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f16 = (at: number) => f16BitsToF32(view.getUint16(at, true));
  for (let b = 0; b < blocks; b++) {
    const at = b * block.bytes, y = b * block.values;
    switch (type) {
      case 3:
        small(bytes, out, y, at + 4, f16(at), f16(at + 2), 0, 0);
        break;
      case 6:
        small(bytes, out, y, at + 6, f16(at), 0, view.getUint32(at + 2, true), -16);
        break;
      case 7:
        small(bytes, out, y, at + 8, f16(at), f16(at + 2), view.getUint32(at + 4, true), 0);
        break;
      case 12:
      case 13:
        kQuant45(bytes, out, y, at, f16(at), f16(at + 2), type === 13);
        break;
      case 14:
        q6K(bytes, out, y, at, f16(at + 208));
        break;
    }
  }
  return out;
}

/** Q4_1 / Q5_0 / Q5_1: `(nibble | fifth bit) + bias` times d, plus m. */
function small(
  q: Uint8Array,
  y: Float32Array,
  out: number,
  qs: number,
  d: number,
  m: number,
  qh: number,
  bias: number,
): void {
  for (let j = 0; j < 16; j++) {
    const h0 = ((qh >>> j) << 4) & 0x10, h1 = (qh >>> (j + 12)) & 0x10;
    y[out + j] = ((q[qs + j] & 0xf) | h0) + bias;
    y[out + j + 16] = ((q[qs + j] >> 4) | h1) + bias;
    y[out + j] = y[out + j] * d + m;
    y[out + j + 16] = y[out + j + 16] * d + m;
  }
}

/** ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` from 12 bytes at `s`. */
function scaleMin(q: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [q[s + j] & 63, q[s + j + 4] & 63];
  return [
    (q[s + j + 4] & 0xf) | ((q[s + j - 4] >> 6) << 4),
    (q[s + j + 4] >> 4) | ((q[s + j] >> 6) << 4),
  ];
}

/** Q4_K and Q5_K: eight sub-blocks of 32, each `d·scale·q − dmin·min`. */
function kQuant45(
  q: Uint8Array,
  y: Float32Array,
  out: number,
  at: number,
  d: number,
  dmin: number,
  five: boolean,
): void {
  const scales = at + 4, qh = at + 16, qs = at + (five ? 48 : 16);
  for (let g = 0; g < 4; g++) {
    const [sc1, m1] = scaleMin(q, scales, 2 * g), [sc2, m2] = scaleMin(q, scales, 2 * g + 1);
    const lowBit = 1 << (2 * g), highBit = 2 << (2 * g);
    for (let l = 0; l < 32; l++) {
      const byte = q[qs + 32 * g + l];
      const hi = five ? q[qh + l] : 0;
      const lo = (byte & 0xf) + (hi & lowBit ? 16 : 0);
      const up = (byte >> 4) + (hi & highBit ? 16 : 0);
      y[out + 64 * g + l] = d * sc1 * lo - dmin * m1;
      y[out + 64 * g + 32 + l] = d * sc2 * up - dmin * m2;
    }
  }
}

/** Q6_K: sixteen sub-blocks of 16, each `d·scale·(q − 32)` with 6-bit q. */
function q6K(q: Uint8Array, y: Float32Array, out: number, at: number, d: number): void {
  const scale = (i: number) => (q[at + 192 + i] << 24) >> 24;
  for (let half = 0; half < 2; half++) {
    const ql = at + 64 * half, qh = at + 128 + 32 * half, sc = 8 * half, base = out + 128 * half;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4, h = q[qh + l];
      const q1 = ((q[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
      const q2 = ((q[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
      const q3 = ((q[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const q4 = ((q[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
      y[base + l] = d * scale(sc + is) * q1;
      y[base + l + 32] = d * scale(sc + is + 2) * q2;
      y[base + l + 64] = d * scale(sc + is + 4) * q3;
      y[base + l + 96] = d * scale(sc + is + 6) * q4;
    }
  }
}
