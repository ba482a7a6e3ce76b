/**
 * A GGUF v2/v3 header reader over bytes in memory: metadata, tensor infos and the data section
 * offset. Callers that hold only a prefix of a file (the frontend reads just the metadata) get
 * a {@linkcode GgufTruncatedError} saying how many bytes would be needed, never a wrong answer.
 * A file that is not GGUF, or whose header is inconsistent, gets a `TypeError` naming what is
 * wrong and where.
 *
 * @module
 */
import {
  GGML_BLOCK,
  ggmlTensorBytes,
  ggmlTypeName,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
} from "./gguf_format.ts";

/** A metadata value as read: numbers (64-bit integers as `number` when safe, else `bigint`). */
export type GgufReadValue = number | bigint | boolean | string | GgufReadValue[];

/** One tensor's info from the header. */
export interface GgufTensorInfo {
  name: string;
  /** ggml's dimensions, innermost first. */
  ne: number[];
  /** Row-major shape, outermost first (`ne` reversed). */
  shape: number[];
  /** ggml type code. */
  type: number;
  /** Offset of the data from the start of the file. */
  offset: number;
  /** Bytes of the data (0 when the type's block size is unknown to Sluice). */
  byteLength: number;
}

/** A parsed GGUF header. */
export interface GgufHeader {
  version: number;
  /** Metadata in file order. */
  metadata: Map<string, GgufReadValue>;
  /** Byte offset where the metadata ends and tensor infos begin. */
  metadataEnd: number;
  tensors: GgufTensorInfo[];
  /** Byte offset of the data section. */
  dataOffset: number;
  alignment: number;
}

/** Thrown when the bytes end before the part of the header asked for. */
export class GgufTruncatedError extends TypeError {
  /** A lower bound on the bytes needed to go further. */
  readonly needBytes: number;
  constructor(needBytes: number, have: number) {
    super(`GGUF header truncated: ${have} bytes, at least ${needBytes} needed`);
    this.name = "GgufTruncatedError";
    this.needBytes = needBytes;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Limits that keep a corrupt header from allocating without bound. */
const MAX_STRING_BYTES = 1 << 24;
const MAX_ITEMS = 1 << 26;

class Cursor {
  at = 0;
  view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.at + n > this.bytes.byteLength) {
      throw new GgufTruncatedError(this.at + n, this.bytes.byteLength);
    }
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  u64(): number | bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  count(what: string, limit: number): number {
    const n = this.u64();
    if (typeof n !== "number" || n > limit) {
      throw new TypeError(`Not a valid GGUF file: ${what} ${n} at byte ${this.at - 8}`);
    }
    return n;
  }
  string(): string {
    const n = this.count("string length", MAX_STRING_BYTES);
    this.need(n);
    const s = decoder.decode(this.bytes.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  value(type: number, key: string): GgufReadValue {
    const v = this.view;
    const take = (n: number) => {
      this.need(n);
      const at = this.at;
      this.at += n;
      return at;
    };
    switch (type) {
      case GgufValueType.UINT8:
        return v.getUint8(take(1));
      case GgufValueType.INT8:
        return v.getInt8(take(1));
      case GgufValueType.UINT16:
        return v.getUint16(take(2), true);
      case GgufValueType.INT16:
        return v.getInt16(take(2), true);
      case GgufValueType.UINT32:
        return v.getUint32(take(4), true);
      case GgufValueType.INT32:
        return v.getInt32(take(4), true);
      case GgufValueType.FLOAT32:
        return v.getFloat32(take(4), true);
      case GgufValueType.BOOL:
        return v.getUint8(take(1)) !== 0;
      case GgufValueType.STRING:
        return this.string();
      case GgufValueType.UINT64:
        return this.u64();
      case GgufValueType.INT64: {
        const x = v.getBigInt64(take(8), true);
        return x >= -BigInt(Number.MAX_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(x)
          : x;
      }
      case GgufValueType.FLOAT64:
        return v.getFloat64(take(8), true);
      case GgufValueType.ARRAY: {
        const itemType = this.u32();
        const n = this.count(`array length of ${key}`, MAX_ITEMS);
        const out: GgufReadValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(itemType, key);
        return out;
      }
      default:
        throw new TypeError(
          `Not a valid GGUF file: key ${key} has unknown value type ${type} at byte ${this.at - 4}`,
        );
    }
  }
}

/**
 * Parses the header of a GGUF file from its first bytes. With `metadataOnly`, stops after the
 * metadata (`tensors` empty, `dataOffset` 0): that prefix is all a tokenizer needs.
 *
 * @throws {GgufTruncatedError} when `bytes` ends inside the part asked for.
 * @throws {TypeError} when the bytes are not a GGUF v2/v3 header.
 */
export function parseGgufHeader(
  bytes: Uint8Array,
  options: { metadataOnly?: boolean } = {},
): GgufHeader {
  const c = new Cursor(bytes);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    throw new TypeError('Not a GGUF file: the first 4 bytes are not "GGUF"');
  }
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    throw new TypeError(`Unsupported GGUF version ${version}: Sluice reads versions 2 and 3`);
  }
  const tensorCount = c.count("tensor count", MAX_ITEMS);
  const kvCount = c.count("metadata count", MAX_ITEMS);
  const metadata = new Map<string, GgufReadValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    const type = c.u32();
    metadata.set(key, c.value(type, key));
  }
  const metadataEnd = c.at;
  const alignmentValue = metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT;
  const alignment = Number(alignmentValue);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new TypeError(`Not a valid GGUF file: general.alignment ${alignmentValue}`);
  }
  if (options.metadataOnly) {
    return { version, metadata, metadataEnd, tensors: [], dataOffset: 0, alignment };
  }
  const infos: (Omit<GgufTensorInfo, "offset"> & { rel: number })[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    const dims = c.u32();
    if (dims < 1 || dims > 4) {
      throw new TypeError(`Not a valid GGUF file: tensor ${name} has ${dims} dimensions`);
    }
    const ne: number[] = [];
    for (let d = 0; d < dims; d++) ne.push(c.count(`dimension of tensor ${name}`, 2 ** 40));
    const type = c.u32();
    const rel = c.count(`offset of tensor ${name}`, Number.MAX_SAFE_INTEGER);
    if (rel % alignment !== 0) {
      throw new TypeError(`Not a valid GGUF file: tensor ${name} data is not aligned`);
    }
    let byteLength = 0;
    if (GGML_BLOCK[type] !== undefined) {
      try {
        byteLength = ggmlTensorBytes(type, ne[0], ne.slice(1).reduce((a, b) => a * b, 1));
      } catch (cause) {
        throw new TypeError(
          `Not a valid GGUF file: tensor ${name} of ${ggmlTypeName(type)} has ${ne[0]} columns`,
          { cause },
        );
      }
    }
    infos.push({ name, ne, shape: [...ne].reverse(), type, byteLength, rel });
  }
  const dataOffset = Math.ceil(c.at / alignment) * alignment;
  const tensors = infos.map(({ rel, ...info }) => ({ ...info, offset: dataOffset + rel }));
  return { version, metadata, metadataEnd, tensors, dataOffset, alignment };
}
