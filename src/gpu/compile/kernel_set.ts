/**
 * The one identity a kernel has from warm-up to dispatch: (operation, shape bucket). The
 * operation is the {@link KernelPiece} name — what the kernel computes and on which shapes
 * (e.g. `gemv.q8_0.n4096.k4096.store`, `rmsnorm.d4096`), never a position in a list — and the
 * bucket is the token count of the step it serves. The compile cache stores its entries under
 * this key, the autotuner's choice is recorded under it, and a {@link CompiledKernelSet} (what
 * a warm-up returns) hands the compiled, tuned kernel to dispatch under it, so a backend looks
 * a kernel up instead of regenerating its WGSL.
 *
 * @example
 * ```ts ignore
 * const set = await cache.warmUp(llamaKernelSet(config, { buckets: [1, 8], backend: "webgpu" }));
 * const qkv = set.get("gemv.q8_0.n192.k64.split3.bias", 1); // source, tuning, pipeline
 * ```
 *
 * @module
 */
import type { TuningConfig } from "./kernel_piece.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";

/** Where a compiled kernel is kept: (operation, shape bucket) on one backend. */
export interface CompileCacheKey {
  /** Token-count bucket. */
  readonly bucket: number;
  /** The operation: the piece's name (see {@link kernelKey}). */
  readonly op: string;
  /** Backend name. */
  readonly backend: string;
}

/** A compiled piece. */
export interface CompiledPiece {
  /** The key it was compiled under. */
  readonly key: CompileCacheKey;
  /** The WGSL it was compiled from. */
  readonly source: KernelSource;
  /** Chosen tuning parameters. */
  readonly tuning: TuningConfig;
  /** The pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** `true` when source and tuning came from the persistent cache. */
  readonly fromCache: boolean;
}

/**
 * What a dispatch runs: a compiled kernel carrying its own pipeline (a {@link CompiledPiece}
 * of a set), encoded as is, or a bare source whose pipeline the runtime looks up by WGSL hash.
 */
export type QueuedKernel =
  | KernelSource
  | { readonly source: KernelSource; readonly pipeline: GPUComputePipeline };

/** The string form of a key: `<bucket>:<op>:<backend>` (the compile cache's entry name). */
export function kernelKey(key: CompileCacheKey): string {
  return `${key.bucket}:${key.op}:${key.backend}`;
}

/**
 * Throws a `RangeError` naming both kernels when two different WGSL sources claim one
 * (operation, bucket) key: the second would otherwise be dispatched as the first.
 */
export function assertSameKernel(
  key: CompileCacheKey,
  a: KernelSource,
  b: KernelSource,
): void {
  if (a === b || a.hash === b.hash) return;
  throw new RangeError(
    `Kernel name collision at ${kernelKey(key)}: ${describe(a)} and ${describe(b)} ` +
      "are different kernels under one (operation, bucket); give them distinct names",
  );
}

function describe(s: KernelSource): string {
  return `${s.name} (wgsl ${s.hash}, params ${JSON.stringify(s.params)})`;
}

/**
 * The compiled, tuned kernels of a warm-up, by (operation, bucket). All pieces MUST share one
 * backend; two pieces MUST NOT share a key (a `RangeError` names them). Each entry holds its
 * own pipeline: dispatch uses it as is, with no lookup by WGSL hash.
 */
export class CompiledKernelSet {
  /** The pieces in warm-up order. */
  readonly pieces: readonly CompiledPiece[];
  #byKey = new Map<string, CompiledPiece>();
  /** Untuned (fixed) kernels by operation alone; see {@link fixed}. */
  #fixed = new Map<string, CompiledPiece>();

  /** Indexes `pieces` by key. */
  constructor(pieces: readonly CompiledPiece[]) {
    this.pieces = [...pieces];
    const backends = new Set(pieces.map((p) => p.key.backend));
    if (backends.size > 1) {
      throw new RangeError(`Cannot build a kernel set over backends ${[...backends].join(", ")}`);
    }
    for (const piece of pieces) {
      const k = kernelKey(piece.key);
      const other = this.#byKey.get(k);
      if (other) {
        assertSameKernel(piece.key, other.source, piece.source);
        throw new RangeError(`Cannot build a kernel set: ${k} twice`);
      }
      this.#byKey.set(k, piece);
      if (Object.keys(piece.tuning).length === 0) {
        const seen = this.#fixed.get(piece.key.op);
        if (seen) assertSameKernel(piece.key, seen.source, piece.source);
        else this.#fixed.set(piece.key.op, piece);
      }
    }
  }

  /** Number of kernels. */
  get size(): number {
    return this.pieces.length;
  }

  /** The kernel of `op` compiled for `bucket`, or `undefined` when the warm-up had none. */
  get(op: string, bucket: number): CompiledPiece | undefined {
    const backend = this.pieces[0]?.key.backend;
    return backend === undefined ? undefined : this.#byKey.get(kernelKey({ bucket, op, backend }));
  }

  /**
   * The untuned kernel of `op` for `bucket`: the entry for (op, bucket), else the op's entry
   * of another bucket — an untuned kernel's WGSL MUST NOT depend on the bucket (the token count
   * is a uniform; the constructor rejects an op whose untuned buckets differ), so a token count
   * the warm-up did not cover runs the same compiled kernel. `undefined` when the warm-up had
   * no such operation.
   */
  fixed(op: string, bucket: number): CompiledPiece | undefined {
    return this.get(op, bucket) ?? this.#fixed.get(op);
  }
}
