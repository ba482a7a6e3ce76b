/**
 * An open-addressing hash table from 64-bit block hashes (as two u32 halves) to small
 * integer rows, in flat typed arrays: a lookup is a few integer compares, with no string
 * hashing or allocation. Linear probing with backward-shift deletion (no tombstones).
 *
 * @module
 */

/** Splits a 16-hex-digit hash into its high and low u32 halves. */
export function parseHash(hex: string): [number, number] {
  return [hexWord(hex, 0), hexWord(hex, 8)];
}

/** The u32 of the 8 hex digits of `hex` at `at` (lower- or upper-case). */
export function hexWord(hex: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = hex.charCodeAt(i);
    v = (v << 4) | (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v >>> 0;
}

/**
 * 64-bit keys → non-negative int rows. Each slot is 4 consecutive u32 (high, low, row + 1,
 * unused), so a probe touches one cache line; row + 1 = 0 marks an empty slot.
 */
export class HashTable {
  #slots: Uint32Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.#slots = new Uint32Array(n * 4);
    this.#mask = n - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  #home(hi: number, lo: number): number {
    const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
    return ((h >>> 7) | (h << 25)) & this.#mask; // rotated: every bit counts at any size
  }

  /** The row of `(hi, lo)`, or -1. */
  get(hi: number, lo: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = this.#home(hi, lo);; i = (i + 1) & mask) {
      const at = i << 2;
      const row = slots[at + 2];
      if (row === 0) return -1;
      if (slots[at + 1] === lo && slots[at] === hi) return row - 1;
    }
  }

  /** Maps `(hi, lo)` to `row` (the key MUST be absent). */
  set(hi: number, lo: number, row: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#resize();
    const slots = this.#slots;
    const mask = this.#mask;
    let i = this.#home(hi, lo);
    while (slots[(i << 2) + 2] !== 0) i = (i + 1) & mask;
    const at = i << 2;
    slots[at] = hi;
    slots[at + 1] = lo;
    slots[at + 2] = row + 1;
    this.#size++;
  }

  /** Removes `(hi, lo)`; returns its row or -1. */
  delete(hi: number, lo: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = this.#home(hi, lo);
    for (;; i = (i + 1) & mask) {
      const at = i << 2;
      if (slots[at + 2] === 0) return -1;
      if (slots[at + 1] === lo && slots[at] === hi) break;
    }
    const removed = slots[(i << 2) + 2] - 1;
    // Backward shift: move later entries of the probe run into the hole when allowed.
    let hole = i;
    for (let j = (i + 1) & mask; slots[(j << 2) + 2] !== 0; j = (j + 1) & mask) {
      const home = this.#home(slots[j << 2], slots[(j << 2) + 1]);
      // Entry j may fill the hole when its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (between) continue;
      slots.copyWithin(hole << 2, j << 2, (j << 2) + 3);
      hole = j;
    }
    slots[(hole << 2) + 2] = 0;
    this.#size--;
    return removed;
  }

  #resize(): void {
    const old = this.#slots;
    const n = (this.#mask + 1) * 2;
    this.#slots = new Uint32Array(n * 4);
    this.#mask = n - 1;
    this.#size = 0;
    for (let at = 0; at < old.length; at += 4) {
      if (old[at + 2] !== 0) this.set(old[at], old[at + 1], old[at + 2] - 1);
    }
  }
}
