/**
 * The kernel compile cache, modelled on vLLM's `CompilerManager`.
 *
 * Artefacts are keyed by (token-count bucket, operation, backend name) — the kernel's one
 * identity, see `kernel_set.ts` — and stamped with the device fingerprint. WebGPU pipelines cannot be serialised, so an artefact is the generated
 * WGSL (content-hashed) plus the autotuned parameters; a warm start re-creates pipelines from
 * it without generating or tuning again. The cache lives in `<root>/<hash of factors>/`
 * (`kernel_cache.json` with a checksum, and `cache_key_factors.json` for debugging). The cache
 * is advisory: any unreadable, corrupt, stale or mismatched file or entry is recorded in
 * `invalidations` and the piece is compiled afresh — never a crash.
 *
 * @example
 * ```ts ignore
 * const cache = await KernelCompileCache.open(runtime, { storage, root, factors });
 * const set = await cache.warmUp(items, { onProgress: (p) => console.log(p.done, p.total) });
 * await cache.save();
 * console.log(cache.counters);
 * ```
 *
 * @module
 */
import { fnv1aHex, sha256Hex, stableStringify } from "../device/content_hash.ts";
import {
  type CacheKeyFactors,
  hashCacheKeyFactors,
  KERNEL_CACHE_FORMAT,
} from "./cache_key_factors.ts";
import { joinPath, type KernelCacheStorage } from "./kernel_cache_storage.ts";
import type { KernelRuntime } from "./kernel_runtime.ts";
import type { KernelPiece, TuningConfig } from "./kernel_piece.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";
import { autotune, type AutotuneOptions } from "./autotuner.ts";
import { GpuError } from "../device/gpu_error.ts";
import {
  assertSameKernel,
  type CompileCacheKey,
  CompiledKernelSet,
  type CompiledPiece,
  kernelKey,
} from "./kernel_set.ts";

export type { CompileCacheKey, CompiledPiece } from "./kernel_set.ts";

/** Options of {@link KernelCompileCache.open}. */
export interface CompileCacheOptions {
  /** Where files go. */
  readonly storage: KernelCacheStorage;
  /** Cache root; the directory is `<root>/<factors hash prefix>`. */
  readonly root: string;
  /** Factors the directory is named by. */
  readonly factors: CacheKeyFactors;
  /** Skip all reads and writes (the opt-out); tuning still happens in memory. */
  readonly disabled?: boolean;
  /** Autotune cache misses (default true); false takes each piece's first candidate. */
  readonly tune?: boolean;
  /** Options for the autotuner. */
  readonly autotune?: AutotuneOptions;
}

/** Counters, as vLLM reports them. */
export interface CompileCounters {
  /** Pieces requested. */
  piecesSeen: number;
  /** Pieces generated (and tuned) afresh. */
  compiles: number;
  /** Pieces served from the persistent cache. */
  cacheHits: number;
  /** Pieces whose candidates were timed by the autotuner. */
  tunings: number;
  /** Wall seconds spent resolving and compiling pieces. */
  compileSeconds: number;
}

/** Progress of a warm-up. */
export interface WarmUpProgress {
  /** Pieces finished. */
  readonly done: number;
  /** Pieces in this warm-up. */
  readonly total: number;
  /** Name of the piece just finished. */
  readonly name: string;
}

interface CacheEntry {
  name: string;
  code: string;
  codeHash: string;
  workgroupSize: [number, number, number];
  params: Record<string, string | number | boolean>;
  tuning: TuningConfig;
}

interface CacheFile {
  format: number;
  fingerprint: string;
  entries: Record<string, CacheEntry>;
  checksum: string;
}

/** Name of the persisted cache file inside the cache directory. */
export const CACHE_FILE = "kernel_cache.json";
/** Name of the factors file written beside it. */
export const FACTORS_FILE = "cache_key_factors.json";

/** The compile cache of one device and model. */
export class KernelCompileCache {
  /** The cache directory, or `undefined` when disabled. */
  readonly directory: string | undefined;
  /** Counters of this process. */
  readonly counters: CompileCounters = {
    piecesSeen: 0,
    compiles: 0,
    cacheHits: 0,
    tunings: 0,
    compileSeconds: 0,
  };
  /** Why entries or files were discarded (for logs and tests). */
  readonly invalidations: string[] = [];
  #runtime: KernelRuntime;
  #options: CompileCacheOptions;
  #entries = new Map<string, CacheEntry>();
  #updated = false;
  #hooks: ((counters: CompileCounters) => void)[] = [];

  private constructor(
    runtime: KernelRuntime,
    options: CompileCacheOptions,
    directory: string | undefined,
  ) {
    this.#runtime = runtime;
    this.#options = options;
    this.directory = directory;
  }

