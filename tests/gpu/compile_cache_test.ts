/**
 * The kernel compile cache: cold build writes the cache, a warm start reuses it (hits, no
 * tuning), corrupt / stale / mismatched files and entries are detected and rebuilt, every
 * factor changes the directory, the opt-out writes nothing.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireTestDevice } from "./_device.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import {
  CACHE_FILE,
  FACTORS_FILE,
  KernelCompileCache,
} from "../../src/gpu/compile/compile_cache.ts";
import {
  type CacheKeyFactors,
  cacheKeyFactors,
  hashCacheKeyFactors,
  KERNEL_CACHE_FORMAT,
  kernelCacheEnv,
} from "../../src/gpu/compile/cache_key_factors.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { llamaKernelSet } from "../../src/gpu/compile/model_kernel_set.ts";
import { smallLlamaConfig } from "./_llama_config.ts";
import { fsKernelCacheStorage } from "../../src/runtime/gpu_cache_storage.ts";
import { sha256Hex, stableStringify } from "../../src/gpu/device/content_hash.ts";

const device = await acquireTestDevice();
const skip = device.skip;
const SLOW = { timeout: 120_000 };

const MODEL = smallLlamaConfig("q8_0", { blockSize: 8, eps: 1e-6 });
const TUNE = { repeats: 2, trials: 1 };

function setup() {
  const runtime = new KernelRuntime(device.context!);
  const factors = cacheKeyFactors(device.context!, MODEL, MODEL.dtype);
  const items = llamaKernelSet(MODEL, { buckets: [1, 3], backend: "webgpu" });
  return { runtime, factors, items };
}

/** A cache written by an untuned warm-up into memory: its storage, options and file path. */
async function memoryCache() {
  const storage = memoryCacheStorage();
  const { runtime, factors, items } = setup();
  const opts = { storage, root: "/cache", factors, tune: false };
  const first = await KernelCompileCache.open(runtime, opts);
  await first.warmUp(items);
  await first.save();
  return { storage, opts, items, path: `${first.directory}/${CACHE_FILE}` };
}

type CacheFile = { format: number; fingerprint: string; entries: unknown; checksum: string };

/** Serialises an edited cache file with a valid checksum again. */
async function resign(file: CacheFile): Promise<string> {
  file.checksum = await sha256Hex(
    stableStringify({ format: file.format, fingerprint: file.fingerprint, entries: file.entries }),
  );
  return JSON.stringify(file);
}

