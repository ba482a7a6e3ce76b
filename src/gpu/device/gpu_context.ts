/**
 * Device acquisition: one {@link GpuContext} owns a `GPUDevice`, the probed features, WGSL
 * language features and limits, the device fingerprint used by every cache key, and lost-device
 * tracking.
 *
 * @example
 * ```ts ignore
 * import { acquireGpuContext } from "./gpu_context.ts";
 * import { navigatorGpuProvider } from "./gpu_provider.ts";
 * const ctx = await acquireGpuContext(navigatorGpuProvider());
 * try { console.log(ctx.adapter.description, ctx.fingerprint); } finally { ctx.destroy(); }
 * ```
 *
 * @module
 */
import { GpuError } from "./gpu_error.ts";
import type { GpuProvider } from "./gpu_provider.ts";
import { type AdapterDescription, computeDeviceFingerprint } from "./device_fingerprint.ts";

/** Limits this layer raises to the adapter's maximum when it requests a device. */
export const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** Optional device features used when present. None is required: kernels unpack f16 by hand. */
export const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query"] as const;

/** Options for {@link acquireGpuContext}. */
export interface AcquireOptions {
  /** Runtime name and version for the fingerprint; defaults to `navigator.userAgent`. */
  readonly runtime?: string;
  /** Called once if the device is lost for any reason other than `destroy()`. */
  readonly onLost?: (info: GPUDeviceLostInfo) => void;
  /** Rejects acquisition with `signal.reason` when aborted. */
  readonly signal?: AbortSignal;
}

/** A live device plus what was learned about it. */
export interface GpuContext {
  /** The device; MUST NOT be used after {@link GpuContext.destroy}. */
  readonly device: GPUDevice;
  /** Name of the provider that produced the device. */
  readonly providerName: string;
  /** Adapter identity (vendor, architecture, description, fallback flag). */
  readonly adapter: AdapterDescription;
  /** Features enabled on the device. */
  readonly features: ReadonlySet<string>;
  /**
   * WGSL language features of the provider's `GPU` (`wgslLanguageFeatures`, e.g.
   * `packed_4x8_integer_dot_product`); empty where the runtime does not report them. Kernels
   * that use one MUST be generated only when it is listed here.
   */
  readonly wgslFeatures: ReadonlySet<string>;
  /** The device limits actually granted, for the limits in {@link REQUESTED_LIMITS}. */
  readonly limits: Readonly<Record<(typeof REQUESTED_LIMITS)[number], number>>;
  /** Runtime name and version. */
  readonly runtime: string;
  /**
   * Hash of adapter, features, WGSL language features, limits and runtime: part of every
   * kernel cache key.
   */
  readonly fingerprint: string;
  /** `true` once the device was lost or destroyed. */
  readonly isLost: boolean;
  /** Throws a `device-lost` {@link GpuError} if the device is gone; call before encoding work. */
  assertAlive(action: string): void;
  /** Destroys the device (and with it every buffer created on it). Idempotent. */
  destroy(): void;
}

/**
 * Requests an adapter and a device from `provider`. Throws a {@link GpuError} of kind
 * `no-adapter` when the provider is missing or yields no adapter, so callers can fall back to
 * the CPU backend with a clear log line.
 *
 * The returned context keeps `provider.gpu` reachable for as long as the context itself is
 * reachable. This MUST NOT be dropped: Dawn's `GPU` object (npm `webgpu`) owns the native
 * `dawn::native::Instance`, while its adapters, devices and event pump hold only a raw pointer
 * to it, so collecting the `GPU` object while a device lives frees the instance under it (a
 * use-after-free in `Instance::ProcessEvents`: segfaults, `std::system_error`, mutex
 * assertions or hangs, in Bun and Node alike).
 */
export async function acquireGpuContext(
  provider: GpuProvider | undefined,
  options: AcquireOptions = {},
): Promise<GpuContext> {
  options.signal?.throwIfAborted();
  if (!provider) {
    throw new GpuError("no-adapter", "Cannot acquire a GPU device: this runtime has no WebGPU");
  }
  let adapter: GPUAdapter | null = null;
  for (const request of provider.adapterRequests) {
    adapter = await provider.gpu.requestAdapter(request);
    if (adapter) break;
  }
  options.signal?.throwIfAborted();
  if (!adapter) {
    throw new GpuError(
      "no-adapter",
      `Cannot acquire a GPU device: ${provider.name} found no adapter (install a driver, e.g. ` +
        "mesa-vulkan-drivers for the software Vulkan adapter)",
    );
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const limits = {} as Record<(typeof REQUESTED_LIMITS)[number], number>;
  for (const name of REQUESTED_LIMITS) {
    limits[name] = (device.limits as unknown as Record<string, number>)[name];
  }
  const info = adapter.info;
  const description: AdapterDescription = {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    isFallbackAdapter: Boolean(
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
  };
  const runtime = options.runtime ??
    (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "unknown";
  const features = new Set<string>([...device.features].map(String));
  const wgslFeatures = new Set<string>(
    [...((provider.gpu as { wgslLanguageFeatures?: Iterable<string> }).wgslLanguageFeatures ?? [])]
      .map(String),
  );
  const fingerprint = await computeDeviceFingerprint({
    adapter: description,
    features: [...features],
    wgslFeatures: [...wgslFeatures],
    limits,
    runtime,
    provider: provider.name,
  });
  return new LiveContext(
    provider.gpu,
    device,
    provider.name,
    description,
    features,
    wgslFeatures,
    limits,
    runtime,
    fingerprint,
    options.onLost,
  );
}

class LiveContext implements GpuContext {
  #lost = false;
  #destroyed = false;
  /** Held, never read: keeps the native instance behind `device` alive (see acquireGpuContext). */
  readonly #gpu: GPU;
  constructor(
    gpu: GPU,
    readonly device: GPUDevice,
    readonly providerName: string,
    readonly adapter: AdapterDescription,
    readonly features: ReadonlySet<string>,
    readonly wgslFeatures: ReadonlySet<string>,
    readonly limits: Readonly<Record<(typeof REQUESTED_LIMITS)[number], number>>,
    readonly runtime: string,
    readonly fingerprint: string,
    onLost?: (info: GPUDeviceLostInfo) => void,
  ) {
    this.#gpu = gpu;
    device.lost.then((info) => {
      this.#lost = true;
      if (!this.#destroyed && info.reason !== "destroyed") onLost?.(info);
    });
  }

  get isLost(): boolean {
    return this.#lost || this.#destroyed;
  }

  assertAlive(action: string): void {
    if (this.isLost) {
      throw new GpuError("device-lost", `Cannot ${action}: the GPU device was lost or destroyed`);
    }
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.device.destroy();
  }
}