  /** Opens the cache for `options.factors` and loads its file, if any. */
  static async open(
    runtime: KernelRuntime,
    options: CompileCacheOptions,
  ): Promise<KernelCompileCache> {
    const directory = options.disabled
      ? undefined
      : joinPath(options.root, (await hashCacheKeyFactors(options.factors)).slice(0, 24));
    const cache = new KernelCompileCache(runtime, options, directory);
    await cache.load();
    return cache;
  }

  /** Registers a hook called with the counters whenever a warm-up completes. */
  onWarmUpComplete(hook: (counters: CompileCounters) => void): void {
    this.#hooks.push(hook);
  }

  /** (Re)loads the cache file; a bad file is recorded in `invalidations` and ignored. */
  async load(): Promise<void> {
    this.#entries.clear();
    if (!this.directory) return;
    const path = joinPath(this.directory, CACHE_FILE);
    let text: string | undefined;
    try {
      text = await this.#options.storage.readText(path);
    } catch (error) {
      this.invalidations.push(`unreadable ${path}: ${(error as Error).message}`);
      return;
    }
    if (text === undefined) return;
    let file: CacheFile;
    try {
      file = JSON.parse(text);
    } catch {
      this.invalidations.push(`corrupt ${path}: not JSON`);
      return;
    }
    if (
      file?.format !== KERNEL_CACHE_FORMAT || typeof file.entries !== "object" ||
      file.entries === null
    ) {
      this.invalidations.push(`stale ${path}: format ${file?.format} != ${KERNEL_CACHE_FORMAT}`);
      return;
    }
    if (file.checksum !== await checksum(file)) {
      this.invalidations.push(`corrupt ${path}: checksum mismatch`);
      return;
    }
    if (file.fingerprint !== this.#runtime.context.fingerprint) {
      this.invalidations.push(`mismatched ${path}: device fingerprint differs`);
      return;
    }
    for (const [key, entry] of Object.entries(file.entries)) this.#entries.set(key, entry);
  }

  /** Writes the cache file and the factors file if anything changed since the last load/save. */
  async save(): Promise<void> {
    if (!this.directory || !this.#updated) return;
    const body = {
      format: KERNEL_CACHE_FORMAT,
      fingerprint: this.#runtime.context.fingerprint,
      entries: Object.fromEntries(this.#entries),
    };
    const file: CacheFile = { ...body, checksum: await checksum({ ...body, checksum: "" }) };
    await this.#options.storage.writeText(
      joinPath(this.directory, FACTORS_FILE),
      JSON.stringify(this.#options.factors, null, 2),
    );
    await this.#options.storage.writeText(
      joinPath(this.directory, CACHE_FILE),
      JSON.stringify(file),
    );
    this.#updated = false;
  }

  /** Resolves and compiles one piece: from the cache when a valid entry exists, else generated (and tuned). */
  async compile(key: CompileCacheKey, piece: KernelPiece): Promise<CompiledPiece> {
    const resolved = await this.#resolve(key, piece);
    return await this.#finish(key, piece, resolved);
  }

  /**
   * Compiles many pieces: cache misses are generated and tuned one at a time (timings must not
   * overlap), then every pipeline is created with `createComputePipelineAsync` in parallel
   * (`concurrency` at a time). Calls `onProgress` per finished piece and the warm-up hooks at
   * the end. Returns the compiled, tuned set by (operation, bucket). Items MUST share one
   * backend; items sharing a key MUST be the same kernel (kept once) — two different kernels
   * under one (operation, bucket) are a name collision: a `RangeError` naming both, before
   * anything is compiled.
   */
  async warmUp(
    items: readonly { key: CompileCacheKey; piece: KernelPiece }[],
    options: {
      concurrency?: number;
      onProgress?: (p: WarmUpProgress) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<CompiledKernelSet> {
    const backends = new Set(items.map((i) => i.key.backend));
    if (backends.size > 1) {
      throw new RangeError(`Cannot warm up one kernel set over backends ${[...backends]}`);
    }
    items = distinctItems(items);
    const resolved: Resolved[] = [];
    for (const item of items) {
      options.signal?.throwIfAborted();
      resolved.push(await this.#resolve(item.key, item.piece));
    }
    const results = new Array<CompiledPiece>(items.length);
    let next = 0, done = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        options.signal?.throwIfAborted();
        results[i] = await this.#finish(items[i].key, items[i].piece, resolved[i]);
        options.onProgress?.({ done: ++done, total: items.length, name: items[i].piece.name });
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency ?? 8, items.length) }, worker),
    );
    for (const hook of this.#hooks) hook({ ...this.counters });
    return new CompiledKernelSet(results);
  }

  async #resolve(key: CompileCacheKey, piece: KernelPiece): Promise<Resolved> {
    const start = performance.now();
    this.counters.piecesSeen++;
    try {
      const entry = this.#validEntry(key, piece);
      if (entry) return { source: entryToSource(entry), tuning: entry.tuning, fromCache: true };
      return await this.#generate(key, piece);
    } finally {
      this.counters.compileSeconds += (performance.now() - start) / 1000;
    }
  }

