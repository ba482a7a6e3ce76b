/**
 * The pure-data description of a generated compute kernel, and WGSL snippets shared by the
 * kernel templates. Generation never touches a device, so it is testable anywhere.
 *
 * @example
 * ```ts
 * import { defineKernel } from "./kernel_source.ts";
 * const k = defineKernel("noop", { wg: [64, 1, 1] }, "@compute @workgroup_size(64) fn main() {}");
 * console.assert(k.code.includes("workgroup_size(64)"));
 * ```
 *
 * @module
 */
import { fnv1aHex, stableStringify } from "../device/content_hash.ts";

/** Storage dtypes a weight or table binding can have. */
export type WeightDType = "f32" | "f16" | "q8_0" | "q4_0";

/** A generated kernel: WGSL plus what is needed to create and dispatch its pipeline. */
export interface KernelSource {
  /** Kernel family and its specialisation, e.g. `gemv.q4_0.n4096.k4096`. */
  readonly name: string;
  /** WGSL source. */
  readonly code: string;
  /** Entry point, always `main`. */
  readonly entryPoint: "main";
  /** Workgroup size the code was generated for. */
  readonly workgroupSize: readonly [number, number, number];
  /** Hash of `code`, used to de-duplicate pipelines. */
  readonly hash: string;
  /** The template parameters, for logs and the cache. */
  readonly params: Readonly<Record<string, string | number | boolean>>;
}

let generated = 0;

/**
 * How many kernels {@link defineKernel} generated in this process (every generator ends in
 * it): a dispatch path that regenerates WGSL shows up as a rising count.
 */
export function kernelSourcesGenerated(): number {
  return generated;
}

/** Builds a {@link KernelSource}. */
export function defineKernel(
  name: string,
  params: Readonly<Record<string, string | number | boolean | readonly number[]>>,
  code: string,
): KernelSource {
  generated++;
  const { wg: wgParam, ...rest } = params;
  const wg = wgParam as readonly number[];
  return {
    name,
    code,
    entryPoint: "main",
    workgroupSize: [wg[0], wg[1] ?? 1, wg[2] ?? 1],
    hash: fnv1aHex(code),
    params: { ...(rest as Record<string, string | number | boolean>), wg: wg.join("x") },
  };
}

/**
 * Wraps a kernel generator so that equal options give the same {@link KernelSource} object,
 * generated (and hashed) once: dispatch paths call it per op without regenerating WGSL.
 * Options MUST be JSON-serialisable (their key-order-independent JSON is the cache key). Distinct options are kept for
 * the process's life; generators take model dimensions, not per-step values, so they are few.
 */
export function memoizeKernel<A extends unknown[]>(
  generate: (...args: A) => KernelSource,
): (...args: A) => KernelSource {
  const cache = new Map<string, KernelSource>();
  return (...args) => {
    const key = stableStringify(args);
    let kernel = cache.get(key);
    if (!kernel) {
      kernel = generate(...args);
      cache.set(key, kernel);
    }
    return kernel;
  };
}

/** Asserts that `n` is a positive integer, naming `what` in the error. */
export function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`Cannot generate kernel: ${what} = ${n} is not a positive integer`);
  }
  return n;
}

/** Asserts that `n` is a power of two. */
export function powerOfTwo(n: number, what: string): number {
  if (positiveInt(n, what) & (n - 1)) {
    throw new RangeError(`Cannot generate kernel: ${what} = ${n} is not a power of two`);
  }
  return n;
}

/**
 * Declares the weight bindings for `dtype` (`w`, plus `ws` scales for quantised blocks) and a
 * `load_w(i)` that returns element `i` (flat, row-major) as f32. f16 is stored as u32 pairs and
 * unpacked with `unpack2x16float`, so no `shader-f16` feature is needed.
 */
export function weightBindings(dtype: WeightDType, binding: number, scaleBinding: number): string {
  switch (dtype) {
    case "f32":
      return `@group(0) @binding(${binding}) var<storage, read> w: array<f32>;
fn load_w(i: u32) -> f32 { return w[i]; }`;
    case "f16":
      return `@group(0) @binding(${binding}) var<storage, read> w: array<u32>;
fn load_w(i: u32) -> f32 { return unpack2x16float(w[i >> 1u])[i & 1u]; }`;
    case "q8_0":
      return `@group(0) @binding(${binding}) var<storage, read> w: array<u32>;
@group(0) @binding(${scaleBinding}) var<storage, read> ws: array<u32>;
fn block_scale(b: u32) -> f32 { return unpack2x16float(ws[b >> 1u])[b & 1u]; }
fn load_w(i: u32) -> f32 {
  let b = i >> 5u;
  let e = i & 31u;
  let word = bitcast<i32>(w[b * 8u + (e >> 2u)]);
  return f32(extractBits(word, (e & 3u) * 8u, 8u)) * block_scale(b);
}`;
    case "q4_0":
      return `@group(0) @binding(${binding}) var<storage, read> w: array<u32>;
@group(0) @binding(${scaleBinding}) var<storage, read> ws: array<u32>;
fn block_scale(b: u32) -> f32 { return unpack2x16float(ws[b >> 1u])[b & 1u]; }
fn load_w(i: u32) -> f32 {
  let b = i >> 5u;
  let e = i & 31u;
  let byte_index = e & 15u;
  let word = w[b * 4u + (byte_index >> 2u)];
  let shift = (byte_index & 3u) * 8u + select(0u, 4u, e >= 16u);
  return (f32((word >> shift) & 15u) - 8.0) * block_scale(b);
}`;
  }
}

/** `true` for dtypes stored as blocks with a separate scale binding. */
export function isQuantized(dtype: WeightDType): boolean {
  return dtype === "q8_0" || dtype === "q4_0";
}

/**
 * WGSL for a tree reduction of `red[0..wg)` in workgroup memory (`op` is `+` or `max`), leaving
 * the result in `red[0]`. Expects `lid` to be the local invocation index; call in uniform flow.
 */
export function treeReduce(wg: number, op: "sum" | "max", array = "red", lid = "lid"): string {
  const combine = op === "sum"
    ? `${array}[${lid}] + ${array}[${lid} + s]`
    : `max(${array}[${lid}], ${array}[${lid} + s])`;
  return `workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (${lid} < s) { ${array}[${lid}] = ${combine}; }
    workgroupBarrier();
  }`;
}

/** Splits a 1-D count of workgroups over x and y so neither exceeds `maxPerDimension`. */
export function grid2d(count: number, maxPerDimension = 65535): [number, number] {
  if (count <= maxPerDimension) return [Math.max(count, 1), 1];
  const y = Math.ceil(count / maxPerDimension);
  return [Math.ceil(count / y), y];
}
