/**
 * Reads a GGUF file (v2/v3) held in memory for the engine: header through the project's
 * `parseGgufHeader` (which refuses a truncated header; `@huggingface/gguf`, tried first, reads
 * zeros past the end of a short buffer and parses garbage), then the tensor data checked
 * against the file's length, with typed {@link ModelFileError}s.
 * Dims are GGUF order (innermost first): a 2-D tensor `[ne0, ne1]` is a row-major matrix of
 * `ne1` rows of `ne0` values, which is exactly a {@link HostWeight} `[ne1, ne0]`.
 *
 * Types kept as stored: F32, F16, Q8_0, Q4_0 (BF16 widens to F32); Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K and Q6_K are decoded and stored as F16 (`gguf_widened_quants.ts`). Any other type
 * (`Q2_K`, `IQ4_XS`, ...) is refused by name when a weight is read: the engine MUST NOT guess
 * at a format.
 *
 * @example
 * ```ts ignore
 * import { readGguf } from "./gguf_model_file.ts";
 * const file = readGguf(bytes);
 * console.log(file.metadata["general.architecture"], file.tensors.size);
 * ```
 */
import { type GgufHeader, GgufTruncatedError, parseGgufHeader } from "./gguf_reader.ts";
import type { HostWeight } from "../../gpu/kernels/host_weight.ts";
import {
  f16BitsToF32,
  Q4_0_BLOCK_BYTES,
  Q8_0_BLOCK_BYTES,
  QK,
  toF16,
} from "../../gpu/kernels/quant.ts";
import { decodeWidenedQuant, WIDENED_BLOCKS } from "./gguf_widened_quants.ts";
import { ModelFileError } from "../model_file_error.ts";

/** GGML type ids this reader knows by name (from ggml.h). */
export const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  6: "Q5_0",
  7: "Q5_1",
  8: "Q8_0",
  9: "Q8_1",
  10: "Q2_K",
  11: "Q3_K",
  12: "Q4_K",
  13: "Q5_K",
  14: "Q6_K",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  24: "I8",
  25: "I16",
  26: "I32",
  27: "I64",
  28: "F64",
  29: "IQ1_M",
  30: "BF16",
};

/** Bytes of `count` values of the supported types; `undefined` for the others. */
function storedBytes(type: number, count: number): number | undefined {
  switch (type) {
    case 0:
      return count * 4;
    case 1:
    case 30:
      return count * 2;
    case 8:
      return (count / QK) * Q8_0_BLOCK_BYTES;
    case 2:
      return (count / QK) * Q4_0_BLOCK_BYTES;
  }
  const widened = WIDENED_BLOCKS[type];
  return widened ? (count / widened.values) * widened.bytes : undefined;
}

/** One tensor of a GGUF file. */
export interface GgufTensor {
  /** Its name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** GGUF dims, innermost first. */
  readonly dims: readonly number[];
  /** GGML type id. */
  readonly type: number;
  /** GGML type name (`Q8_0`, `Q4_K`, ... or `type N`). */
  readonly typeName: string;
  /** Raw stored bytes; empty for types whose size this reader does not know. */
  readonly bytes: Uint8Array;
}

/** A parsed GGUF file. */
export interface GgufFile {
  /** Format version (2 or 3). */
  readonly version: number;
  /** Metadata key → value (64-bit integers as number when safe, arrays as arrays). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Tensors by name, in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensor>;
  /** Bytes of the header up to the end of the metadata (what a tokenizer needs). */
  readonly metadataEnd: number;
}

/**
 * Parses `bytes` (a whole GGUF file). Throws {@link ModelFileError}: `corrupt` for a bad magic,
 * version or directory, `truncated` when the header or a tensor's data runs past the end.
 */
