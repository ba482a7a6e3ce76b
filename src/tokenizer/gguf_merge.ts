/**
 * The two merge loops of llama.cpp's GGUF tokenizers, ported to work on JavaScript strings:
 *
 * - {@linkcode spmMerge}: SentencePiece BPE (`llm_tokenizer_spm_session`): start from the
 *   characters, repeatedly merge the adjacent pair whose concatenation is a token with the
 *   highest score (ties: leftmost), then emit each symbol's token, or its UTF-8 bytes as
 *   `<0xXX>` tokens when it is not one.
 * - {@linkcode bpeMerge}: byte-level BPE (`llm_tokenizer_bpe_session`): start from the
 *   characters of a byte-level word, repeatedly merge the adjacent pair with the lowest merge
 *   rank (ties: leftmost).
 *
 * Both keep a doubly linked list of symbols and a binary heap of candidate pairs, as llama.cpp
 * does, so a word of n characters costs O(n log n).
 *
 * @module
 */

interface Pair {
  left: number;
  right: number;
  /** Higher first (SPM score) or lower first (BPE rank, negated). */
  priority: number;
  /** Combined length when pushed (SPM) — stale entries are skipped. */
  size: number;
  text: string;
}

/** A max-heap on (priority, then lower left index). */
class PairHeap {
  #items: Pair[] = [];
  get size(): number {
    return this.#items.length;
  }
  #before(a: Pair, b: Pair): boolean {
    return a.priority > b.priority || (a.priority === b.priority && a.left < b.left);
  }
  push(p: Pair): void {
    const items = this.#items;
    items.push(p);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }
  pop(): Pair {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < items.length && this.#before(items[l], items[best])) best = l;
        if (r < items.length && this.#before(items[r], items[best])) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

/** Symbols of a word: texts with prev/next links; a merged-away symbol has text "". */
class Symbols {
  text: string[];
  prev: Int32Array;
  next: Int32Array;
  constructor(chars: string[]) {
    this.text = chars;
    const n = chars.length;
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.prev[i] = i - 1;
      this.next[i] = i + 1 < n ? i + 1 : -1;
    }
  }
  merge(left: number, right: number): void {
    this.text[left] += this.text[right];
    this.text[right] = "";
    this.next[left] = this.next[right];
    if (this.next[right] >= 0) this.prev[this.next[right]] = left;
  }
  *live(): Generator<string> {
    for (let i = this.text.length > 0 ? 0 : -1; i !== -1; i = this.next[i]) yield this.text[i];
  }
}

/**
 * SentencePiece BPE over `text` (spaces already escaped to `▁`): appends ids to `out`.
 * `byteId(b)` gives the `<0xXX>` token of a byte.
 */
export function spmMerge(
  text: string,
  tokenId: ReadonlyMap<string, number>,
  scores: Float32Array,
  byteId: (byte: number) => number,
  out: number[],
): void {
  const chars = Array.from(text);
  if (chars.length === 0) return;
  // UTF-8 length of each symbol: llama.cpp compares byte sizes to spot stale pairs.
  const sym = new Symbols(chars);
  const bytes = chars.map((c) => utf8Length(c.codePointAt(0)!));
  const heap = new PairHeap();
  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const joined = sym.text[left] + sym.text[right];
    const id = tokenId.get(joined);
    if (id === undefined) return;
    heap.push({ left, right, priority: scores[id], size: bytes[left] + bytes[right], text: "" });
  };
  for (let i = 1; i < chars.length; i++) tryAdd(i - 1, i);
  while (heap.size > 0) {
    const p = heap.pop();
    const l = sym.text[p.left], r = sym.text[p.right];
    if (l === "" || r === "" || bytes[p.left] + bytes[p.right] !== p.size) continue;
    sym.merge(p.left, p.right);
    bytes[p.left] += bytes[p.right];
    bytes[p.right] = 0;
    tryAdd(sym.prev[p.left], p.left);
    tryAdd(p.left, sym.next[p.left]);
  }
  for (const piece of sym.live()) {
    const id = tokenId.get(piece);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    for (const b of encoder.encode(piece)) out.push(byteId(b));
  }
}

const encoder = new TextEncoder();

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * Byte-level BPE over one pre-tokenized, byte-level-encoded `word`: returns its pieces.
 * `rank(left, right)` is the merge rank or -1.
 */
export function bpeMerge(word: string, rank: (left: string, right: string) => number): string[] {
  const chars = Array.from(word);
  if (chars.length <= 1) return chars;
  const sym = new Symbols(chars);
  const heap = new PairHeap();
  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const r = rank(sym.text[left], sym.text[right]);
    if (r < 0) return;
    heap.push({ left, right, priority: -r, size: 0, text: sym.text[left] + sym.text[right] });
  };
  for (let i = 1; i < chars.length; i++) tryAdd(i - 1, i);
  while (heap.size > 0) {
    const p = heap.pop();
    const l = sym.text[p.left], r = sym.text[p.right];
    if (l === "" || r === "" || l + r !== p.text) continue;
    sym.merge(p.left, p.right);
    tryAdd(sym.prev[p.left], p.left);
    tryAdd(p.left, sym.next[p.left]);
  }
  return [...sym.live()];
}
