/**
 * A GGUF v3 writer: metadata of every scalar type and arrays of them, tensor infos, alignment
 * padding and tensor data (F32, F16, Q8_0, Q4_0 encoded by `gguf_quant.ts`, or any ggml type
 * given as already-encoded bytes). Files it writes load in llama.cpp.
 *
 * Tensor shapes are given row-major, outermost first (`[rows, cols]`, as PyTorch and
 * safetensors write them) and stored reversed as ggml's `ne` (innermost first), the same
 * convention as llama.cpp's `gguf-py` writer. Tensor data is produced lazily, one tensor at a
 * time, and handed to a sink, so a 100M-parameter file never sits in memory whole.
 *
 * @module
 */
import {
  GGML_BLOCK,
  ggmlTensorBytes,
  ggmlTypeName,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_CODES,
  GGUF_VERSION,
  type GgufScalar,
  type GgufScalarTypeName,
  type GgufValue,
  GgufValueType,
} from "./gguf_format.ts";

/** Builders for typed metadata values: `gguf.u32(2)`, `gguf.array("string", tokens)`. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: "u8", value }),
  i8: (value: number): GgufValue => ({ type: "i8", value }),
  u16: (value: number): GgufValue => ({ type: "u16", value }),
  i16: (value: number): GgufValue => ({ type: "i16", value }),
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  string: (value: string): GgufValue => ({ type: "string", value }),
  u64: (value: number | bigint): GgufValue => ({ type: "u64", value }),
  i64: (value: number | bigint): GgufValue => ({ type: "i64", value }),
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  array: (itemType: GgufScalarTypeName, value: readonly GgufScalar[]): GgufValue => ({
    type: "array",
    itemType,
    value,
  }),
};

/** One tensor to write. */
export interface GgufTensorSpec {
  /** Tensor name (`blk.0.attn_q.weight`). */
  name: string;
  /** Row-major shape, outermost first; written reversed as ggml's `ne`. */
  shape: readonly number[];
  /** ggml type code (`GgmlType`). */
  type: number;
  /**
   * The encoded bytes (exactly the size the shape and type need), or a function producing them,
   * called once when the tensor's turn comes.
   */
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

/** What {@linkcode writeGguf} writes. */
export interface GgufFileSpec {
  /** Metadata in file order. `general.alignment`, when present, MUST be a u32 power of two. */
  metadata: ReadonlyArray<readonly [string, GgufValue]>;
  /** Tensors in file order. */
  tensors: readonly GgufTensorSpec[];
}

const encoder = new TextEncoder();

/** A growable little-endian byte buffer. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  length = 0;

  #ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
  u8(v: number): void {
    this.#ensure(1);
    this.view.setUint8(this.length++, v);
  }
  u32(v: number): void {
    this.#ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.#ensure(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  string(s: string): void {
    const bytes = encoder.encode(s);
    this.u64(bytes.length);
    this.#ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  scalar(type: GgufScalarTypeName, value: GgufScalar, key: string): void {
    const num = () => {
      if (typeof value !== "number") {
        throw new TypeError(`Cannot write GGUF key ${key}: ${type} needs a number, got ${value}`);
      }
      return value;
    };
    this.#ensure(8);
    const at = this.length;
    switch (type) {
      case "u8":
        this.view.setUint8(at, num());
        this.length += 1;
        return;
      case "i8":
        this.view.setInt8(at, num());
        this.length += 1;
        return;
      case "u16":
        this.view.setUint16(at, num(), true);
        this.length += 2;
        return;
      case "i16":
        this.view.setInt16(at, num(), true);
        this.length += 2;
        return;
      case "u32":
        this.view.setUint32(at, num(), true);
        this.length += 4;
        return;
      case "i32":
        this.view.setInt32(at, num(), true);
        this.length += 4;
        return;
      case "f32":
        this.view.setFloat32(at, num(), true);
        this.length += 4;
        return;
      case "bool":
        this.view.setUint8(at, value ? 1 : 0);
        this.length += 1;
        return;
      case "u64":
        this.view.setBigUint64(at, BigInt(value as number | bigint), true);
        this.length += 8;
        return;
      case "i64":
        this.view.setBigInt64(at, BigInt(value as number | bigint), true);
        this.length += 8;
        return;
      case "f64":
        this.view.setFloat64(at, num(), true);
        this.length += 8;
        return;
      case "string":
        if (typeof value !== "string") {
          throw new TypeError(`Cannot write GGUF key ${key}: string needed, got ${value}`);
        }
        this.string(value);
        return;
    }
  }
  pad(alignment: number): void {
    while (this.length % alignment !== 0) this.u8(0);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function alignmentOf(spec: GgufFileSpec): number {
  const entry = spec.metadata.find(([key]) => key === "general.alignment");
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const value = entry[1];
  const n = value.type === "u32" ? Number(value.value) : NaN;
  if (!Number.isInteger(n) || n <= 0 || (n & (n - 1)) !== 0) {
    throw new RangeError("Cannot write GGUF: general.alignment must be a u32 power of two");
  }
  return n;
}

function tensorBytes(tensor: GgufTensorSpec): number {
  if (tensor.shape.length < 1 || tensor.shape.length > 4) {
    throw new RangeError(`Cannot write tensor ${tensor.name}: 1 to 4 dimensions, got shape []`);
  }
  const ne0 = tensor.shape[tensor.shape.length - 1];
  const rows = tensor.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (GGML_BLOCK[tensor.type] === undefined) {
    throw new RangeError(`Cannot write tensor ${tensor.name}: ${ggmlTypeName(tensor.type)}`);
  }
  return ggmlTensorBytes(tensor.type, ne0, rows);
}

/**
 * The header of a GGUF file: everything before the tensor data (magic, counts, metadata, tensor
 * infos, padding), and where each tensor's data starts relative to the data section.
 */
export function ggufHeader(spec: GgufFileSpec): { header: Uint8Array; offsets: number[] } {
  const alignment = alignmentOf(spec);
  const out = new Bytes();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(spec.tensors.length);
  out.u64(spec.metadata.length);
  const seen = new Set<string>();
  for (const [key, value] of spec.metadata) {
    if (seen.has(key)) throw new RangeError(`Cannot write GGUF: key ${key} appears twice`);
    seen.add(key);
    out.string(key);
    if (value.type === "array") {
      out.u32(GgufValueType.ARRAY);
      out.u32(GGUF_SCALAR_CODES[value.itemType]);
      out.u64(value.value.length);
      for (const item of value.value) out.scalar(value.itemType, item, key);
    } else {
      out.u32(GGUF_SCALAR_CODES[value.type]);
      out.scalar(value.type, value.value, key);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const tensor of spec.tensors) {
    const size = tensorBytes(tensor);
    out.string(tensor.name);
    out.u32(tensor.shape.length);
    for (let i = tensor.shape.length - 1; i >= 0; i--) out.u64(tensor.shape[i]);
    out.u32(tensor.type);
    out.u64(offset);
    offsets.push(offset);
    offset += size;
    offset += (alignment - (offset % alignment)) % alignment;
  }
  out.pad(alignment);
  return { header: out.bytes(), offsets };
}

/**
 * Writes a GGUF v3 file to `sink`, header first, then each tensor's data (produced on demand)
 * followed by its alignment padding. Returns the bytes written. Throws a `RangeError` naming the
 * tensor when its data has the wrong size.
 *
 * @example
 * ```ts
 * import { encodeGguf, gguf } from "./gguf_writer.ts";
 * import { GgmlType } from "./gguf_format.ts";
 * const bytes = await encodeGguf({
 *   metadata: [["general.architecture", gguf.string("llama")]],
 *   tensors: [{ name: "x", shape: [2], type: GgmlType.F32, data: new Uint8Array(8) }],
 * });
 * console.assert(bytes.length % 32 === 0);
 * ```
 */
export async function writeGguf(
  spec: GgufFileSpec,
  sink: (chunk: Uint8Array) => void | Promise<void>,
): Promise<number> {
  const alignment = alignmentOf(spec);
  const { header } = ggufHeader(spec);
  await sink(header);
  let written = header.length;
  for (const tensor of spec.tensors) {
    const size = tensorBytes(tensor);
    const data = typeof tensor.data === "function" ? await tensor.data() : tensor.data;
    if (data.byteLength !== size) {
      throw new RangeError(
        `Cannot write tensor ${tensor.name}: ${data.byteLength} bytes, its shape needs ${size}`,
      );
    }
    await sink(data);
    written += size;
    const pad = (alignment - (size % alignment)) % alignment;
    if (pad > 0) {
      await sink(new Uint8Array(pad));
      written += pad;
    }
  }
  return written;
}

/** Writes a whole GGUF file into memory (small files: tests and fixtures). */
export async function encodeGguf(spec: GgufFileSpec): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const total = await writeGguf(spec, (chunk) => void chunks.push(chunk));
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
