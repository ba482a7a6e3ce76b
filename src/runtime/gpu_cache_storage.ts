/**
 * File-system storage for the GPU kernel compile cache (`src/gpu/compile/compile_cache.ts`), built on
 * `node:fs/promises`, which Deno, Bun and Node all provide. Writes go to a temporary file that
 * is renamed into place, so a crash never leaves a half-written cache file.
 *
 * @example
 * ```ts ignore
 * import { fsKernelCacheStorage } from "./gpu_cache_storage.ts";
 * const storage = fsKernelCacheStorage();
 * await storage.writeText("/tmp/sluice-kernels/x/kernel_cache.json", "{}");
 * ```
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { KernelCacheStorage } from "../gpu/compile/kernel_cache_storage.ts";

/** A {@link KernelCacheStorage} over the local file system. */
export function fsKernelCacheStorage(): KernelCacheStorage {
  return {
    async readText(path) {
      try {
        return await readFile(path, "utf8");
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return undefined;
        throw error;
      }
    },
    async writeText(path, text) {
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${crypto.randomUUID()}.tmp`;
      await writeFile(tmp, text, "utf8");
      await rename(tmp, path);
    },
    async remove(path) {
      await rm(path, { force: true });
    },
  };
}
