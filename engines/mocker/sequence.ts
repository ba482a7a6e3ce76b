/**
 * One request inside the mocker's scheduler: its tokens (prompt, then generated), the KV
 * blocks it holds, and how far its KV is computed.
 *
 * @module
 */
import type { BlockHasher, BlockHashes } from "../../src/kv/block_hash.ts";

/** Where a sequence is in the scheduler. */
export type SequenceState = "waiting" | "running" | "finished";

/** A request being simulated. Only the scheduler changes its fields. */
export class Sequence {
  readonly id: string;
  /** Prompt tokens, then every generated token. */
  readonly tokens: number[];
  readonly promptLength: number;
  readonly maxTokens: number;
  state: SequenceState = "waiting";
  generated = 0;
  /** Tokens whose KV is computed (and held in `blocks`). */
  computed = 0;
  /** KV blocks held, in order. */
  blocks: number[] = [];
  /** Leading full blocks registered in (or taken from) the prefix cache. */
  committed = 0;
  /** True once the KV of every token is computed since the last (re)admission: it decodes. */
  prefilled = false;
  /** Prompt tokens served from the prefix cache at first admission. */
  cachedTokens: number | undefined;
  /** Times this sequence was preempted (its blocks freed, to be recomputed). */
  preemptions = 0;
  /** Chained hashes of the full blocks of `tokens` computed so far. */
  readonly hashes: BlockHashes[] = [];
  /** Produces the next token id (deterministic per request). */
  readonly nextToken: () => number;

  constructor(
    id: string,
    prompt: readonly number[],
    maxTokens: number,
    nextToken: () => number,
  ) {
    this.id = id;
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
    this.maxTokens = maxTokens;
    this.nextToken = nextToken;
  }

  /** Makes sure the hashes of the first `blocks` full blocks exist; returns them. */
  hashesUpTo(hasher: BlockHasher, blockSize: number, blocks: number): BlockHashes[] {
    for (let b = this.hashes.length; b < blocks; b++) {
      const tokens_hash = hasher.tokensHash(this.tokens, b * blockSize, (b + 1) * blockSize);
      const parent = b === 0 ? undefined : this.hashes[b - 1].block_hash;
      this.hashes.push({ block_hash: hasher.chain(parent, tokens_hash), tokens_hash });
    }
    return this.hashes;
  }
}
