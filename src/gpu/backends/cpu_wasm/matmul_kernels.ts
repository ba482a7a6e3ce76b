/**
 * The `cpu` backend's matmul kernels as WebAssembly SIMD code (plain data, built by
 * `wasm_encoding.ts`): `y[r, j] = Σ_p x[r, p] · w[j, p]` for R = 1 or 4 rows of x per pass over
 * the weight rows, with weights either f32 (`f32_rR`) or int8 values with one f32 scale per
 * block of 32 (`q8_rR`, which also serves Q4_0 widened to int8 at upload). R = 4 loads (and
 * dequantises) each weight chunk once for four rows of x.
 *
 * Summation order: every output keeps two f32x4 accumulators, `a` for the 16-byte chunks of x at
 * even chunk indices and `b` for the odd ones, and ends with `((a + b)[0] + (a + b)[1]) +
 * ((a + b)[2] + (a + b)[3])`. The order is the same in the R = 1 and R = 4 kernels, so a row's
 * result MUST NOT depend on how many rows share its pass (decode batches give the same tokens as
 * single requests). Quantised weights are dequantised exactly as the reference does
 * (`f32(q) · scale`, one rounding) before the product.
 *
 * Signatures (all i32 byte addresses / counts): `f32_rR(x, w, y, n, k, ldy)` with `k % 8 == 0`;
 * `q8_rR(x, q, s, y, n, k, ldy)` with `k % 32 == 0`; `n ≥ 1`. Row r of x starts at `x + r·4k`,
 * row r of y at `y + r·4·ldy`; w is `[n, k]` f32, q is `[n, k]` int8, s is `[n, k / 32]` f32. A
 * range of weight rows is a call with w, s and y advanced to its first row (so threads split
 * the rows of one matmul without changing any row's bits).
 *
 * @example
 * ```ts
 * import { matmulModuleBytes } from "./matmul_kernels.ts";
 * console.assert(WebAssembly.validate(matmulModuleBytes()));
 * ```
 *
 * @module
 */
import {
  addTo,
  f32Load,
  f32Store,
  f32x4Add,
  f32x4ConvertI32x4S,
  f32x4Mul,
  f32x4Splat,
  get,
  hsum,
  I32,
  i32,
  i32x4ExtendHighI16x8S,
  i32x4ExtendLowI16x8S,
  loopWhile,
  OP,
  set,
  V128,
  v128Load,
  v128Load8x8S,
  v128Zero,
  VOID,
  type WasmFunction,
  wasmModule,
} from "./wasm_encoding.ts";

/** Rows of x per pass in the multi-row kernels. */
export const MATMUL_PASS_ROWS = 4;

const rowCounts = [1, MATMUL_PASS_ROWS] as const;

/** Local indices of a kernel with `params` parameters and `rows` rows. */
function layout(params: number, rows: number) {
  let next = params;
  const one = () => next++;
  const j = one(), p = one(), wp = one(), kb = one(), sp = one();
  const xr: number[] = [];
  for (let r = 0; r < rows; r++) xr.push(one());
  const yr: number[] = [];
  for (let r = 0; r < rows; r++) yr.push(one());
  const i32Count = next - params;
  const accA: number[] = [], accB: number[] = [];
  for (let r = 0; r < rows; r++) accA.push(next++), accB.push(next++);
  const wv = next++, sv = next++, qv = next++;
  return {
    j,
    p,
    wp,
    kb,
    sp,
    xr,
    yr,
    accA,
    accB,
    wv,
    sv,
    qv,
    i32Count,
    v128Count: next - params - i32Count,
  };
}

/** `acc = acc + load(xr + p + offset) · wv` for every row. */
function accumulate(
  rows: number,
  acc: readonly number[],
  xr: readonly number[],
  p: number,
  wv: number,
  offset: number,
): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(
      ...get(acc[r]),
      ...get(xr[r]),
      ...get(p),
      OP.i32Add,
      ...v128Load(offset),
      ...get(wv),
      ...f32x4Mul(),
      ...f32x4Add(),
      ...set(acc[r]),
    );
  }
  return out;
}

/** Prologue shared by both kernels: kb = 4k, row pointers of x and y, j = 0. */
function prologue(
  l: ReturnType<typeof layout>,
  rows: number,
  x: number,
  y: number,
  ldy: number,
  k: number,
): number[] {
  const out = [...get(k), ...i32(4), OP.i32Mul, ...set(l.kb)];
  for (let r = 0; r < rows; r++) {
    out.push(...get(x), ...get(l.kb), ...i32(r), OP.i32Mul, OP.i32Add, ...set(l.xr[r]));
    out.push(...get(y), ...get(ldy), ...i32(4 * r), OP.i32Mul, OP.i32Add, ...set(l.yr[r]));
  }
  out.push(...i32(0), ...set(l.j));
  return out;
}