  async #generate(key: CompileCacheKey, piece: KernelPiece): Promise<Resolved> {
    let tuning = piece.candidates[0];
    if (this.#options.tune !== false && piece.benchmark && piece.candidates.length > 1) {
      tuning = (await autotune(this.#runtime, piece, this.#options.autotune)).tuning;
      this.counters.tunings++;
    }
    const source = piece.generate(tuning);
    this.#entries.set(kernelKey(key), {
      name: piece.name,
      code: source.code,
      codeHash: source.hash,
      workgroupSize: [...source.workgroupSize],
      params: { ...source.params },
      tuning,
    });
    this.#updated = true;
    return { source, tuning, fromCache: false };
  }

  async #finish(
    key: CompileCacheKey,
    piece: KernelPiece,
    resolved: Resolved,
  ): Promise<CompiledPiece> {
    const start = performance.now();
    try {
      const pipeline = await this.#runtime.pipeline(resolved.source);
      if (resolved.fromCache) this.counters.cacheHits++;
      else this.counters.compiles++;
      return { key, ...resolved, pipeline };
    } catch (error) {
      if (!resolved.fromCache || !(error instanceof GpuError && error.kind === "compile")) {
        throw error;
      }
      this.invalidations.push(`entry ${kernelKey(key)} failed to compile: ${error.message}`);
      this.#entries.delete(kernelKey(key));
      const fresh = await this.#generate(key, piece);
      this.counters.compiles++;
      return { key, ...fresh, pipeline: await this.#runtime.pipeline(fresh.source) };
    } finally {
      this.counters.compileSeconds += (performance.now() - start) / 1000;
    }
  }

  #validEntry(key: CompileCacheKey, piece: KernelPiece): CacheEntry | undefined {
    const k = kernelKey(key);
    const entry = this.#entries.get(k);
    if (!entry) return undefined;
    const problem = entry.name !== piece.name
      ? `stale: holds ${entry.name}, expected ${piece.name}`
      : typeof entry.code !== "string" || fnv1aHex(entry.code) !== entry.codeHash
      ? "corrupt: code hash mismatch"
      : !acceptsTuning(piece, entry.tuning)
      ? "stale: tuning is not a current candidate"
      : undefined;
    if (!problem) return entry;
    this.invalidations.push(`entry ${k} ${problem}`);
    this.#entries.delete(k);
    return undefined;
  }
}

/**
 * `items` with repeated keys kept once; throws (see {@link assertSameKernel}) when a repeated
 * key's pieces generate different WGSL for their default candidate.
 */
function distinctItems(
  items: readonly { key: CompileCacheKey; piece: KernelPiece }[],
): { key: CompileCacheKey; piece: KernelPiece }[] {
  const byKey = new Map<string, { key: CompileCacheKey; piece: KernelPiece }>();
  for (const item of items) {
    const k = kernelKey(item.key);
    const first = byKey.get(k);
    if (!first) {
      byKey.set(k, item);
      continue;
    }
    if (first.piece === item.piece) continue;
    const a = first.piece.generate(first.piece.candidates[0]);
    const b = item.piece.generate(item.piece.candidates[0]);
    assertSameKernel(item.key, a, b);
  }
  return [...byKey.values()];
}

/** Whether `tuning` is one of `piece`'s candidates or a refinement of one. */
function acceptsTuning(piece: KernelPiece, tuning: TuningConfig): boolean {
  const want = stableStringify(tuning);
  return piece.candidates.some((c) =>
    stableStringify(c) === want ||
    (piece.refine?.(c) ?? []).some((r) => stableStringify(r) === want)
  );
}

interface Resolved {
  source: KernelSource;
  tuning: TuningConfig;
  fromCache: boolean;
}

function entryToSource(entry: CacheEntry): KernelSource {
  return {
    name: entry.name,
    code: entry.code,
    entryPoint: "main",
    workgroupSize: entry.workgroupSize,
    hash: entry.codeHash,
    params: entry.params,
  };
}

function checksum(file: Omit<CacheFile, "checksum"> & { checksum?: string }): Promise<string> {
  return sha256Hex(
    stableStringify({ format: file.format, fingerprint: file.fingerprint, entries: file.entries }),
  );
}
