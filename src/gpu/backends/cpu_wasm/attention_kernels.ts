/**
 * The `cpu` backend's paged-attention kernels as WebAssembly SIMD code (plain data, like
 * `matmul_kernels.ts`), for one query token and one KV head with its GQA group of `group` query
 * heads, over a KV cache held in the same wasm memory:
 *
 * - `qk(q, rows, ctx, kBase, d, group, scores, scale)`: for each context position j (outer) and
 *   head g, `scores[g·ctx + j] = scale · (q_g · K[j])`, K[j] at `kBase + rows[j]` (bytes);
 * - `pv(rows, ctx, vBase, d, group, probs, acc)`: `acc[g] = Σ_j probs[g·ctx + j] · V[j]`, V[j] at
 *   `vBase + rows[j]`, accumulated in j order.
 *
 * Sums are f32x4 lanes combined as `(l0 + l1) + (l2 + l3)`; `d` MUST be a multiple of 4, `ctx`
 * and `group` at least 1. The softmax between the two runs in JavaScript (`wasm_attention.ts`).
 *
 * @example
 * ```ts
 * import { attentionModuleBytes } from "./attention_kernels.ts";
 * console.assert(WebAssembly.validate(attentionModuleBytes()));
 * ```
 *
 * @module
 */
import {
  addTo,
  F32,
  f32Load,
  f32Store,
  f32x4Add,
  f32x4Mul,
  f32x4Splat,
  get,
  hsum,
  I32,
  i32,
  i32Load,
  loopWhile,
  OP,
  set,
  V128,
  v128Load,
  v128Store,
  v128Zero,
  VOID,
  type WasmFunction,
  wasmModule,
} from "./wasm_encoding.ts";

/** Pushes `base + rows[j]` (the byte address of context position j's row). */
const rowAddress = (base: number, rows: number, j: number) => [
  ...get(base),
  ...get(rows),
  ...get(j),
  ...i32(4),
  OP.i32Mul,
  OP.i32Add,
  ...i32Load(),
  OP.i32Add,
];

/** Pushes the byte address of `ptr[g·ctx + j]` (f32). */
const scoreAddress = (ptr: number, g: number, ctx: number, j: number) => [
  ...get(ptr),
  ...get(g),
  ...get(ctx),
  OP.i32Mul,
  ...get(j),
  OP.i32Add,
  ...i32(4),
  OP.i32Mul,
  OP.i32Add,
];

function qk(): WasmFunction {
  const [q, rows, ctx, kBase, d, group, scores, scale] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [j, g, i, kRow, qRow, db, acc] = [8, 9, 10, 11, 12, 13, 14];
  const body = [
    ...get(d),
    ...i32(4),
    OP.i32Mul,
    ...set(db),
    ...i32(0),
    ...set(j),
    OP.loop,
    VOID,
    ...rowAddress(kBase, rows, j),
    ...set(kRow),
    ...i32(0),
    ...set(g),
    ...get(q),
    ...set(qRow),
    OP.loop,
    VOID,
    ...v128Zero(),
    ...set(acc),
    ...i32(0),
    ...set(i),
    OP.loop,
    VOID,
    ...get(acc),
    ...get(qRow),
    ...get(i),
    OP.i32Add,
    ...v128Load(),
    ...get(kRow),
    ...get(i),
    OP.i32Add,
    ...v128Load(),
    ...f32x4Mul(),
    ...f32x4Add(),
    ...set(acc),
    ...addTo(i, i32(16)),
    ...loopWhile(i, db),
    OP.end,
    // scores[g·ctx + j] = scale · hsum(acc)
    ...scoreAddress(scores, g, ctx, j),
    ...hsum(acc),
    ...get(scale),
    OP.f32Mul,
    ...f32Store(),
    ...addTo(qRow, get(db)),
    ...addTo(g, i32(1)),
    ...loopWhile(g, group),
    OP.end,
    ...addTo(j, i32(1)),
    ...loopWhile(j, ctx),
    OP.end,
  ];
  return {
    name: "qk",
    params: [I32, I32, I32, I32, I32, I32, I32, F32],
    locals: [I32, I32, I32, I32, I32, I32, V128],
    body,
  };
}

function pv(): WasmFunction {
  const [rows, ctx, vBase, d, group, probs, acc] = [0, 1, 2, 3, 4, 5, 6];
  const [j, g, i, vRow, aRow, db, total, p] = [7, 8, 9, 10, 11, 12, 13, 14];
  const body = [
    ...get(d),
    ...i32(4),
    OP.i32Mul,
    ...set(db),
    ...get(db),
    ...get(group),
    OP.i32Mul,
    ...set(total),
    ...i32(0),
    ...set(i),
    OP.loop,
    VOID,
    ...get(acc),
    ...get(i),
    OP.i32Add,
    ...v128Zero(),
    ...v128Store(),
    ...addTo(i, i32(16)),
    ...loopWhile(i, total),
    OP.end,
    ...i32(0),
    ...set(j),
    OP.loop,
    VOID,
    ...rowAddress(vBase, rows, j),
    ...set(vRow),
    ...i32(0),
    ...set(g),
    ...get(acc),
    ...set(aRow),
    OP.loop,
    VOID,
    ...scoreAddress(probs, g, ctx, j),
    ...f32Load(),
    ...f32x4Splat(),
    ...set(p),
    ...i32(0),
    ...set(i),
    OP.loop,
    VOID,
    ...get(aRow),
    ...get(i),
    OP.i32Add,
    ...get(aRow),
    ...get(i),
    OP.i32Add,
    ...v128Load(),
    ...get(p),
    ...get(vRow),
    ...get(i),
    OP.i32Add,
    ...v128Load(),
    ...f32x4Mul(),
    ...f32x4Add(),
    ...v128Store(),
    ...addTo(i, i32(16)),
    ...loopWhile(i, db),
    OP.end,
    ...addTo(aRow, get(db)),
    ...addTo(g, i32(1)),
    ...loopWhile(g, group),
    OP.end,
    ...addTo(j, i32(1)),
    ...loopWhile(j, ctx),
    OP.end,
  ];
  return {
    name: "pv",
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, V128],
    body,
  };
}

let bytes: Uint8Array<ArrayBuffer> | undefined;

/** The module's bytes (built once): exports `qk` and `pv`, importing `env.memory`. */
export function attentionModuleBytes(): Uint8Array<ArrayBuffer> {
  bytes ??= wasmModule([qk(), pv()]);
  return bytes;
}
