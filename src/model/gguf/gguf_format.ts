/**
 * GGUF v3 format constants shared by the writer and the reader: metadata value types, the ggml
 * tensor types Sluice reads and writes, their block sizes, and llama.cpp's `general.file_type`
 * codes. Values are those of ggml's `gguf.h` / `ggml.h` and llama.cpp's `llama_ftype`.
 *
 * Layout of a GGUF v3 file (all integers little-endian):
 * `"GGUF"`, u32 version (3), u64 tensor count, u64 metadata count, metadata key/value pairs
 * (u64-length string key, u32 value type, value), tensor infos (name, u32 dims, u64 `ne[dims]`
 * innermost first, u32 ggml type, u64 offset relative to the data section), padding to
 * `general.alignment` (default 32), then the tensor data, each tensor at an aligned offset.
 *
 * @module
 */

/** The file magic, `"GGUF"` as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The only version Sluice writes (and the one it reads; v2 differs only in nothing we use). */
export const GGUF_VERSION = 3;
/** `general.alignment` when the file does not set it. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type codes (`gguf_type`). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
/** A metadata value type code. */
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Names of the scalar metadata types, as used by {@linkcode GgufValue}. */
export type GgufScalarTypeName =
  | "u8"
  | "i8"
  | "u16"
  | "i16"
  | "u32"
  | "i32"
  | "f32"
  | "bool"
  | "string"
  | "u64"
  | "i64"
  | "f64";

/** Type code of each scalar type name. */
export const GGUF_SCALAR_CODES: Readonly<Record<GgufScalarTypeName, GgufValueType>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  u64: 10,
  i64: 11,
  f64: 12,
};

/** A typed scalar JavaScript value (64-bit integers as `bigint` or safe `number`). */
export type GgufScalar = number | bigint | boolean | string;

/**
 * One metadata value with its GGUF type: a scalar, or an array of one scalar type (nested arrays
 * are legal GGUF but no llama.cpp key uses them, so Sluice does not write or read them).
 */
export type GgufValue =
  | { type: GgufScalarTypeName; value: GgufScalar }
  | { type: "array"; itemType: GgufScalarTypeName; value: readonly GgufScalar[] };

/** ggml tensor type codes (`ggml_type`) Sluice knows by name. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  BF16: 30,
} as const;
/** A ggml tensor type code. */
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** Name of a ggml type code (`"Q8_0"`), or `"type N"` for codes Sluice does not name. */
export function ggmlTypeName(type: number): string {
  for (const [name, code] of Object.entries(GgmlType)) if (code === type) return name;
  return `type ${type}`;
}

/** Elements per block and bytes per block of each ggml type (ggml's `type_traits`). */
export const GGML_BLOCK: Readonly<Record<number, { elements: number; bytes: number }>> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q4_1]: { elements: 32, bytes: 20 },
  [GgmlType.Q5_0]: { elements: 32, bytes: 22 },
  [GgmlType.Q5_1]: { elements: 32, bytes: 24 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.Q8_1]: { elements: 32, bytes: 36 },
  [GgmlType.Q2_K]: { elements: 256, bytes: 84 },
  [GgmlType.Q3_K]: { elements: 256, bytes: 110 },
  [GgmlType.Q4_K]: { elements: 256, bytes: 144 },
  [GgmlType.Q5_K]: { elements: 256, bytes: 176 },
  [GgmlType.Q6_K]: { elements: 256, bytes: 210 },
  [GgmlType.Q8_K]: { elements: 256, bytes: 292 },
};

/**
 * Bytes of a tensor of `type` with `ne0` elements per row and `rows` rows. Throws a
 * `RangeError` when `ne0` is not a multiple of the type's block or the type is unknown.
 */
export function ggmlTensorBytes(type: number, ne0: number, rows: number): number {
  const block = GGML_BLOCK[type];
  if (block === undefined) throw new RangeError(`Unknown ggml tensor ${ggmlTypeName(type)}`);
  if (ne0 % block.elements !== 0) {
    throw new RangeError(
      `A ${ggmlTypeName(type)} row needs a multiple of ${block.elements} elements, got ${ne0}`,
    );
  }
  return (ne0 / block.elements) * block.bytes * rows;
}

/** llama.cpp's `general.file_type` (`llama_ftype`) for the types Sluice writes. */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q8_0: 7,
} as const;

/** llama.cpp's `tokenizer.ggml.token_type` values (`llama_token_type`). */
export const LlamaTokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