export function readGguf(bytes: Uint8Array): GgufFile {
  let header: GgufHeader;
  try {
    header = parseGgufHeader(bytes);
  } catch (error) {
    const truncated = error instanceof GgufTruncatedError;
    throw new ModelFileError(
      truncated ? "truncated" : "corrupt",
      `Cannot read the GGUF header: ${
        truncated ? `the file ends inside it (${bytes.length} bytes)` : (error as Error).message
      }`,
      { cause: error },
    );
  }
  const tensors = new Map<string, GgufTensor>();
  for (const info of header.tensors) {
    const size = storedBytes(info.type, info.ne.reduce((a, b) => a * b, 1));
    if (size !== undefined && info.offset + size > bytes.length) {
      throw new ModelFileError(
        "truncated",
        `Cannot read GGUF tensor ${info.name}: its ${size} bytes at offset ${info.offset} run ` +
          `past the end of the ${bytes.length}-byte file`,
      );
    }
    tensors.set(info.name, {
      name: info.name,
      dims: info.ne,
      type: info.type,
      typeName: GGML_TYPE_NAMES[info.type] ?? `type ${info.type}`,
      bytes: size === undefined
        ? new Uint8Array(0)
        : bytes.subarray(info.offset, info.offset + size),
    });
  }
  return {
    version: header.version,
    metadata: Object.fromEntries(header.metadata),
    tensors,
    metadataEnd: header.metadataEnd,
  };
}

/**
 * The 2-D tensor as a {@link HostWeight} `[ne1, ne0]` in its stored type (BF16 widened to
 * f32). Throws {@link ModelFileError} `unsupported_type` naming the type, or `bad_shape`.
 */
export function ggufWeight(tensor: GgufTensor): HostWeight {
  if (tensor.dims.length !== 2) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load GGUF tensor ${tensor.name}: dims [${tensor.dims}] are not a matrix`,
    );
  }
  const [cols, rows] = tensor.dims;
  const shape = [rows, cols] as const;
  switch (tensor.type) {
    case 0:
      return { dtype: "f32", shape, data: f32View(tensor.bytes) };
    case 30:
      return { dtype: "f32", shape, data: bf16ToF32(tensor.bytes) };
    case 1:
      return { dtype: "f16", shape, data: u16View(tensor.bytes) };
    case 8:
    case 2:
      if (cols % QK) {
        throw new ModelFileError(
          "bad_shape",
          `Cannot load GGUF tensor ${tensor.name}: ${cols} columns are not whole ${QK}-value blocks`,
        );
      }
      return { dtype: tensor.type === 8 ? "q8_0" : "q4_0", shape, data: tensor.bytes };
  }
  const widened = WIDENED_BLOCKS[tensor.type];
  if (widened) {
    if (cols % widened.values) {
      throw new ModelFileError(
        "bad_shape",
        `Cannot load GGUF tensor ${tensor.name}: ${cols} columns are not whole ` +
          `${widened.values}-value ${tensor.typeName} blocks`,
      );
    }
    // Widened once at load: F16 keeps the decoded values to 2⁻¹¹ relative.
    return {
      dtype: "f16",
      shape,
      data: toF16(decodeWidenedQuant(tensor.type, tensor.bytes, rows * cols)),
    };
  }
  throw unsupported(tensor);
}

/** A 1-D tensor (norm weight, bias) as f32 values; F32, F16 and BF16 only. */
export function ggufVector(tensor: GgufTensor): Float32Array {
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  if (tensor.dims.filter((d) => d > 1).length > 1) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load GGUF tensor ${tensor.name}: dims [${tensor.dims}] are not a vector`,
    );
  }
  switch (tensor.type) {
    case 0:
      return f32View(tensor.bytes).slice(0, count);
    case 30:
      return bf16ToF32(tensor.bytes);
    case 1: {
      const bits = u16View(tensor.bytes);
      return Float32Array.from(bits, (b) => f16BitsToF32(b));
    }
  }
  throw unsupported(tensor);
}

function unsupported(tensor: GgufTensor): ModelFileError {
  return new ModelFileError(
    "unsupported_type",
    `Cannot load GGUF tensor ${tensor.name}: type ${tensor.typeName} is not supported ` +
      `(supported: F32, F16, BF16, Q8_0, Q4_0, and widened to F16 at load: Q4_1, Q5_0, Q5_1, ` +
      `Q4_K, Q5_K, Q6_K; re-quantise the model, e.g. to Q8_0)`,
  );
}

function f32View(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  return new Float32Array(bytes.slice().buffer);
}

function u16View(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) {
    return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  }
  return new Uint16Array(bytes.slice().buffer);
}

/** Widens bfloat16 bits (the top half of an f32) to f32. */
export function bf16ToF32(bytes: Uint8Array): Float32Array {
  const out = new Uint32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  return new Float32Array(out.buffer);
}
