/**
 * Discovery keys ↔ NATS KV keys. KV keys allow only `[-/=.\w]` and `.` separates
 * subject tokens, the unit a watch filter can match. So each `/`-separated segment
 * becomes one token: `/` → `.`, and every other character outside `[-\w]` (`.`, `=`,
 * spaces, non-ASCII bytes) as `=XX` (UTF-8, upper-case hex); an empty segment is `=`.
 *
 * @module
 */

/** The KV key of a discovery key. */
export function toKvKey(key: string): string {
  return key.split("/").map((segment) => {
    if (segment === "") return "=";
    let out = "";
    for (const byte of new TextEncoder().encode(segment)) {
      const c = String.fromCharCode(byte);
      out += /[-\w]/.test(c) && byte < 0x80
        ? c
        : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
    return out;
  }).join(".");
}

/** The discovery key of a KV key made by {@linkcode toKvKey}; `undefined` for any other. */
export function fromKvKey(kvKey: string): string | undefined {
  const segments: string[] = [];
  for (const token of kvKey.split(".")) {
    if (token === "=") {
      segments.push("");
      continue;
    }
    const bytes: number[] = [];
    for (let i = 0; i < token.length; i++) {
      if (token[i] === "=") {
        const hex = token.slice(i + 1, i + 3);
        if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(token.charCodeAt(i));
      }
    }
    try {
      segments.push(new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes)));
    } catch {
      return undefined;
    }
  }
  return segments.join("/");
}

/**
 * The watch filter covering every key that starts with `prefix`: `a.b.>` when the prefix
 * ends at a segment boundary (`a/b/`), else `>` (the caller filters by prefix).
 */
export function kvFilterFor(prefix: string): string {
  if (prefix === "" || !prefix.endsWith("/")) return ">";
  return `${toKvKey(prefix.slice(0, -1))}.>`;
}
