/**
 * Test helper: acquires a device once per test file with the runtime's provider (Deno's
 * `navigator.gpu`; under Bun/Node the `webgpu` package on Mesa GL ES) and states why device
 * tests skip when none exists.
 */
import { acquireGpuContext, type GpuContext } from "../../src/gpu/device/gpu_context.ts";
import {
  dawnGpuProvider,
  type DawnModule,
  type GpuProvider,
  navigatorGpuProvider,
} from "../../src/gpu/device/gpu_provider.ts";
import { GpuError } from "../../src/gpu/device/gpu_error.ts";

/** A device, or the reason there is none. */
export type TestDevice = { context: GpuContext; skip: false } | {
  context: undefined;
  skip: string;
};

/**
 * Dawn's GL ES backend reads EGL_PLATFORM from the C environment; Bun's `process.env` does not
 * write through to it, so set it with libc `setenv` before the first adapter request. The
 * strings go to FFI as typed arrays (not `ptr()` of a temporary), so Bun keeps them alive for
 * the call: a raw pointer to an unreferenced array can be collected before `setenv` reads it,
 * and Dawn then finds no EGL display.
 */
async function ensureSurfacelessEgl(): Promise<void> {
  const g = globalThis as { Bun?: unknown; process?: { env: Record<string, string | undefined> } };
  if (g.process) g.process.env.EGL_PLATFORM = "surfaceless";
  if (!g.Bun) return;
  const ffiName = "bun:ffi";
  const ffi = await import(ffiName);
  const libc = ffi.dlopen("libc.so.6", {
    setenv: { args: [ffi.FFIType.ptr, ffi.FFIType.ptr, ffi.FFIType.i32], returns: ffi.FFIType.i32 },
  });
  try {
    const c = (s: string) => new TextEncoder().encode(s + "\0");
    if (libc.symbols.setenv(c("EGL_PLATFORM"), c("surfaceless"), 1) !== 0) {
      throw new Error("Cannot set EGL_PLATFORM for Dawn: libc setenv failed");
    }
  } finally {
    libc.close();
  }
}

const SHARED = Symbol.for("sluice.tests.gpu.device");

/**
 * Acquires the test device once per global scope. Bun runs every test file of a folder in one
 * process and scope, and one device serves them all until the process exits (its context keeps
 * Dawn's `GPU` object alive, see `acquireGpuContext`). Deno runs each test file in a scope of
 * its own and fires `unload` when the file is done: the file's device is destroyed then, so
 * devices do not pile up until the process tears lavapipe down at exit. Tests destroy every
 * buffer they create.
 */
export function acquireTestDevice(): Promise<TestDevice> {
  const g = globalThis as Record<symbol, Promise<TestDevice> | undefined>;
  return g[SHARED] ??= acquireOnce();
}

/**
 * A fresh Dawn provider (npm `webgpu` on Mesa GL ES) with its own `GPU` object, for runtimes
 * without `navigator.gpu`. Each call creates a new Dawn instance.
 */
export async function dawnTestProvider(): Promise<GpuProvider> {
  await ensureSurfacelessEgl();
  const name = "webgpu";
  const dawn = (await import(name)) as DawnModule;
  return dawnGpuProvider(dawn);
}

async function acquireOnce(): Promise<TestDevice> {
  try {
    const navigator = navigatorGpuProvider();
    const context = await acquireGpuContext(navigator ?? await dawnTestProvider());
    if (navigator && !("Bun" in globalThis)) {
      globalThis.addEventListener("unload", () => context.destroy());
    }
    return { context, skip: false };
  } catch (error) {
    if (error instanceof GpuError && error.kind === "no-adapter") {
      return { context: undefined, skip: `no WebGPU adapter: ${error.message}` };
    }
    return { context: undefined, skip: `no WebGPU device: ${(error as Error).message}` };
  }
}

/** Deterministic pseudo-random floats in [-scale, scale). */
export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

/** Asserts |a − b| ≤ abs + rel·|b| element-wise, reporting the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { abs: number; rel: number },
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  }
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (tol.abs + tol.rel * Math.abs(expected[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} = ${actual[worst]}, expected ${
        expected[worst]
      } (abs ${tol.abs}, rel ${tol.rel})`,
    );
  }
}
