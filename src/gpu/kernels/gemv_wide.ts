/**
 * The `wide` GEMV strategy, for discrete GPUs whose memory system needs many wide loads in
 * flight (decode GEMV at batch 1 is a pure weight stream). A workgroup of `WG` invocations is
 * `WG / TPR` row groups of `TPR` invocations; a row group owns `ROWS` consecutive output rows.
 * Invocation `t` of a group walks K in 16-byte weight units `t, t + TPR, …` (adjacent
 * invocations read adjacent units, so every load instruction is coalesced), `UNROLL` units per
 * step, and loads each unit's slice of `x` once for all of its rows. So one step issues
 * `ROWS × UNROLL` independent 16-byte weight loads before any arithmetic depends on them, and x
 * costs `1 / ROWS` of the weight traffic per row. The `TPR` partial sums of each row are then
 * combined by a tree reduction in workgroup memory, all rows of all groups in each stage (no
 * subgroup operations are needed). Quantised weights use the conversion-free dequantisation of
 * `gemv_magic.ts`; float weights the unit dot of `gemv_chunk.ts`.
 *
 * With `TOKENS` > 1 every unit is decoded once per row and dotted with each token's x; the
 * per-token sums are reduced as many tokens at a time as fit in 16 KiB of workgroup memory,
 * each through the same tree in the same order as in a one-token kernel (so a row's result
 * does not depend on the batch).
 *
 * The body expects the header of `gemv.ts` (constants `N`, `K`, `WG`, `ROWS`, `ACC`, `TOKENS`,
 * the `params` uniform, `store(m, row, value)`) and the unit code (`CHUNKS`, `XC`, `WC`,
 * `load_x(u, m)`, `load_w(row, u)`, `dot_wx(wc, xc)`, and `block_scale(row, u)` when scaled).
 *
 * @example
 * ```ts
 * import { gemvWideBody } from "./gemv_wide.ts";
 * const body = gemvWideBody({
 *   wg: 128, tpr: 32, rows: 2, unroll: 2, chunks: 256, paired: false, tokens: 2, g: 1, scaled: true,
 * });
 * console.assert(body.includes("workgroupBarrier"));
 * ```
 *
 * @module
 */
import {
  type GemvBodyShape,
  tokenAccumulate,
  tokenIndices,
  type TokenRow,
  tokensPerReduction,
} from "./gemv_tokens.ts";

/** Shape of a `wide` kernel body. */
export interface GemvWideShape extends GemvBodyShape {
  /** Invocations per row group (a power of two dividing `wg`). */
  readonly tpr: number;
  /** 16-byte units per invocation per loop step. */
  readonly unroll: number;
  /** Units per row (`CHUNKS`). */
  readonly chunks: number;
}

/** Bytes of workgroup memory a `wide` kernel may use (WebGPU's default limit). */
export const GEMV_WIDE_WORKGROUP_BYTES = 16384;

