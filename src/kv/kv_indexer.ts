/**
 * The KV indexer a router keeps: which worker holds which cached blocks (by chained
 * block hash), fed by KV events, answering "how many leading blocks of this request
 * does each worker already hold". Because block hashes chain their parent, a flat
 * hash → holders map answers prefix overlap exactly: block i of a request is only equal
 * to a cached block when the whole prefix up to it is equal.
 *
 * Holders are a bitmask of worker slots (32 per word) kept in one flat typed array, and
 * an integer hash table maps each 64-bit block hash to its row. The table's slot also keeps
 * the row's first mask word (the whole mask up to 32 workers), so an overlap query reads one
 * cache line per block: a few integer compares and an AND, with no allocation per block.
 * Event ids are checked per worker: a jump means events were missed, the worker's view is
 * marked stale and events are buffered until a snapshot (see
 * {@linkcode KvIndexer.applySnapshot}) replaces it.
 *
 * @module
 */
import type { KvEvent, KvSnapshot } from "./kv_event.ts";
import { HashTable, hexWord } from "./hash_table.ts";

/** What {@linkcode KvIndexer.applyEvent} did with an event. */
export type ApplyResult =
  /** Applied in order. */
  | "applied"
  /** A gap was found: the caller MUST ask the worker for a snapshot (returned once per gap). */
  | "gap"
  /** Held until the pending snapshot arrives. */
  | "buffered"
  /** Already covered (an id at or below the last applied one); ignored. */
  | "stale";

/** Options for {@linkcode KvIndexer}. */
export interface KvIndexerOptions {
  /** Events buffered per worker while waiting for a snapshot (default 65536); beyond: re-ask. */
  maxBuffered?: number;
}

interface WorkerState {
  id: string;
  slot: number;
  /** Blocks held. */
  count: number;
  lastEventId: number;
  /** Non-null while waiting for a snapshot: the events that arrived meanwhile. */
  pending: KvEvent[] | null;
}

/**
 * Which workers hold which blocks.
 *
 * @example
 * ```ts
 * import { KvIndexer } from "./kv_indexer.ts";
 * const index = new KvIndexer();
 * index.applyEvent({ event_id: 1, worker_id: "1", dp_rank: 0, data: {
 *   type: "stored", parent_hash: null,
 *   blocks: [{ block_hash: "00000000000000aa", tokens_hash: "00000000000000aa" }] } });
 * console.assert(index.overlaps(["00000000000000aa", "00000000000000bb"]).get("1") === 1);
 * ```
 */
export class KvIndexer {
  #table = new HashTable(4096);
  /** `#words` words per row: bit `slot` set when the worker in that slot holds the block. */
  #masks = new Uint32Array(4096);
  /** The key of each row (to unmap a row that empties during a scan). */
  #rowHi = new Uint32Array(4096);
  #rowLo = new Uint32Array(4096);
  #freeRows: number[] = [];
  #rowCount = 0;
  #workers = new Map<string, WorkerState>();
  #slots: (WorkerState | undefined)[] = [];
  #words = 1;
  #maxBuffered: number;
  #keys = new Uint32Array(512);

  /** Creates an empty index. */
  constructor(options: KvIndexerOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? 65536;
  }

  /** Distinct cached blocks across all workers. */
  get blockCount(): number {
    return this.#table.size;
  }

