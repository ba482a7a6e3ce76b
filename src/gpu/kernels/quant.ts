/**
 * Host-side number formats: f16 bit conversion, GGML Q8_0 / Q4_0 block (de)quantisation, and
 * the repacking of those 34- and 18-byte blocks into 4-byte aligned words that WGSL can read.
 *
 * Q8_0 block (32 values): f16 scale `d`, then 32 int8 `q`; value = q × d.
 * Q4_0 block (32 values): f16 scale `d`, then 16 bytes; byte i holds element i in its low nibble
 * and element i + 16 in its high nibble; value = (nibble − 8) × d. Same as GGML.
 *
 * @example
 * ```ts
 * import { dequantize, quantizeQ8_0 } from "./quant.ts";
 * const x = Float32Array.from({ length: 32 }, (_, i) => i / 10);
 * const back = dequantize("q8_0", quantizeQ8_0(x), 32);
 * console.assert(Math.abs(back[31] - 3.1) < 0.02);
 * ```
 *
 * @module
 */

/** Values per quantisation block. */
export const QK = 32;
/** Bytes per GGML Q8_0 block. */
export const Q8_0_BLOCK_BYTES = 34;
/** Bytes per GGML Q4_0 block. */
export const Q4_0_BLOCK_BYTES = 18;

// The encodings are ggml's, bit for bit (f16 ties to even, Q8_0 `roundf`, Q4_0 `trunc(x/d + 8.5)`,
// f32 arithmetic): one implementation, shared with the GGUF writer.
export {
  f16BitsToF32,
  f32ToF16Bits,
  quantizeQ4_0,
  quantizeQ8_0,
} from "../../model/gguf/gguf_quant.ts";
import { f16BitsToF32, f32ToF16Bits } from "../../model/gguf/gguf_quant.ts";

/** Converts a Float32Array to f16 bits. */
export function toF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}

/** Dequantises `count` values of `dtype` (`f16` bits, `q8_0` or `q4_0` blocks) to f32. */
export function dequantize(
  dtype: "f16" | "q8_0" | "q4_0",
  data: Uint8Array | Uint16Array,
  count: number,
): Float32Array {
  const out = new Float32Array(count);
  if (dtype === "f16") {
    for (let i = 0; i < count; i++) out[i] = f16BitsToF32((data as Uint16Array)[i]);
    return out;
  }
  const bytes = data as Uint8Array;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtype === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
  for (let b = 0; b < count / QK; b++) {
    const d = f16BitsToF32(view.getUint16(b * size, true));
    for (let i = 0; i < QK; i++) {
      let q: number;
      if (dtype === "q8_0") q = view.getInt8(b * size + 2 + i);
      else {
        const byte = bytes[b * size + 2 + (i % 16)];
        q = (i < 16 ? byte & 0xf : byte >> 4) - 8;
      }
      out[b * QK + i] = q * d;
    }
  }
  return out;
}

/** Block data repacked for the GPU: quant words and f16 scales packed two per u32. */
export interface RepackedBlocks {
  /** Q8_0: 8 words per block (4 int8 each); Q4_0: 4 words per block (8 nibbles each). */
  readonly words: Uint32Array;
  /** f16 scale bits, two per word (block 2i in the low half); padded to an even count. */
  readonly scales: Uint32Array;
}

/**
 * Repacks GGML blocks into 4-byte aligned arrays. The byte order inside each word is kept, so
 * word j of a Q4_0 block holds elements 4j..4j+3 in its low nibbles and 16+4j.. in its high.
 */
export function repackBlocks(
  dtype: "q8_0" | "q4_0",
  blocks: Uint8Array,
  count: number,
): RepackedBlocks {
  assertBlocks(count);
  const n = count / QK;
  const size = dtype === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
  if (blocks.byteLength < n * size) {
    throw new RangeError(
      `Cannot repack ${dtype}: ${blocks.byteLength} bytes hold fewer than ${n} blocks`,
    );
  }
  const quantBytes = size - 2;
  const wordBytes = new Uint8Array(n * quantBytes);
  const scales = new Uint16Array(n + (n & 1));
  for (let b = 0; b < n; b++) {
    scales[b] = blocks[b * size] | (blocks[b * size + 1] << 8);
    wordBytes.set(blocks.subarray(b * size + 2, (b + 1) * size), b * quantBytes);
  }
  return { words: new Uint32Array(wordBytes.buffer), scales: new Uint32Array(scales.buffer) };
}

function assertBlocks(count: number): void {
  if (count % QK !== 0) {
    throw new RangeError(`Cannot quantise ${count} values: not a multiple of ${QK}`);
  }
}
