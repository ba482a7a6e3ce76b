/**
 * Reads the safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the data. Every
 * offset is checked against the file and against its dtype × shape, so a truncated or
 * corrupt file is refused with a {@link ModelFileError} instead of being read as garbage.
 * F32, F16 and BF16 matrices become {@link HostWeight}s (BF16 widened exactly to f32).
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors_reader.ts";
 * import { writeSafetensors } from "./safetensors_writer.ts";
 * const bytes = writeSafetensors([{ name: "w", dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]);
 * console.assert(readSafetensors(bytes).tensors.get("w")!.shape[0] === 2);
 * ```
 */
import { z } from "zod";
import type { HostWeight } from "../../gpu/kernels/host_weight.ts";
import { f16BitsToF32 } from "../../gpu/kernels/quant.ts";
import { bf16ToF32 } from "../gguf/gguf_model_file.ts";
import { ModelFileError } from "../model_file_error.ts";

/** Bytes per element of the dtypes safetensors names (those this reader may meet). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** One tensor of a safetensors file. */
export interface SafetensorsTensor {
  /** Its name. */
  readonly name: string;
  /** Dtype as the file spells it (`F32`, `BF16`, ...). */
  readonly dtype: string;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** The raw little-endian bytes. */
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** `__metadata__`, when present. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors by name. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
}

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

/** Parses a whole safetensors file. Throws {@link ModelFileError} (`truncated` / `corrupt`). */
export function readSafetensors(
  bytes: Uint8Array,
  label = "the safetensors file",
): SafetensorsFile {
  if (bytes.length < 8) {
    throw new ModelFileError("truncated", `Cannot read ${label}: ${bytes.length} bytes, no header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) {
    throw new ModelFileError(
      "truncated",
      `Cannot read ${label}: its ${headerLength}-byte header runs past the ${bytes.length}-byte file`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    ));
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new TypeError("the header is not a JSON object");
    }
  } catch (error) {
    throw new ModelFileError(
      "corrupt",
      `Cannot read ${label}: the header is not valid JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = z.record(z.string(), z.string()).catch({}).parse(raw);
      continue;
    }
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      throw new ModelFileError(
        "corrupt",
        `Cannot read ${label}: the header entry of ${name} is malformed (${
          parsed.error.issues[0]?.message
        })`,
      );
    }
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    const size = DTYPE_BYTES[dtype];
    if (size === undefined) {
      throw new ModelFileError(
        "corrupt",
        `Cannot read ${label}: ${name} has unknown dtype ${dtype}`,
      );
    }
    const want = shape.reduce((a, b) => a * b, 1) * size;
    if (end < begin || end - begin !== want) {
      throw new ModelFileError(
        "corrupt",
        `Cannot read ${label}: ${name} spans ${
          end - begin
        } bytes, but ${dtype} [${shape}] needs ${want}`,
      );
    }
    if (dataStart + end > bytes.length) {
      throw new ModelFileError(
        "truncated",
        `Cannot read ${label}: the data of ${name} runs past the end of the ${bytes.length}-byte file`,
      );
    }
    tensors.set(name, {
      name,
      dtype,
      shape,
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  return { metadata, tensors };
}

/** A 2-D F32/F16/BF16 tensor as a {@link HostWeight}; other dtypes are refused by name. */
export function safetensorsWeight(tensor: SafetensorsTensor): HostWeight {
  if (tensor.shape.length !== 2) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load tensor ${tensor.name}: shape [${tensor.shape}] is not a matrix`,
    );
  }
  const shape = [tensor.shape[0], tensor.shape[1]] as const;
  switch (tensor.dtype) {
    case "F32":
      return { dtype: "f32", shape, data: new Float32Array(new Uint8Array(tensor.bytes).buffer) };
    case "F16":
      return { dtype: "f16", shape, data: new Uint16Array(new Uint8Array(tensor.bytes).buffer) };
    case "BF16":
      return { dtype: "f32", shape, data: bf16ToF32(tensor.bytes) };
  }
  throw unsupported(tensor);
}

/** A 1-D F32/F16/BF16 tensor as f32 values. */
export function safetensorsVector(tensor: SafetensorsTensor): Float32Array {
  if (tensor.shape.length !== 1) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load tensor ${tensor.name}: shape [${tensor.shape}] is not a vector`,
    );
  }
  switch (tensor.dtype) {
    case "F32":
      return new Float32Array(new Uint8Array(tensor.bytes).buffer);
    case "F16":
      return Float32Array.from(new Uint16Array(new Uint8Array(tensor.bytes).buffer), f16BitsToF32);
    case "BF16":
      return bf16ToF32(tensor.bytes);
  }
  throw unsupported(tensor);
}

function unsupported(tensor: SafetensorsTensor): ModelFileError {
  return new ModelFileError(
    "unsupported_type",
    `Cannot load tensor ${tensor.name}: dtype ${tensor.dtype} is not supported (F32, F16, BF16)`,
  );
}