describe("kernel compile cache", { skip }, () => {
  // Under Bun (Dawn on GL ES / llvmpipe) each kernel compiles at its first dispatch, and the
  // bucket-3 matmuls batch 4 tokens per pass (bigger kernels): past Bun's default 5 s.
  it("cold build writes the cache; warm start hits every piece without tuning", SLOW, async () => {
    const root = await mkdtemp(join(tmpdir(), "sluice-kcache-"));
    try {
      const storage = fsKernelCacheStorage();
      const { runtime, factors, items } = setup();
      const cold = await KernelCompileCache.open(runtime, {
        storage,
        root,
        factors,
        autotune: TUNE,
      });
      const progress: number[] = [];
      let hooked = 0;
      cold.onWarmUpComplete((c) => (hooked = c.piecesSeen));
      const compiled = await cold.warmUp(items, { onProgress: (p) => progress.push(p.done) });
      await cold.save();
      assert.equal(compiled.size, items.length);
      assert.equal(cold.counters.compiles, items.length);
      assert.equal(cold.counters.cacheHits, 0);
      assert.equal(cold.counters.tunings, 10, "5 tunable matmuls × 2 buckets");
      assert.equal(hooked, items.length);
      assert.deepEqual(progress, items.map((_, i) => i + 1));
      const factorsJson = JSON.parse(await readFile(join(cold.directory!, FACTORS_FILE), "utf8"));
      assert.equal(factorsJson.quant, "q8_0");
      assert.ok((await readFile(join(cold.directory!, CACHE_FILE), "utf8")).length > 1000);

      const warm = await KernelCompileCache.open(new KernelRuntime(device.context!), {
        storage,
        root,
        factors,
        autotune: TUNE,
      });
      const again = await warm.warmUp(items);
      assert.equal(warm.counters.cacheHits, items.length);
      assert.equal(warm.counters.compiles, 0);
      assert.equal(warm.counters.tunings, 0);
      assert.deepEqual(warm.invalidations, []);
      assert.deepEqual(
        again.pieces.map((c) => c.tuning),
        compiled.pieces.map((c) => c.tuning),
        "tuned winners persisted",
      );
      assert.ok(again.pieces.every((c) => c.fromCache));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("detects corrupt, mismatched and stale caches and rebuilds them", SLOW, async () => {
    const { storage, opts, items, path } = await memoryCache();
    const good = storage.files.get(path)!;

    const scenarios: [string, string, RegExp, number][] = [
      ["truncated file", good.slice(0, good.length / 2), /not JSON/, items.length],
      ["flipped byte", good.replace("@compute", "@compute "), /checksum mismatch/, items.length],
      [
        "other device",
        await resign({ ...JSON.parse(good), fingerprint: "0".repeat(64) }),
        /fingerprint differs/,
        items.length,
      ],
      ["old format", JSON.stringify({ ...JSON.parse(good), format: 0 }), /format 0/, items.length],
      [
        // Format 1 keyed entries by piece index: a validly signed one is rebuilt, never misread.
        "format 1 (piece-index keys)",
        await resign({
          ...JSON.parse(good),
          format: 1,
          entries: Object.fromEntries(
            Object.entries(JSON.parse(good).entries).map(([k, v], i) => [
              k.replace(/:.*:/, `:${i}:`),
              v,
            ]),
          ),
        }),
        new RegExp(`format 1 != ${KERNEL_CACHE_FORMAT}`),
        items.length,
      ],
      [
        // Format 2 GEMV tunings of buckets m > 1 had no token batching: rebuilt.
        "format 2 (GEMV tunings without tokens)",
        await resign({ ...JSON.parse(good), format: 2 }),
        new RegExp(`format 2 != ${KERNEL_CACHE_FORMAT}`),
        items.length,
      ],
    ];
    const file = JSON.parse(good);
    const firstKey = Object.keys(file.entries)[0];
    file.entries[firstKey] = {
      ...file.entries[firstKey],
      code: file.entries[firstKey].code + "\n// edited",
    };
    scenarios.push([
      "entry code edited",
      await resign(structuredClone(file)),
      /code hash mismatch/,
      1,
    ]);
    const renamed = JSON.parse(good);
    renamed.entries[firstKey].name = "something.else";
    scenarios.push(["stale entry", await resign(renamed), /stale: holds something.else/, 1]);
    const broken = JSON.parse(good);
    const code = broken.entries[firstKey].code.replace("fn main", "fn main(");
    broken.entries[firstKey] = {
      ...broken.entries[firstKey],
      code,
      codeHash: (await import("../../src/gpu/device/content_hash.ts")).fnv1aHex(code),
    };
    scenarios.push(["entry that no longer compiles", await resign(broken), /failed to compile/, 1]);

    // A GEMV entry (bucket 1) whose tuning is neither a candidate nor a refinement of one.
    const gemvKey = Object.keys(file.entries).find((k) =>
      JSON.parse(good).entries[k].name.startsWith("gemv.")
    )!;
    const untunable = JSON.parse(good);
    untunable.entries[gemvKey].tuning = { wg: 48, rows: 3, lane: 0 };
    scenarios.push([
      "tuning no longer offered",
      await resign(untunable),
      /stale: tuning is not a current candidate/,
      1,
    ]);

    for (const [what, text, reason, rebuilt] of scenarios) {
      storage.files.set(path, text);
      const cache = await KernelCompileCache.open(new KernelRuntime(device.context!), opts);
      const compiled = await cache.warmUp(items);
      assert.equal(compiled.size, items.length, what);
      assert.match(
        cache.invalidations.join("\n"),
        reason,
        what + ": " + cache.invalidations.join("; "),
      );
      assert.equal(cache.counters.compiles, rebuilt, what + ": " + cache.invalidations.join("; "));
      assert.equal(cache.counters.cacheHits, items.length - rebuilt, what);
      await cache.save();
      const healed = await KernelCompileCache.open(new KernelRuntime(device.context!), opts);
      await healed.warmUp(items);
      assert.equal(
        healed.counters.cacheHits,
        items.length,
        `${what}: rebuilt cache is whole again`,
      );
    }
  });

  it("accepts a persisted tuning that is a refinement of a candidate", async () => {
    const { storage, opts, items, path } = await memoryCache();
    const file = JSON.parse(storage.files.get(path)!);
    const index = items.findIndex((i) => i.piece.refine?.(i.piece.candidates[5]).length);
    assert.ok(index >= 0, "the q8_0 model has a refinable GEMV piece");
    const { key, piece } = items[index];
    const refined = piece.refine!(piece.candidates[5])[0];
    const source = piece.generate(refined);
    const entryKey = `${key.bucket}:${key.op}:${key.backend}`;
    assert.ok(file.entries[entryKey], `entry ${entryKey} exists`);
    file.entries[entryKey] = {
      ...file.entries[entryKey],
      code: source.code,
      codeHash: source.hash,
      workgroupSize: [...source.workgroupSize],
      params: { ...source.params },
      tuning: refined,
    };
    file.checksum = await sha256Hex(
      stableStringify({
        format: file.format,
        fingerprint: file.fingerprint,
        entries: file.entries,
      }),
    );
    storage.files.set(path, JSON.stringify(file));
    const warm = await KernelCompileCache.open(new KernelRuntime(device.context!), opts);
    const compiled = await warm.warmUp(items);
    assert.deepEqual(warm.invalidations, []);
    assert.equal(warm.counters.cacheHits, items.length);
    assert.deepEqual(compiled.get(key.op, key.bucket)?.tuning, refined);
  });

  it("opt-out reads and writes nothing", async () => {
    const storage = memoryCacheStorage();
    const { runtime, factors, items } = setup();
    const cache = await KernelCompileCache.open(runtime, {
      storage,
      root: "/c",
      factors,
      disabled: true,
      tune: false,
    });
    await cache.warmUp(items.slice(0, 4));
    await cache.save();
    assert.equal(cache.directory, undefined);
    assert.equal(storage.files.size, 0);
    assert.equal(cache.counters.compiles, 4);
  });
});

describe("cache directory factors (no device needed)", () => {
  const base: CacheKeyFactors = {
    adapter: {
      vendor: "v",
      architecture: "a",
      device: "d",
      description: "llvmpipe",
      isFallbackAdapter: true,
    },
    features: ["timestamp-query"],
    wgslFeatures: ["packed_4x8_integer_dot_product"],
    limits: { maxBufferSize: 1 << 30 },
    runtime: "Deno/2.9.6 (navigator.gpu)",
    kernelSourceHash: "0123456789abcdef",
    model: { hidden: 64 },
    quant: "q8_0",
    format: 1,
  };
  it("changing any factor changes the directory hash", async () => {
    const h0 = await hashCacheKeyFactors(base);
    assert.equal(
      await hashCacheKeyFactors({ ...base, features: [...base.features] }),
      h0,
      "stable",
    );
    const variants: CacheKeyFactors[] = [
      { ...base, adapter: { ...base.adapter, description: "other" } },
      { ...base, features: ["shader-f16", "timestamp-query"] },
      { ...base, wgslFeatures: [] },
      { ...base, limits: { maxBufferSize: 1 << 29 } },
      { ...base, runtime: "Bun/1.4.5 (dawn-opengles)" },
      { ...base, kernelSourceHash: "fedcba9876543210" },
      { ...base, model: { hidden: 128 } },
      { ...base, quant: "q4_0" },
      { ...base, format: 2 },
    ];
    const hashes = new Set([h0, ...(await Promise.all(variants.map(hashCacheKeyFactors)))]);
    assert.equal(hashes.size, variants.length + 1);
  });
  it("reads the opt-out and root from an injected environment", () => {
    assert.deepEqual(kernelCacheEnv({}, "/d"), { root: "/d", disabled: false });
    assert.deepEqual(
      kernelCacheEnv({ SLUICE_KERNEL_CACHE_DIR: "/x", SLUICE_DISABLE_KERNEL_CACHE: "1" }, "/d"),
      { root: "/x", disabled: true },
    );
  });
  it("fs storage round-trips and reports missing files as undefined", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-fs-"));
    try {
      const s = fsKernelCacheStorage();
      assert.equal(await s.readText(join(dir, "nope.json")), undefined);
      await s.writeText(join(dir, "a", "b.json"), "hello");
      assert.equal(await s.readText(join(dir, "a", "b.json")), "hello");
      await writeFile(join(dir, "a", "b.json"), "changed");
      assert.equal(await s.readText(join(dir, "a", "b.json")), "changed");
      await s.remove(join(dir, "a", "b.json"));
      assert.equal(await s.readText(join(dir, "a", "b.json")), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
