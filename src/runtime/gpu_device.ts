/**
 * The runtime adapter for a WebGPU device: Deno's built-in `navigator.gpu`, or under Bun and
 * Node the `webgpu` npm package (Dawn) on Mesa's GL ES, which needs `EGL_PLATFORM=surfaceless`
 * in the C environment before the first adapter request (Bun's `process.env` does not write
 * through to it, so it is set with libc `setenv`). Engines call {@link acquireRuntimeGpu} and
 * fall back to the CPU when it returns `undefined`.
 *
 * @example
 * ```ts ignore
 * import { acquireRuntimeGpu } from "./gpu_device.ts";
 * const gpu = await acquireRuntimeGpu((line) => console.error(line));
 * console.log(gpu ? gpu.adapter.description : "no GPU");
 * ```
 */
import process from "node:process";
import { acquireGpuContext, type GpuContext } from "../gpu/device/gpu_context.ts";
import {
  dawnGpuProvider,
  type DawnModule,
  navigatorGpuProvider,
} from "../gpu/device/gpu_provider.ts";

async function ensureSurfacelessEgl(): Promise<void> {
  process.env.EGL_PLATFORM ??= "surfaceless";
  const g = globalThis as { Bun?: unknown };
  if (!g.Bun) return;
  const ffiName = "bun:ffi";
  const ffi = await import(ffiName);
  const libc = ffi.dlopen("libc.so.6", {
    setenv: { args: [ffi.FFIType.ptr, ffi.FFIType.ptr, ffi.FFIType.i32], returns: ffi.FFIType.i32 },
  });
  try {
    const c = (s: string) => new TextEncoder().encode(s + "\0");
    libc.symbols.setenv(c("EGL_PLATFORM"), c(process.env.EGL_PLATFORM ?? "surfaceless"), 0);
  } finally {
    libc.close();
  }
}

/**
 * A device from the runtime's WebGPU, or `undefined` (with the reason passed to `log`) when
 * there is none. The caller owns the context and MUST `destroy()` it.
 */
export async function acquireRuntimeGpu(
  log: (line: string) => void = () => {},
): Promise<GpuContext | undefined> {
  try {
    let provider = navigatorGpuProvider();
    if (!provider) {
      await ensureSurfacelessEgl();
      const name = "webgpu";
      provider = dawnGpuProvider((await import(name)) as DawnModule);
    }
    return await acquireGpuContext(provider);
  } catch (error) {
    log(`No WebGPU device: ${(error as Error).message}`);
    return undefined;
  }
}