  /** Workers that published at least one event (and have not departed). */
  workers(): string[] {
    return [...this.#workers.keys()];
  }

  /** True when `workerId` has published KV events (it does block-structured caching). */
  knows(workerId: string): boolean {
    return this.#workers.has(workerId);
  }

  /** True while `workerId`'s view waits for a snapshot. */
  resyncing(workerId: string): boolean {
    return this.#workers.get(workerId)?.pending != null;
  }

  /** Blocks `workerId` holds. */
  blocksOf(workerId: string): number {
    return this.#workers.get(workerId)?.count ?? 0;
  }

  /**
   * Applies one event. The first event seen from a worker must have id 1 and each next
   * one the next id; otherwise the result is `"gap"` and the caller MUST request a
   * snapshot and pass it to {@linkcode applySnapshot}.
   */
  applyEvent(event: KvEvent): ApplyResult {
    const state = this.#worker(event.worker_id);
    if (state.pending !== null) {
      if (event.event_id <= state.lastEventId) return "stale";
      if (state.pending.length >= this.#maxBuffered) {
        state.pending = [];
        return "gap";
      }
      state.pending.push(event);
      return "buffered";
    }
    if (event.event_id <= state.lastEventId) return "stale";
    if (event.event_id !== state.lastEventId + 1) {
      state.pending = [event];
      return "gap";
    }
    this.#apply(state, event);
    return "applied";
  }

  /**
   * Replaces a worker's view with `snapshot`, then replays the buffered events that follow
   * it. Returns `"gap"` when the buffer does not continue the snapshot (ask again), else
   * `"applied"`.
   */
  applySnapshot(snapshot: KvSnapshot): ApplyResult {
    const state = this.#worker(snapshot.worker_id);
    if (snapshot.last_event_id < state.lastEventId && state.pending === null) return "stale";
    this.#clear(state);
    for (const hash of snapshot.block_hashes) this.#storeHex(state, hash);
    state.lastEventId = snapshot.last_event_id;
    const buffered = state.pending ?? [];
    state.pending = null;
    buffered.sort((a, b) => a.event_id - b.event_id);
    for (const event of buffered) {
      if (event.event_id <= state.lastEventId) continue;
      if (event.event_id !== state.lastEventId + 1) {
        state.pending = buffered.filter((e) => e.event_id > state.lastEventId);
        return "gap";
      }
      this.#apply(state, event);
    }
    return "applied";
  }

  /**
   * Marks a worker's view as stale (e.g. its events may have been lost when a subscription
   * failed): events are buffered from now on until a snapshot arrives. Returns false when the
   * worker is unknown or already waiting for one.
   */
  invalidate(workerId: string): boolean {
    const state = this.#workers.get(workerId);
    if (state === undefined || state.pending !== null) return false;
    state.pending = [];
    return true;
  }

  /** Forgets a worker that left (discovery removed it): its blocks and its event ids. */
  removeWorker(workerId: string): void {
    const state = this.#workers.get(workerId);
    if (state === undefined) return;
    this.#clear(state);
    this.#workers.delete(workerId);
    this.#slots[state.slot] = undefined;
  }

  /**
   * For each worker holding the first block of `hashes`, how many leading blocks of
   * `hashes` it holds (workers with none are absent).
   */
  overlaps(hashes: readonly string[]): Map<string, number> {
    if (this.#keys.length < hashes.length * 2) this.#keys = new Uint32Array(hashes.length * 2);
    const keys = this.#keys;
    for (let i = 0; i < hashes.length; i++) {
      keys[2 * i] = hexWord(hashes[i], 0);
      keys[2 * i + 1] = hexWord(hashes[i], 8);
    }
    return this.overlapsOfKeys(keys, hashes.length);
  }

  /**
   * {@linkcode overlaps} for hashes given as u32 halves, `keys[2i]` high and `keys[2i+1]`
   * low (what `PrefixHashCache.sequenceKeys` produces): no parsing, no allocation per block.
   */
  overlapsOfKeys(keys: Uint32Array, count: number): Map<string, number> {
    return this.overlapsInto(keys, count, new Map());
  }

  /**
   * {@linkcode overlapsOfKeys} into a map the caller owns (cleared first) and may reuse
   * across queries, so a hot path allocates nothing. Returns `out`.
   */
  overlapsInto(keys: Uint32Array, count: number, out: Map<string, number>): Map<string, number> {
    out.clear();
    if (count === 0) return out;
    const table = this.#table;
    if (this.#words === 1) {
      // One mask word: it is the slot's tag, read in the same cache line as the key (a
      // mapped row always has a holder, so an absent key and an empty mask both read 0).
      let acc = table.tagOf(keys[0], keys[1]) | 0;
      if (acc === 0) return out;
      for (let i = 1; i < count; i++) {
        const kept = acc & table.tagOf(keys[2 * i], keys[2 * i + 1]);
        if (kept !== acc) {
          this.#record(out, 0, acc & ~kept, i);
          if (kept === 0) return out;
          acc = kept;
        }
      }
      this.#record(out, 0, acc, count);
      return out;
    }
    const first = table.get(keys[0], keys[1]);
    if (first === -1) return out;
    const masks = this.#masks;
    const words = this.#words;
    const acc = masks.slice(first * words, first * words + words);
    for (let i = 1; i < count; i++) {
      const row = table.get(keys[2 * i], keys[2 * i + 1]);
      let alive = 0;
      for (let w = 0; w < words; w++) {
        const kept = row === -1 ? 0 : acc[w] & masks[row * words + w];
        const dropped = acc[w] & ~kept;
        if (dropped !== 0) this.#record(out, w, dropped, i);
        acc[w] = kept;
        alive |= kept;
      }
      if (alive === 0) return out;
    }
    for (let w = 0; w < words; w++) if (acc[w] !== 0) this.#record(out, w, acc[w], count);
    return out;
  }

  #record(out: Map<string, number>, word: number, bits: number, depth: number): void {
    while (bits !== 0) {
      const bit = 31 - Math.clz32(bits);
      bits &= ~(1 << bit);
      const state = this.#slots[word * 32 + bit];
      if (state !== undefined) out.set(state.id, depth);
    }
  }

  #worker(id: string): WorkerState {
    let state = this.#workers.get(id);
    if (state !== undefined) return state;
    let slot = this.#slots.indexOf(undefined);
    if (slot === -1) slot = this.#slots.length;
    if (slot >= this.#words * 32) this.#grow();
    state = { id, slot, count: 0, lastEventId: 0, pending: null };
    this.#slots[slot] = state;
    this.#workers.set(id, state);
    return state;
  }

  /** Widens every row by one word (more than 32 × words workers). */
  #grow(): void {
    const words = this.#words + 1;
    const wider = new Uint32Array(this.#rowHi.length * words);
    for (let r = 0; r < this.#rowCount; r++) {
      wider.set(this.#masks.subarray(r * this.#words, (r + 1) * this.#words), r * words);
    }
    this.#masks = wider;
    this.#words = words;
  }

  /** A free row for key `(hi, lo)` (the caller maps it in the table). */
  #newRow(hi: number, lo: number): number {
    let row = this.#freeRows.pop();
    if (row === undefined) {
      row = this.#rowCount++;
      if (row >= this.#rowHi.length) {
        const n = this.#rowHi.length * 2;
        const grow = (a: Uint32Array, size: number) => {
          const b = new Uint32Array(size);
          b.set(a);
          return b;
        };
        this.#rowHi = grow(this.#rowHi, n);
        this.#rowLo = grow(this.#rowLo, n);
        this.#masks = grow(this.#masks, n * this.#words);
      }
    }
    this.#rowHi[row] = hi;
    this.#rowLo[row] = lo;
    return row;
  }

  #apply(state: WorkerState, event: KvEvent): void {
    state.lastEventId = event.event_id;
    const data = event.data;
    if (data.type === "stored") {
      for (const block of data.blocks) this.#storeHex(state, block.block_hash);
    } else if (data.type === "removed") {
      const table = this.#table;
      for (const hash of data.block_hashes) {
        const i = table.find(hexWord(hash, 0), hexWord(hash, 8));
        if (i >= 0) this.#unset(state, table.slots[(i << 2) + 2] - 1, i);
      }
    } else {
      this.#clear(state);
    }
  }

