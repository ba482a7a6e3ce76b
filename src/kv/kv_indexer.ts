/**
 * The KV indexer a router keeps: which worker holds which cached blocks (by chained
 * block hash), fed by KV events, answering "how many leading blocks of this request
 * does each worker already hold". Because block hashes chain their parent, a flat
 * hash → holders map answers prefix overlap exactly: block i of a request is only equal
 * to a cached block when the whole prefix up to it is equal.
 *
 * Holders are a bitmask of worker slots (32 per word), so an overlap query is one map
 * lookup and an AND per block. Event ids are checked per worker: a jump means events were
 * missed, the worker's view is marked stale and events are buffered until a snapshot
 * (see {@linkcode KvIndexer.applySnapshot}) replaces it.
 *
 * @module
 */
import type { KvEvent, KvSnapshot } from "./kv_event.ts";

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
  blocks: Set<string>;
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
  #holders = new Map<string, Uint32Array>();
  #workers = new Map<string, WorkerState>();
  #slots: (WorkerState | undefined)[] = [];
  #words = 1;
  #maxBuffered: number;

  constructor(options: KvIndexerOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? 65536;
  }

  /** Distinct cached blocks across all workers. */
  get blockCount(): number {
    return this.#holders.size;
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
    return this.#workers.get(workerId)?.blocks.size ?? 0;
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
    for (const hash of snapshot.block_hashes) this.#store(state, hash);
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
    const out = new Map<string, number>();
    if (hashes.length === 0) return out;
    const first = this.#holders.get(hashes[0]);
    if (first === undefined) return out;
    const words = this.#words;
    const acc = first.slice();
    for (let i = 1; i < hashes.length; i++) {
      const next = this.#holders.get(hashes[i]);
      let alive = 0;
      for (let w = 0; w < words; w++) {
        const kept = next === undefined ? 0 : acc[w] & next[w];
        const dropped = acc[w] & ~kept;
        if (dropped !== 0) this.#record(out, w, dropped, i);
        acc[w] = kept;
        alive |= kept;
      }
      if (alive === 0) return out;
    }
    for (let w = 0; w < words; w++) if (acc[w] !== 0) this.#record(out, w, acc[w], hashes.length);
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
    state = { id, slot, blocks: new Set(), lastEventId: 0, pending: null };
    this.#slots[slot] = state;
    this.#workers.set(id, state);
    return state;
  }

  #grow(): void {
    const words = this.#words + 1;
    for (const [hash, mask] of this.#holders) {
      const wider = new Uint32Array(words);
      wider.set(mask);
      this.#holders.set(hash, wider);
    }
    this.#words = words;
  }

  #apply(state: WorkerState, event: KvEvent): void {
    state.lastEventId = event.event_id;
    const data = event.data;
    if (data.type === "stored") {
      for (const block of data.blocks) this.#store(state, block.block_hash);
    } else if (data.type === "removed") {
      for (const hash of data.block_hashes) this.#remove(state, hash);
    } else {
      this.#clear(state);
    }
  }

  #store(state: WorkerState, hash: string): void {
    if (state.blocks.has(hash)) return;
    state.blocks.add(hash);
    let mask = this.#holders.get(hash);
    if (mask === undefined) {
      mask = new Uint32Array(this.#words);
      this.#holders.set(hash, mask);
    }
    mask[state.slot >>> 5] |= 1 << (state.slot & 31);
  }

  #remove(state: WorkerState, hash: string): void {
    if (!state.blocks.delete(hash)) return;
    const mask = this.#holders.get(hash)!;
    mask[state.slot >>> 5] &= ~(1 << (state.slot & 31));
    for (let w = 0; w < mask.length; w++) if (mask[w] !== 0) return;
    this.#holders.delete(hash);
  }

  #clear(state: WorkerState): void {
    for (const hash of [...state.blocks]) this.#remove(state, hash);
  }
}