/** Zeroes the accumulators and p. */
function resetRow(l: ReturnType<typeof layout>, rows: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(...v128Zero(), ...set(l.accA[r]), ...v128Zero(), ...set(l.accB[r]));
  }
  out.push(...i32(0), ...set(l.p));
  return out;
}

/** Stores the fixed-order horizontal sums of every row's accumulators at y_r[j]. */
function storeRow(l: ReturnType<typeof layout>, rows: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(...get(l.yr[r]), ...get(l.j), ...i32(4), OP.i32Mul, OP.i32Add);
    out.push(...get(l.accA[r]), ...get(l.accB[r]), ...f32x4Add(), ...set(l.wv));
    out.push(...hsum(l.wv), ...f32Store());
  }
  return out;
}

function f32Kernel(rows: number): WasmFunction {
  const [x, w, y, n, k, ldy] = [0, 1, 2, 3, 4, 5];
  const l = layout(6, rows);
  const inner = [
    ...get(l.wp),
    ...get(l.p),
    OP.i32Add,
    ...v128Load(0),
    ...set(l.wv),
    ...accumulate(rows, l.accA, l.xr, l.p, l.wv, 0),
    ...get(l.wp),
    ...get(l.p),
    OP.i32Add,
    ...v128Load(16),
    ...set(l.wv),
    ...accumulate(rows, l.accB, l.xr, l.p, l.wv, 16),
    ...addTo(l.p, i32(32)),
  ];
  const body = [
    ...prologue(l, rows, x, y, ldy, k),
    ...get(w),
    ...set(l.wp),
    OP.loop,
    VOID,
    ...resetRow(l, rows),
    OP.loop,
    VOID,
    ...inner,
    ...loopWhile(l.p, l.kb),
    OP.end,
    ...storeRow(l, rows),
    ...addTo(l.wp, get(l.kb)),
    ...addTo(l.j, i32(1)),
    ...loopWhile(l.j, n),
    OP.end,
  ];
  return { name: `f32_r${rows}`, params: [I32, I32, I32, I32, I32, I32], locals: locals(l), body };
}

function q8Kernel(rows: number): WasmFunction {
  const [x, q, s, y, n, k, ldy] = [0, 1, 2, 3, 4, 5, 6];
  const l = layout(7, rows);
  const chunk = (c: number) => [
    ...get(l.wp),
    ...v128Load8x8S(8 * c),
    ...set(l.qv),
    ...get(l.qv),
    ...i32x4ExtendLowI16x8S(),
    ...f32x4ConvertI32x4S(),
    ...get(l.sv),
    ...f32x4Mul(),
    ...set(l.wv),
    ...accumulate(rows, l.accA, l.xr, l.p, l.wv, 32 * c),
    ...get(l.qv),
    ...i32x4ExtendHighI16x8S(),
    ...f32x4ConvertI32x4S(),
    ...get(l.sv),
    ...f32x4Mul(),
    ...set(l.wv),
    ...accumulate(rows, l.accB, l.xr, l.p, l.wv, 32 * c + 16),
  ];
  const block = [
    ...get(l.sp),
    ...f32Load(0),
    ...f32x4Splat(),
    ...set(l.sv),
    ...chunk(0),
    ...chunk(1),
    ...chunk(2),
    ...chunk(3),
    ...addTo(l.p, i32(128)),
    ...addTo(l.wp, i32(32)),
    ...addTo(l.sp, i32(4)),
  ];
  const body = [
    ...prologue(l, rows, x, y, ldy, k),
    ...get(q),
    ...set(l.wp),
    ...get(s),
    ...set(l.sp),
    OP.loop,
    VOID,
    ...resetRow(l, rows),
    OP.loop,
    VOID,
    ...block,
    ...loopWhile(l.p, l.kb),
    OP.end,
    ...storeRow(l, rows),
    ...addTo(l.j, i32(1)),
    ...loopWhile(l.j, n),
    OP.end,
  ];
  return {
    name: `q8_r${rows}`,
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: locals(l),
    body,
  };
}

function locals(l: ReturnType<typeof layout>): number[] {
  return [...new Array(l.i32Count).fill(I32), ...new Array(l.v128Count).fill(V128)];
}

const built = new Map<boolean, Uint8Array<ArrayBuffer>>();

/**
 * The module's bytes (built once per kind): exports `f32_r1`, `f32_r4`, `q8_r1`, `q8_r4`,
 * importing `env.memory`, a shared memory when `shared` (for worker threads).
 */
export function matmulModuleBytes(shared = false): Uint8Array<ArrayBuffer> {
  let bytes = built.get(shared);
  if (!bytes) {
    bytes = wasmModule([...rowCounts.map(f32Kernel), ...rowCounts.map(q8Kernel)], { shared });
    built.set(shared, bytes);
  }
  return bytes;
}
