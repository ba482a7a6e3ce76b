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

/** 64-bit keys → non-negative int rows. */
export class HashTable {
  #hi: Uint32Array;
  #lo: Uint32Array;
  /** Row of the slot, or -1 when empty. */
  #row: Int32Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#row = new Int32Array(n).fill(-1);
    this.#mask = n - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  #home(hi: number, lo: number): number {
    return (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 7) & this.#mask;
  }

  /** The row of `(hi, lo)`, or -1. */
  get(hi: number, lo: number): number {
    const mask = this.#mask;
    for (let i = this.#home(hi, lo);; i = (i + 1) & mask) {
      const row = this.#row[i];
      if (row === -1) return -1;
      if (this.#lo[i] === lo && this.#hi[i] === hi) return row;
    }
  }

  /** Maps `(hi, lo)` to `row` (the key MUST be absent). */
  set(hi: number, lo: number, row: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#resize();
    const mask = this.#mask;
    let i = this.#home(hi, lo);
    while (this.#row[i] !== -1) i = (i + 1) & mask;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    this.#row[i] = row;
    this.#size++;
  }

  /** Removes `(hi, lo)`; returns its row or -1. */
  delete(hi: number, lo: number): number {
    const mask = this.#mask;
    let i = this.#home(hi, lo);
    for (;; i = (i + 1) & mask) {
      const row = this.#row[i];
      if (row === -1) return -1;
      if (this.#lo[i] === lo && this.#hi[i] === hi) break;
    }
    const removed = this.#row[i];
    // Backward shift: move later entries of the probe run into the hole when allowed.
    let hole = i;
    for (let j = (i + 1) & mask; this.#row[j] !== -1; j = (j + 1) & mask) {
      const home = this.#home(this.#hi[j], this.#lo[j]);
      // Entry j may fill the hole when its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (between) continue;
      this.#hi[hole] = this.#hi[j];
      this.#lo[hole] = this.#lo[j];
      this.#row[hole] = this.#row[j];
      hole = j;
    }
    this.#row[hole] = -1;
    this.#size--;
    return removed;
  }

  #resize(): void {
    const hi = this.#hi;
    const lo = this.#lo;
    const row = this.#row;
    const n = (this.#mask + 1) * 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#row = new Int32Array(n).fill(-1);
    this.#mask = n - 1;
    this.#size = 0;
    for (let i = 0; i < row.length; i++) if (row[i] !== -1) this.set(hi[i], lo[i], row[i]);
  }
}
