/**
 * An open-addressing hash table from 64-bit block hashes (as two u32 halves) to small
 * integer rows, in flat typed arrays: a lookup is a few integer compares, with no string
 * hashing or allocation. Linear probing with backward-shift deletion (no tombstones).
 *
 * Each slot also carries one u32 "tag" the owner may use (the indexer keeps the first word
 * of a row's holder mask there, so an overlap query reads one cache line per block).
 *
 * @module
 */

/** Hex digit value by char code ('0'-'9', 'a'-'f', 'A'-'F'); other codes map to 0. */
const HEX = /* @__PURE__ */ (() => {
  const t = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) t[c] = c - 48;
  for (let c = 97; c <= 102; c++) t[c] = c - 87;
  for (let c = 65; c <= 70; c++) t[c] = c - 55;
  return t;
})();

/** Splits a 16-hex-digit hash into its high and low u32 halves. */
export function parseHash(hex: string): [number, number] {
  return [hexWord(hex, 0), hexWord(hex, 8)];
}

/** The u32 of the 8 hex digits of `hex` at `at` (lower- or upper-case). */
export function hexWord(hex: string, at: number): number {
  const t = HEX;
  return ((t[hex.charCodeAt(at) & 127] << 28) | (t[hex.charCodeAt(at + 1) & 127] << 24) |
    (t[hex.charCodeAt(at + 2) & 127] << 20) | (t[hex.charCodeAt(at + 3) & 127] << 16) |
    (t[hex.charCodeAt(at + 4) & 127] << 12) | (t[hex.charCodeAt(at + 5) & 127] << 8) |
    (t[hex.charCodeAt(at + 6) & 127] << 4) | t[hex.charCodeAt(at + 7) & 127]) >>> 0;
}

/**
 * 64-bit keys → non-negative int rows. Each slot is 4 consecutive u32 (high, low, row + 1,
 * tag), so a probe touches one cache line; row + 1 = 0 marks an empty slot.
 */
export class HashTable {
  /** Int32, not Uint32: JavaScriptCore keeps u32 values ≥ 2³¹ as doubles; int32 compares fast. */
  #slots: Int32Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.#slots = new Int32Array(n * 4);
    this.#mask = n - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  /**
   * The slot storage (slot `i` at `4i`: high, low, row + 1, tag, each as int32: read a tag
   * with `>>> 0` for its u32 value). Valid until the next insertion (which may resize);
   * callers MUST NOT write words other than the tag.
   */
  get slots(): Int32Array {
    return this.#slots;
  }

  #home(hi: number, lo: number): number {
    const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
    return ((h >>> 7) | (h << 25)) & this.#mask; // rotated: every bit counts at any size
  }

  /**
   * The slot index of `(hi, lo)` when present (≥ 0); else `-(e + 1)` where `e` is the empty
   * slot an insertion would use (pass it to {@linkcode insert}).
   */
  find(hi: number, lo: number): number {
    hi |= 0;
    lo |= 0;
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = this.#home(hi, lo);; i = (i + 1) & mask) {
      const at = i << 2;
      if (slots[at + 2] === 0) return -i - 1;
      if (slots[at + 1] === lo && slots[at] === hi) return i;
    }
  }

  /** The tag of `(hi, lo)` as int32, or 0 when the key is absent. */
  tagOf(hi: number, lo: number): number {
    hi |= 0;
    lo |= 0;
    const slots = this.#slots;
    const mask = this.#mask;
    const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
    for (let i = ((h >>> 7) | (h << 25)) & mask;; i = (i + 1) & mask) {
      const at = i << 2;
      if (slots[at + 2] === 0) return 0;
      if (slots[at + 1] === lo && slots[at] === hi) return slots[at + 3];
    }
  }

  /** The row of `(hi, lo)`, or -1. */
  get(hi: number, lo: number): number {
    const i = this.find(hi, lo);
    return i < 0 ? -1 : this.#slots[(i << 2) + 2] - 1;
  }

  /**
   * Maps the absent key `(hi, lo)` to `row` with tag `tag`. `missed` MUST be what
   * {@linkcode find} just returned for that key (negative), with no change in between.
   * Returns the key's slot index.
   */
  insert(hi: number, lo: number, row: number, tag: number, missed: number): number {
    let i = -missed - 1;
    if ((this.#size + 1) * 2 > this.#mask + 1) {
      this.#resize();
      i = -this.find(hi, lo) - 1;
    }
    const at = i << 2;
    const slots = this.#slots;
    slots[at] = hi;
    slots[at + 1] = lo;
    slots[at + 2] = row + 1;
    slots[at + 3] = tag;
    this.#size++;
    return i;
  }

  /** Maps `(hi, lo)` to `row` (the key MUST be absent). */
  set(hi: number, lo: number, row: number): void {
    this.insert(hi, lo, row, 0, this.find(hi, lo));
  }

  /** Removes `(hi, lo)`; returns its row or -1. */
  delete(hi: number, lo: number): number {
    const i = this.find(hi, lo);
    return i < 0 ? -1 : this.deleteAt(i);
  }

  /** Removes the key in slot `i` (a {@linkcode find} result ≥ 0); returns its row. */
  deleteAt(i: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const removed = slots[(i << 2) + 2] - 1;
    // Backward shift: move later entries of the probe run into the hole when allowed.
    let hole = i;
    for (let j = (i + 1) & mask; slots[(j << 2) + 2] !== 0; j = (j + 1) & mask) {
      const home = this.#home(slots[j << 2], slots[(j << 2) + 1]);
      // Entry j may fill the hole when its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (between) continue;
      slots.copyWithin(hole << 2, j << 2, (j << 2) + 4);
      hole = j;
    }
    slots[(hole << 2) + 2] = 0;
    slots[(hole << 2) + 3] = 0;
    this.#size--;
    return removed;
  }

  #resize(): void {
    const old = this.#slots;
    const n = (this.#mask + 1) * 2;
    this.#slots = new Int32Array(n * 4);
    this.#mask = n - 1;
    this.#size = 0;
    for (let at = 0; at < old.length; at += 4) {
      if (old[at + 2] !== 0) {
        this.insert(
          old[at],
          old[at + 1],
          old[at + 2] - 1,
          old[at + 3],
          this.find(old[at], old[at + 1]),
        );
      }
    }
  }
}