  #storeHex(state: WorkerState, hash: string): void {
    const hi = hexWord(hash, 0);
    const lo = hexWord(hash, 8);
    const table = this.#table;
    let i = table.find(hi, lo);
    let row: number;
    if (i < 0) {
      row = this.#newRow(hi, lo);
      i = table.insert(hi, lo, row, 0, i);
    } else {
      row = table.slots[(i << 2) + 2] - 1;
    }
    const word = state.slot >>> 5;
    const at = row * this.#words + word;
    const bit = 1 << (state.slot & 31);
    const masks = this.#masks;
    if ((masks[at] & bit) !== 0) return;
    masks[at] |= bit;
    if (word === 0) table.slots[(i << 2) + 3] = masks[at];
    state.count++;
  }

  /** Clears `state`'s bit in `row` (table slot `i`); unmaps the row once nobody holds it. */
  #unset(state: WorkerState, row: number, i: number): void {
    const words = this.#words;
    const masks = this.#masks;
    const word = state.slot >>> 5;
    const at = row * words + word;
    const bit = 1 << (state.slot & 31);
    if ((masks[at] & bit) === 0) return;
    masks[at] &= ~bit;
    if (word === 0) this.#table.slots[(i << 2) + 3] = masks[at];
    state.count--;
    for (let w = 0; w < words; w++) if (masks[row * words + w] !== 0) return;
    this.#table.deleteAt(i);
    this.#freeRows.push(row);
  }

  /** Drops every block of `state` (a scan over the rows: clears and departures are rare). */
  #clear(state: WorkerState): void {
    if (state.count === 0) return;
    const words = this.#words;
    const word = state.slot >>> 5;
    const bit = 1 << (state.slot & 31);
    // Free rows have all-zero masks, so the bit test skips them.
    for (let row = 0; row < this.#rowCount && state.count > 0; row++) {
      if ((this.#masks[row * words + word] & bit) !== 0) {
        this.#unset(state, row, this.#table.find(this.#rowHi[row], this.#rowLo[row]));
      }
    }
  }
}
