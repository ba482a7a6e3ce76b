/**
 * The storage the kernel compile cache persists through. The GPU layer never touches a file
 * system itself: `src/runtime/gpu_cache_storage.ts` adapts `node:fs/promises`, and
 * {@link memoryCacheStorage} serves tests and cache-disabled runs.
 *
 * @example
 * ```ts
 * import { memoryCacheStorage } from "./kernel_cache_storage.ts";
 * const s = memoryCacheStorage();
 * await s.writeText("a/b.json", "{}");
 * console.assert((await s.readText("a/b.json")) === "{}");
 * ```
 *
 * @module
 */

/** Text files addressed by `/`-separated paths. */
export interface KernelCacheStorage {
  /** The file's text, or `undefined` when it does not exist. Other failures reject. */
  readText(path: string): Promise<string | undefined>;
  /** Writes the file, creating parent directories; SHOULD replace it atomically. */
  writeText(path: string, text: string): Promise<void>;
  /** Removes the file if it exists. */
  remove(path: string): Promise<void>;
}

/** An in-memory {@link KernelCacheStorage}; `files` exposes its contents. */
export function memoryCacheStorage(): KernelCacheStorage & { readonly files: Map<string, string> } {
  const files = new Map<string, string>();
  return {
    files,
    readText: (path) => Promise.resolve(files.get(path)),
    writeText: (path, text) => {
      files.set(path, text);
      return Promise.resolve();
    },
    remove: (path) => {
      files.delete(path);
      return Promise.resolve();
    },
  };
}

/** Joins path segments with `/`, dropping empty ones and duplicate separators. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/+/g, "/");
}
