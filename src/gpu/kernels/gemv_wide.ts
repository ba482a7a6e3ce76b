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
 * The body expects the header of `gemv.ts` (constants `N`, `K`, `WG`, `ROWS`, `ACC`, the
 * `params` uniform, `store(m, row, value)`) and the unit code (`CHUNKS`, `XC`,
 * `load_x(u, m)`, `dot_unit(row, u, xc)`).
 *
 * @example
 * ```ts
 * import { gemvWideBody } from "./gemv_wide.ts";
 * const body = gemvWideBody({ wg: 128, tpr: 32, rows: 2, unroll: 2, chunks: 256, paired: false });
 * console.assert(body.includes("workgroupBarrier"));
 * ```
 *
 * @module
 */

/** Shape of a `wide` kernel body. */
export interface GemvWideShape {
  /** Invocations per workgroup (a power of two). */
  readonly wg: number;
  /** Invocations per row group (a power of two dividing `wg`). */
  readonly tpr: number;
  /** Output rows per row group. */
  readonly rows: number;
  /** 16-byte units per invocation per loop step. */
  readonly unroll: number;
  /** Units per row (`CHUNKS`). */
  readonly chunks: number;
  /** Fused gate+up: each row also reads row `N + row` and stores `silu(gate) · up`. */
  readonly paired: boolean;
}

/** Bytes of workgroup memory a `wide` kernel may use (WebGPU's default limit). */
export const GEMV_WIDE_WORKGROUP_BYTES = 16384;

/** WGSL entry point of the `wide` strategy (see the module comment). */
export function gemvWideBody(o: GemvWideShape): string {
  const { wg, tpr, rows, unroll, chunks, paired } = o;
  const groups = wg / tpr;
  const acc = paired ? 2 * rows : rows;
  if (acc * wg * 4 > GEMV_WIDE_WORKGROUP_BYTES) {
    throw new RangeError(
      `Cannot generate gemv: ${acc} sums × ${wg} invocations exceed ${GEMV_WIDE_WORKGROUP_BYTES} bytes of workgroup memory`,
    );
  }
  const rs = Array.from({ length: rows }, (_, r) => r);
  const js = Array.from({ length: unroll }, (_, j) => j);
  const step = tpr * unroll;
  const full = chunks - (chunks % step);
  const accumulate = (units: readonly string[], xs: readonly string[]) =>
    rs.map((r) => {
      const terms = (row: string) => units.map((u, j) => `dot_unit(${row}, ${u}, ${xs[j]})`);
      return `    a${r} += ${terms(`rw${r}`).join(" + ")};` +
        (paired ? `\n    b${r} += ${terms(`rw${r} + N`).join(" + ")};` : "");
    }).join("\n");
  const main = full === 0 ? "" : `  for (var base = 0u; base < ${full}u; base += ${step}u) {
${js.map((j) => `    let u${j} = base + ${j * tpr}u + t;`).join("\n")}
${js.map((j) => `    let x${j} = load_x(u${j}, m);`).join("\n")}
${
    accumulate(
      js.map((j) => `u${j}`),
      js.map((j) => `x${j}`),
    )
  }
  }`;
  const tail = full === chunks ? "" : `  for (var u = ${full}u + t; u < CHUNKS; u += ${tpr}u) {
    let xu = load_x(u, m);
${accumulate(["u"], ["xu"])}
  }`;
  const sums = paired ? rs.flatMap((r) => [`a${r}`, `b${r}`]) : rs.map((r) => `a${r}`);
  // Sum a of group grp lives at red[(grp · ACC + a) · TPR + t]; gate sums first, then up sums.
  const order = paired ? [...rs.map((r) => `a${r}`), ...rs.map((r) => `b${r}`)] : sums;
  const stages: string[] = [];
  for (let s = tpr / 2; s >= 1; s /= 2) {
    const pairs = groups * acc * s;
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
    : "store(m, row, red[at]);";
  return `const TPR: u32 = ${tpr}u;
const GROUPS: u32 = ${groups}u;
var<workgroup> red: array<f32, ${acc * wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m = wid.z;
  let first = (wid.x + wid.y * nwg.x) * GROUPS * ROWS;
  let grp = lid / TPR;
  let t = lid % TPR;
  let row0 = first + grp * ROWS;
${rs.map((r) => `  let rw${r} = min(row0 + ${r}u, N - 1u);`).join("\n")}
${sums.map((a) => `  var ${a} = 0.0;`).join("\n")}
${main}
${tail}
${order.map((a, i) => `  red[(grp * ACC + ${i}u) * TPR + t] = ${a};`).join("\n")}
${stages.join("\n")}
  workgroupBarrier();
  for (var o = lid; o < GROUPS * ROWS; o += WG) {
    let row = first + o;
    if (row < N && m < params.m) {
      let at = ((o / ROWS) * ACC + o % ROWS) * TPR;
      ${value}
    }
  }
}
`;
}
