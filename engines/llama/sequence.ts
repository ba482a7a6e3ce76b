/**
 * One request's state in the scheduler: its tokens, KV blocks, progress through prefill, its
 * sampler and stop rules, and the channel its generated tokens flow through to `generate`.
 *
 * @module
 */
import type { TopLogprob } from "../../src/engine/generate_chunk.ts";
import type { TokenSampler } from "./token_sampler.ts";

/** What the scheduler hands to the request's stream. */
export type SequenceEvent =
  | { kind: "token"; token: number; logprob?: number; top?: TopLogprob[] }
  | { kind: "finish"; reason: "eos" | "stop" | "length"; stopToken?: number }
  | { kind: "error"; error: Error };

/** Stop rules of a sequence. */
export interface StopRules {
  /** Most tokens to generate. */
  readonly maxTokens: number;
  /** Ids that end generation with `"eos"` (empty when `ignore_eos`). */
  readonly eos: ReadonlySet<number>;
  /** Ids that end generation with `"stop"` (visible and hidden stop ids). */
  readonly stop: ReadonlySet<number>;
  /** EOS and stop ids are ignored before this many tokens. */
  readonly minTokens: number;
}

/** A scheduled sequence. */
export class Sequence {
  readonly id: string;
  /** Prompt then generated tokens. */
  readonly tokens: number[];
  readonly promptLength: number;
  readonly sampler: TokenSampler;
  readonly stop: StopRules;
  /** Physical KV blocks, in logical order. */
  blocks: number[] = [];
  /** Tokens whose KV is in the cache. */
  computed = 0;
  /** Prompt tokens served from the prefix cache. */
  cachedTokens = 0;
  /** Prefix-cache lookup done (on the current admission). */
  matched = false;
  /** Its prompt was counted in the prefix-cache hit rate (first admission only). */
  counted = false;
  /** Generated tokens (excluding a final stop/EOS token). */
  generated = 0;
  /** No longer scheduled (finished, cancelled or failed). */
  done = false;
  #queue: SequenceEvent[] = [];
  #wake?: () => void;

  constructor(
    id: string,
    prompt: readonly number[],
    sampler: TokenSampler,
    stop: StopRules,
  ) {
    this.id = id;
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
    this.sampler = sampler;
    this.stop = stop;
  }

  /** Tokens still to compute before the next sample. */
  pending(): number {
    return this.tokens.length - this.computed;
  }

  /** Queues an event for the stream. */
  push(event: SequenceEvent): void {
    this.#queue.push(event);
    this.#wake?.();
  }

  /** Waits until an event is queued or `signal` aborts; returns the queued events. */
  async take(signal: AbortSignal): Promise<SequenceEvent[]> {
    while (!this.#queue.length && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
    return this.#queue.splice(0);
  }
}
