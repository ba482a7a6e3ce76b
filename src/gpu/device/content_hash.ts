/**
 * Content hashes used by the kernel cache. `sha256Hex` names cache directories and checksums
 * persisted files; `fnv1aHex` is a fast synchronous hash used for in-process de-duplication of
 * generated WGSL.
 *
 * @example
 * ```ts
 * import { fnv1aHex, sha256Hex } from "./content_hash.ts";
 * console.assert((await sha256Hex("abc")).startsWith("ba7816bf"));
 * console.assert(fnv1aHex("abc").length === 16);
 * ```
 *
 * @module
 */

/** SHA-256 of the UTF-8 bytes of `text`, as 64 lowercase hex characters. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** 64-bit FNV-1a of the UTF-16 code units of `text`, as 16 hex characters (not cryptographic). */
export function fnv1aHex(text: string): string {
  let hi = 0xcbf29ce4, lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo ^= text.charCodeAt(i);
    // Multiply the 64-bit state by the FNV prime 0x100000001b3 using 32-bit halves.
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    hi = (Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100) + carry) >>> 0;
    lo = loMul >>> 0;
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/** Stable JSON: object keys sorted recursively, so equal values always hash equally. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}
