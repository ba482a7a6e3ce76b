/**
 * Token batching for the GEMV templates: one invocation loads (and dequantises) each weight
 * sub-chunk of its rows ONCE and accumulates it against `T` token rows of x (`tokens` per pass),
 * so a decode batch of m tokens reads and decodes the weights `ceil(m / T)` times instead of m
 * times. Workgroups cover tokens `T·z … T·z + T − 1` (grid z = `ceil(m / T)`); a last pass with
 * fewer than `T` tokens clamps its x loads to the last token and stores none past `m`.
 *
 * Determinism: a (row, token) sum MUST be the same bits whatever `T` and the batch size. Every
 * strategy therefore walks a row's sub-chunks in the same order for every token, with the same
 * dequantised values (decoded once, exact), the same `dot_wx` summation order, the same scale
 * product and the same cross-invocation reduction order as with `T = 1`; only which tokens
 * share a pass changes. Tests compare m = 1 against m = 8 bit for bit.
 *
 * The statements generated here expect the unit code of `gemv_chunk.ts` / `gemv_magic.ts`
 * (`load_w`, `load_x`, `dot_wx`) and the token indices `mt0 … mt{T−1}` ({@link tokenIndices}).
 *
 * @example
 * ```ts
 * import { gemvDefaultTokens, tokenAccumulate } from "./gemv_tokens.ts";
 * console.assert(gemvDefaultTokens(1) === 1 && gemvDefaultTokens(8) === 8);
 * const code = tokenAccumulate({ sub: "c", tokens: 2, rows: [{ row: "rw0", acc: (t) => `a0_${t}` }] });
 * console.assert(code.includes("load_x(c, mt1)"));
 * ```
 *
 * @module
 */

/** Largest tokens per pass a tuning offers (accumulators grow as rows × tokens). */
export const GEMV_MAX_TOKENS = 8;

/** The tokens-per-pass values a bucket of `m` rows can use: powers of two up to `m`'s. */
export function gemvTokenChoices(m: number): readonly number[] {
  const top = gemvDefaultTokens(m);
  return [1, 2, 4, 8].filter((t) => t <= top);
}

/**
 * The untuned tokens per pass for `m` rows: the smallest power of two ≥ m, at most
 * {@link GEMV_MAX_TOKENS} (1 for a single row, so m = 1 kernels are unchanged).
 */
export function gemvDefaultTokens(m: number): number {
  let t = 1;
  while (t < m && t < GEMV_MAX_TOKENS) t *= 2;
  return t;
}

/** Shape of a GEMV body shared by the strategies. */
export interface GemvBodyShape {
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Output rows per invocation (`lane`), workgroup (`workgroup`) or row group (`wide`). */
  readonly rows: number;
  /** Token rows per pass. */
  readonly tokens: number;
  /** Fused gate+up: each row also reads row `N + row` and stores `silu(gate) · up`. */
  readonly paired: boolean;
  /** Blocks per chunk (quantised, `load_scales`); 1 otherwise. */
  readonly g: number;
  /** Whether the weights have block scales. */
  readonly scaled: boolean;
}

/**
 * Tokens whose partial sums share one workgroup reduction: the largest divisor of `tokens`
 * whose sums (`bytesPerToken` each) fit in `limit` bytes (at least 1). Reducing several tokens
 * at once saves barriers; each sum still goes through the same tree in the same order.
 */
export function tokensPerReduction(tokens: number, bytesPerToken: number, limit: number): number {
  for (let tb = tokens; tb > 1; tb--) {
    if (tokens % tb === 0 && tb * bytesPerToken <= limit) return tb;
  }
  return 1;
}

/** WGSL `let` lines of the clamped token indices `mt0 …` of the pass starting at `m0`. */
export function tokenIndices(tokens: number): string {
  return Array.from(
    { length: tokens },
    (_, t) => `  let mt${t} = min(m0 + ${t}u, params.m - 1u);`,
  ).join("\n");
}

/** One weight row of an accumulation step. */
export interface TokenRow {
  /** WGSL row index expression. */
  readonly row: string;
  /** WGSL scale expression of the sub-chunk for this row (quantised), evaluated once. */
  readonly scale?: string;
  /** The accumulator (an l-value) of token `t` for this row. */
  readonly acc: (t: number) => string;
}

/**
 * WGSL block for one weight sub-chunk `sub`: decodes it once per row (`load_w`), then for each
 * token loads x once (`load_x(sub, mt<t>)`) and adds `dot_wx(w, x) · scale` to every row's
 * accumulator of that token.
 */
export function tokenAccumulate(o: {
  readonly sub: string;
  readonly tokens: number;
  readonly rows: readonly TokenRow[];
  readonly indent?: string;
}): string {
  const pad = o.indent ?? "    ";
  const lines = [`${pad}{`];
  o.rows.forEach((r, i) => {
    lines.push(`${pad}  let w${i} = load_w(${r.row}, ${o.sub});`);
    if (r.scale) lines.push(`${pad}  let s${i} = ${r.scale};`);
  });
  for (let t = 0; t < o.tokens; t++) {
    lines.push(`${pad}  let x${t} = load_x(${o.sub}, mt${t});`);
    o.rows.forEach((r, i) => {
      lines.push(`${pad}  ${r.acc(t)} += dot_wx(w${i}, x${t})${r.scale ? ` * s${i}` : ""};`);
    });
  }
  lines.push(`${pad}}`);
  return lines.join("\n");
}