/** WGSL entry point of the `wide` strategy (see the module comment). */
export function gemvWideBody(o: GemvWideShape): string {
  const { wg, tpr, rows, unroll, chunks, paired, tokens, scaled } = o;
  const groups = wg / tpr;
  const acc = paired ? 2 * rows : rows;
  if (acc * wg * 4 > GEMV_WIDE_WORKGROUP_BYTES) {
    throw new RangeError(
      `Cannot generate gemv: ${acc} sums × ${wg} invocations exceed ${GEMV_WIDE_WORKGROUP_BYTES} bytes of workgroup memory`,
    );
  }
  const rs = Array.from({ length: rows }, (_, r) => r);
  const ts = Array.from({ length: tokens }, (_, t) => t);
  const js = Array.from({ length: unroll }, (_, j) => j);
  const step = tpr * unroll;
  const full = chunks - (chunks % step);
  const accumulate = (unit: string, indent: string) =>
    tokenAccumulate({
      sub: unit,
      tokens,
      indent,
      rows: rs.flatMap((r): TokenRow[] => [
        {
          row: `rw${r}`,
          scale: scaled ? `block_scale(rw${r}, ${unit})` : undefined,
          acc: (t) => `a${r}_${t}`,
        },
        ...(paired
          ? [{
            row: `rw${r} + N`,
            scale: scaled ? `block_scale(rw${r} + N, ${unit})` : undefined,
            acc: (t: number) => `b${r}_${t}`,
          }]
          : []),
      ]),
    });
  const main = full === 0 ? "" : `  for (var base = 0u; base < ${full}u; base += ${step}u) {
${js.map((j) => `    let u${j} = base + ${j * tpr}u + t;`).join("\n")}
${js.map((j) => accumulate(`u${j}`, "    ")).join("\n")}
  }`;
  const tail = full === chunks ? "" : `  for (var u = ${full}u + t; u < CHUNKS; u += ${tpr}u) {
${accumulate("u", "    ")}
  }`;
  // Tokens reduced together (TB): sum a of token tt of group grp lives at
  // red[(grp · ACC · TB + tt · ACC + a) · TPR + t], gate sums first, then up sums. Each sum goes
  // through the same tree, in the same order, as in a one-token kernel.
  const tb = tokensPerReduction(tokens, acc * wg * 4, GEMV_WIDE_WORKGROUP_BYTES);
  const slots = acc * tb;
  const order = (t: number) =>
    paired
      ? [...rs.map((r) => `a${r}_${t}`), ...rs.map((r) => `b${r}_${t}`)]
      : rs.map((r) => `a${r}_${t}`);
  const stages: string[] = [];
  for (let s = tpr / 2; s >= 1; s /= 2) {
    const pairs = groups * slots * s;
    const shift = Math.log2(s);
    const add = `let o = (i >> ${shift}u) * ${tpr}u + (i & ${s - 1}u); red[o] += red[o + ${s}u];`;
    stages.push(
      "  workgroupBarrier();",
      pairs <= wg
        ? `  if (lid < ${pairs}u) { let i = lid; ${add} }`
        : `  for (var i = lid; i < ${pairs}u; i += WG) { ${add} }`,
    );
  }
  const value = paired
    ? `let g = red[at];
      let u = red[at + ${rows * tpr}u];
      store(m, row, g / (1.0 + exp(-g)) * u);`
    : `store(m, row, red[at]);`;
  const reduce = (t0: number) =>
    `${t0 > 0 ? "  workgroupBarrier();\n" : ""}${
      Array.from({ length: tb }, (_, tt) => order(t0 + tt)).flat()
        .map((a, i) => `  red[(grp * ${slots}u + ${i}u) * TPR + t] = ${a};`).join("\n")
    }
${stages.join("\n")}
  workgroupBarrier();
  for (var o = lid; o < GROUPS * ROWS * ${tb}u; o += WG) {
    let gr = o / ${rows * tb}u;
    let tt = (o / ROWS) % ${tb}u;
    let r = o % ROWS;
    let row = first + gr * ROWS + r;
    let m = m0 + ${t0}u + tt;
    if (row < N && m < params.m) {
      let at = (gr * ${slots}u + tt * ACC + r) * TPR;
      ${value}
    }
  }`;
  const sums = rs.flatMap((r) =>
    ts.flatMap((t) => (paired ? [`a${r}_${t}`, `b${r}_${t}`] : [`a${r}_${t}`]))
  );
  return `const TPR: u32 = ${tpr}u;
const GROUPS: u32 = ${groups}u;
var<workgroup> red: array<f32, ${acc * tb * wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.z * TOKENS;
  let first = (wid.x + wid.y * nwg.x) * GROUPS * ROWS;
  let grp = lid / TPR;
  let t = lid % TPR;
  let row0 = first + grp * ROWS;
${tokenIndices(tokens)}
${rs.map((r) => `  let rw${r} = min(row0 + ${r}u, N - 1u);`).join("\n")}
${sums.map((a) => `  var ${a} = 0.0;`).join("\n")}
${main}
${tail}
${ts.filter((t) => t % tb === 0).map(reduce).join("\n")}
}
`;
}
