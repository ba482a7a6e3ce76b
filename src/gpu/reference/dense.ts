/**
 * CPU reference implementations (plain TypedArray loops, f64 accumulation) of the dense ops:
 * matmul, RMSNorm, SiLU-gated product, residual add, softmax, embedding gather. They define
 * the semantics every GPU kernel is tested against and back the `cpu` backend.
 *
 * @example
 * ```ts
 * import { matmulRef } from "./dense.ts";
 * const y = matmulRef(new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), { m: 1, n: 2, k: 2 });
 * console.assert(y[0] === 11 && y[1] === 17);
 * ```
 *
 * @module
 */

/** `y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n])` with `w` row-major `[N, K]`. */
export function matmulRef(
  x: Float32Array,
  w: Float32Array,
  shape: { m: number; n: number; k: number },
  bias?: Float32Array,
): Float32Array {
  const { m, n, k } = shape;
  const y = new Float32Array(m * n);
  // Weight row outermost: each row of `w` is read once from memory for all m rows of `x`
  // (batched decode and prefill reuse it from cache). Every output keeps its summation order.
  for (let j = 0; j < n; j++) {
    const b = bias ? bias[j] : 0, wj = j * k;
    for (let i = 0; i < m; i++) {
      let s = 0;
      const xi = i * k;
      for (let p = 0; p < k; p++) s += x[xi + p] * w[wj + p];
      y[i * n + j] = s + b;
    }
  }
  return y;
}

/** `silu(x) = x / (1 + e^{-x})`. */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** RMSNorm of each `dim`-long row: `x / sqrt(mean(x²) + eps) · weight`. */
export function rmsnormRef(
  x: Float32Array,
  weight: Float32Array,
  dim: number,
  eps: number,
): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * inv * weight[i];
  }
  return y;
}

/** `out = silu(gate) · up`, element-wise. */
export function siluMulRef(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => silu(g) * up[i]);
}

/** `out = a + b`, element-wise. */
export function addRef(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]);
}

/** Numerically stable softmax of each `cols`-long row. */
export function softmaxRef(x: Float32Array, cols: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = -Infinity;
    for (let i = 0; i < cols; i++) m = Math.max(m, x[r * cols + i]);
    let s = 0;
    for (let i = 0; i < cols; i++) s += Math.exp(x[r * cols + i] - m);
    for (let i = 0; i < cols; i++) y[r * cols + i] = Math.exp(x[r * cols + i] - m) / s;
  }
  return y;
}

/** `out[t, :] = table[ids[t], :]` from an f32 table of `dim`-long rows. */
export function embeddingRef(table: Float32Array, ids: Uint32Array, dim: number): Float32Array {
  const out = new Float32Array(ids.length * dim);
  ids.forEach((id, t) => out.set(table.subarray(id * dim, (id + 1) * dim), t * dim));
  return out;
}
