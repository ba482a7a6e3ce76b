/**
 * The device fingerprint: a hash of everything that makes a tuned kernel choice valid on one
 * device and not another. It is part of every kernel cache key.
 *
 * @example
 * ```ts
 * import { computeDeviceFingerprint } from "./device_fingerprint.ts";
 * const fp = await computeDeviceFingerprint({
 *   adapter: { vendor: "mesa", architecture: "", device: "0", description: "llvmpipe", isFallbackAdapter: true },
 *   features: ["timestamp-query"], limits: { maxBufferSize: 1 << 30 }, runtime: "Deno/2.9", provider: "navigator.gpu",
 * });
 * console.assert(fp.length === 64);
 * ```
 *
 * @module
 */
import { sha256Hex, stableStringify } from "./content_hash.ts";

/** Identity of an adapter, as reported by `GPUAdapter.info`. */
export interface AdapterDescription {
  /** Vendor string or id. */
  readonly vendor: string;
  /** Architecture name, often empty. */
  readonly architecture: string;
  /** Device id string. */
  readonly device: string;
  /** Human description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  readonly description: string;
  /** `true` for software adapters such as lavapipe. */
  readonly isFallbackAdapter: boolean;
}

/** Inputs of {@link computeDeviceFingerprint}. */
export interface FingerprintInput {
  /** The adapter identity. */
  readonly adapter: AdapterDescription;
  /** Enabled features (order does not matter). */
  readonly features: readonly string[];
  /** WGSL language features of the `GPU` object (order does not matter); absent: none known. */
  readonly wgslFeatures?: readonly string[];
  /** Relevant granted limits. */
  readonly limits: Readonly<Record<string, number>>;
  /** Runtime name and version. */
  readonly runtime: string;
  /** Provider name (`navigator.gpu`, `dawn-opengles`, ...). */
  readonly provider: string;
}

/** SHA-256 over a canonical JSON of the input; equal inputs always give equal fingerprints. */
export function computeDeviceFingerprint(input: FingerprintInput): Promise<string> {
  return sha256Hex(
    stableStringify({
      ...input,
      features: [...input.features].sort(),
      ...(input.wgslFeatures && { wgslFeatures: [...input.wgslFeatures].sort() }),
    }),
  );
}
