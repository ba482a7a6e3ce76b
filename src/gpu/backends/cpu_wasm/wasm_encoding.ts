/**
 * The few pieces of the WebAssembly binary format the `cpu` backend's SIMD matmul module is
 * written in: LEB128 numbers, sections, function bodies and the opcodes it uses (core and
 * fixed-width SIMD). Kernels are plain data (byte arrays built by functions), like the WGSL
 * kernels: no toolchain, no binary blob in the repository.
 *
 * @example
 * ```ts
 * import { uleb } from "./wasm_encoding.ts";
 * console.assert(uleb(624485).join() === "229,142,38");
 * ```
 *
 * @module
 */

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A length-prefixed vector of encoded items. */
export function vec(items: readonly number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A UTF-8 name. */
export function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

/** Pages (64 KiB) of the largest wasm32 memory: 4 GiB. */
export const WASM32_PAGES = 65536;

/** Value types. */
export const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

/** One function: its parameter types, local types (after the parameters) and body code. */
export interface WasmFunction {
  readonly name: string;
  readonly params: readonly number[];
  readonly locals: readonly number[];
  readonly body: readonly number[];
}

/**
 * A module importing one memory as `env.memory` (a shared one, up to 4 GiB, when `shared`) and
 * exporting `functions` (no results; they write to memory). Every function has its own type.
 */
export function wasmModule(
  functions: readonly WasmFunction[],
  options: { shared?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const types = vec(functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0]));
  const limits = options.shared ? [0x03, 1, ...uleb(WASM32_PAGES)] : [0x00, 1];
  const imports = vec([[...name("env"), ...name("memory"), 0x02, ...limits]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const code = vec(functions.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body, OP.end];
    return [...uleb(body.length), ...body];
  }));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** Core opcodes (single byte). */
export const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  f32Load: 0x2a,
  f32Store: 0x38,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  f32Add: 0x92,
  f32Mul: 0x94,
} as const;

/** Empty block type. */
export const VOID = 0x40;

/** A SIMD instruction: the 0xFD prefix and its LEB128 opcode. */
function simd(op: number): number[] {
  return [0xfd, ...uleb(op)];
}

/** `v128.load` with a byte offset (natural 16-byte alignment hint). */
export const v128Load = (offset = 0) => [...simd(0x00), 4, ...uleb(offset)];
/** `v128.store` with a byte offset. */
export const v128Store = (offset = 0) => [...simd(0x0b), 4, ...uleb(offset)];
/** `i32.load` with a byte offset. */
export const i32Load = (offset = 0) => [OP.i32Load, 2, ...uleb(offset)];
/** `v128.load8x8_s`: 8 bytes sign-extended to i16x8. */
export const v128Load8x8S = (offset = 0) => [...simd(0x01), 3, ...uleb(offset)];
/** `f32.load` / `f32.store` with a byte offset. */
export const f32Load = (offset = 0) => [OP.f32Load, 2, ...uleb(offset)];
export const f32Store = (offset = 0) => [OP.f32Store, 2, ...uleb(offset)];
/** `v128.const` of zero. */
export const v128Zero = () => [...simd(0x0c), ...new Array(16).fill(0)];
/** Lane and arithmetic SIMD ops. */
export const f32x4Splat = () => simd(0x13);
export const f32x4ExtractLane = (lane: number) => [...simd(0x1f), lane];
export const i32x4ExtendLowI16x8S = () => simd(0xa7);
export const i32x4ExtendHighI16x8S = () => simd(0xa8);
export const f32x4Add = () => simd(0xe4);
export const f32x4Mul = () => simd(0xe6);
export const f32x4ConvertI32x4S = () => simd(0xfa);

/** `local.get` / `local.set` / `local.tee`. */
export const get = (i: number) => [OP.localGet, ...uleb(i)];
export const set = (i: number) => [OP.localSet, ...uleb(i)];
export const tee = (i: number) => [OP.localTee, ...uleb(i)];
/** `i32.const`. */
export const i32 = (v: number) => [OP.i32Const, ...sleb(v)];
/** `local[i] += delta` for an i32 local. */
export const addTo = (i: number, delta: number[]) => [...get(i), ...delta, OP.i32Add, ...set(i)];
/** `br_if` back to the enclosing loop while the i32 local `local` < the local `limit`. */
export const loopWhile = (local: number, limit: number) => [
  ...get(local),
  ...get(limit),
  OP.i32LtU,
  OP.brIf,
  0,
];

/**
 * Pushes the horizontal sum of the f32x4 local `v` in the fixed order
 * `(v[0] + v[1]) + (v[2] + v[3])` (the order every kernel's results depend on).
 */
export const hsum = (v: number) => [
  ...get(v),
  ...f32x4ExtractLane(0),
  ...get(v),
  ...f32x4ExtractLane(1),
  OP.f32Add,
  ...get(v),
  ...f32x4ExtractLane(2),
  ...get(v),
  ...f32x4ExtractLane(3),
  OP.f32Add,
  OP.f32Add,
];
