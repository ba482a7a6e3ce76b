/**
 * The one typed error family of the GPU layer. Callers branch on `kind`:
 * `no-adapter` (fall back to the CPU backend), `device-lost` (rebuild the context),
 * `compile` (a generated kernel failed validation), `shape` (tensor shapes disagree),
 * `unsupported` (a feature or dtype this device or backend cannot run).
 *
 * @example
 * ```ts
 * import { GpuError } from "./gpu_error.ts";
 * const err = new GpuError("no-adapter", "Cannot acquire a GPU device: no adapter was found");
 * console.assert(err.kind === "no-adapter");
 * ```
 */
export class GpuError extends Error {
  /** What failed, for callers that handle it. */
  readonly kind: GpuErrorKind;

  /** Creates an error of `kind`; the message states the failed action, then the reason. */
  constructor(kind: GpuErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GpuError";
    this.kind = kind;
  }
}

/** The kinds of {@link GpuError}. */
export type GpuErrorKind = "no-adapter" | "device-lost" | "compile" | "shape" | "unsupported";
