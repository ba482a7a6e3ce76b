/**
 * The `lane` GEMV strategy, for SIMD-on-CPU devices such as llvmpipe (a workgroup is a loop over
 * SIMD lanes on one core, a barrier a coroutine switch): each invocation owns `ROWS` output rows
 * and walks all of K with private accumulators, no workgroup memory and no barrier. Rows and
 * tokens are unrolled into separate scalar accumulators (a dynamically indexed private array
 * becomes per-lane scratch memory on such drivers). Each chunk loads every row's block scales
 * once; each of its `G` sub-chunks is decoded once per row and dotted with each of the pass's
 * `TOKENS` x slices, each x slice loaded once for all rows (`gemv_tokens.ts`).
 *
 * The body expects the header of `gemv.ts` (constants `N`, `WG`, `ROWS`, `TOKENS`, the `params`
 * uniform, `store(m, row, value)`) and the unit code of `gemv_chunk.ts`.
 *
 * @example
 * ```ts
 * import { gemvLaneBody } from "./gemv_lane.ts";
 * const body = gemvLaneBody({ wg: 16, rows: 2, tokens: 4, paired: false, g: 1, scaled: true });
 * console.assert(body.includes("a1_3"));
 * ```
 *
 * @module
 */
import { gemvScaleExpr } from "./gemv_chunk.ts";
import { type GemvBodyShape, tokenAccumulate, tokenIndices, type TokenRow } from "./gemv_tokens.ts";

/** WGSL entry point of the `lane` strategy (see the module comment). */
export function gemvLaneBody(o: GemvBodyShape): string {
  const { wg, rows, tokens, paired, g, scaled } = o;
  const rs = Array.from({ length: rows }, (_, r) => r);
  const ts = Array.from({ length: tokens }, (_, t) => t);
  const accs = rs.flatMap((r) =>
    ts.flatMap((t) => (paired ? [`a${r}_${t}`, `b${r}_${t}`] : [`a${r}_${t}`]))
  );
  const scales = scaled
    ? rs.map((r) =>
      `    let sa${r} = load_scales(rw${r}, c);` +
      (paired ? `\n    let sb${r} = load_scales(rw${r} + N, c);` : "")
    )
    : [];
  const subs = Array.from({ length: g }, (_, j) => {
    const rowsOf = (r: number): TokenRow[] => [
      {
        row: `rw${r}`,
        scale: scaled ? gemvScaleExpr(`sa${r}`, g, j) : undefined,
        acc: (t) => `a${r}_${t}`,
      },
      ...(paired
        ? [{
          row: `rw${r} + N`,
          scale: scaled ? gemvScaleExpr(`sb${r}`, g, j) : undefined,
          acc: (t: number) => `b${r}_${t}`,
        }]
        : []),
    ];
    return tokenAccumulate({
      sub: g === 1 ? "c" : `c * G + ${j}u`,
      tokens,
      rows: rs.flatMap(rowsOf),
    });
  });
  const stores = ts.flatMap((t) =>
    rs.map((r) => {
      const value = paired
        ? `let g = a${r}_${t};
    let u = b${r}_${t};
    store(m0 + ${t}u, row0 + ${r}u, g / (1.0 + exp(-g)) * u);`
        : `store(m0 + ${t}u, row0 + ${r}u, a${r}_${t});`;
      return `  if (row0 + ${r}u < N && m0 + ${t}u < params.m) {
    ${value}
  }`;
    })
  );
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.z * TOKENS;
  let row0 = ((wid.x + wid.y * nwg.x) * WG + lid) * ROWS;
${tokenIndices(tokens)}
${rs.map((r) => `  let rw${r} = min(row0 + ${r}u, N - 1u);`).join("\n")}
${accs.map((a) => `  var ${a} = 0.0;`).join("\n")}
  for (var c = 0u; c < CHUNKS; c++) {
${[...scales, ...subs].join("\n")}
  }
${stores.join("\n")}
}
`;
}
