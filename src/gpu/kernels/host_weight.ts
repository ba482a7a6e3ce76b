/**
 * Host-side weights as loaded from a checkpoint, and their packing into the aligned GPU layout
 * (f16 as u32 pairs; Q8_0/Q4_0 repacked into words plus packed scales) or their f32
 * dequantisation for the CPU reference.
 *
 * @example
 * ```ts
 * import { dequantizeWeight, hostWeightFromF32 } from "./host_weight.ts";
 * const w = hostWeightFromF32("q8_0", new Float32Array(64).fill(0.5), [2, 32]);
 * console.assert(Math.abs(dequantizeWeight(w)[0] - 0.5) < 1e-3);
 * ```
 *
 * @module
 */
import { dequantize, quantizeQ4_0, quantizeQ8_0, repackBlocks, toF16 } from "./quant.ts";
import type { WeightDType } from "./kernel_source.ts";

/** A weight matrix `[rows, cols]` (row-major, cols innermost) in its storage format. */
export interface HostWeight {
  /** Storage type. */
  readonly dtype: WeightDType;
  /** `[rows, cols]`; cols is a multiple of 32 for quantised types. */
  readonly shape: readonly [number, number];
  /** f32 values, f16 bits, or GGML blocks. */
  readonly data: Float32Array | Uint16Array | Uint8Array;
}

/** The GPU layout of a weight: main words and, for quantised types, packed scales. */
export interface PackedWeight {
  /** f32 values, f16 pairs or quant words, 4-byte aligned. */
  readonly data: Float32Array | Uint32Array;
  /** Packed f16 block scales (quantised types only). */
  readonly scales?: Uint32Array;
}

/** Builds a {@link HostWeight} of `dtype` from f32 values (quantising or rounding as needed). */
export function hostWeightFromF32(
  dtype: WeightDType,
  values: Float32Array,
  shape: readonly [number, number],
): HostWeight {
  if (values.length !== shape[0] * shape[1]) {
    throw new RangeError(`Cannot build weight ${shape.join("x")}: got ${values.length} values`);
  }
  const data = dtype === "f32"
    ? values
    : dtype === "f16"
    ? toF16(values)
    : dtype === "q8_0"
    ? quantizeQ8_0(values)
    : quantizeQ4_0(values);
  return { dtype, shape, data };
}

/** Packs a weight for the GPU kernels. */
export function packWeight(weight: HostWeight): PackedWeight {
  const count = weight.shape[0] * weight.shape[1];
  switch (weight.dtype) {
    case "f32":
      return { data: weight.data as Float32Array };
    case "f16": {
      const bits = weight.data as Uint16Array;
      const padded = new Uint16Array(count + (count & 1));
      padded.set(bits.subarray(0, count));
      return { data: new Uint32Array(padded.buffer) };
    }
    default: {
      const { words, scales } = repackBlocks(weight.dtype, weight.data as Uint8Array, count);
      return { data: words, scales };
    }
  }
}

/** The f32 values a weight represents (the CPU reference's view of it). */
export function dequantizeWeight(weight: HostWeight): Float32Array {
  const count = weight.shape[0] * weight.shape[1];
  if (weight.dtype === "f32") return (weight.data as Float32Array).slice(0, count);
  return dequantize(weight.dtype, weight.data as Uint8Array | Uint16Array, count);
}

/** Concatenates weights of one dtype along rows (for fused QKV and gate+up weights). */
export function concatWeightRows(weights: readonly HostWeight[]): HostWeight {
  const dtype = weights[0].dtype;
  const cols = weights[0].shape[1];
  if (weights.some((w) => w.dtype !== dtype || w.shape[1] !== cols)) {
    throw new RangeError("Cannot concatenate weights: dtypes or column counts differ");
  }
  const rows = weights.reduce((a, w) => a + w.shape[0], 0);
  const Ctor = weights[0].data.constructor as new (
    n: number,
  ) => Float32Array | Uint16Array | Uint8Array;
  const out = new Ctor(weights.reduce((a, w) => a + w.data.length, 0));
  let offset = 0;
  for (const w of weights) {
    out.set(w.data as never, offset);
    offset += w.data.length;
  }
  return { dtype, shape: [rows, cols], data: out };
}
