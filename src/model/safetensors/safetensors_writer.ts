/**
 * Writes the safetensors format (the inverse of `readSafetensors`): used by the fixture
 * generator and the loader round-trip tests. Tensors are laid out in the given order, each
 * starting where the previous ended; the header is padded with spaces to a multiple of 8.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors_writer.ts";
 * const bytes = writeSafetensors([{ name: "x", dtype: "F32", shape: [1], data: new Float32Array([3]) }]);
 * console.assert(bytes.length > 8);
 * ```
 */

/** One tensor to write; `data`'s bytes MUST be the little-endian values of `dtype`. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: "F32" | "F16" | "BF16";
  readonly shape: readonly number[];
  readonly data: Float32Array | Uint16Array;
}

/** Serialises `tensors` (and optional string metadata) into one safetensors file. */
export function writeSafetensors(
  tensors: readonly SafetensorsEntry[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const bytes = t.data.byteLength;
    if (bytes !== count * (t.dtype === "F32" ? 4 : 2)) {
      throw new RangeError(
        `Cannot write ${t.name}: ${bytes} bytes do not hold ${t.dtype} [${t.shape}]`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
