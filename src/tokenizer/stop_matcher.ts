/**
 * Stop strings over streamed text. A stop string can arrive split across any number of chunks,
 * so the matcher holds back the longest tail of the text that could still become one and
 * releases it once it cannot (or at the end of the stream). The stop string itself is never
 * emitted, matching OpenAI's `stop` semantics.
 *
 * @module
 */

/** What {@linkcode StopMatcher.push} returns. */
export interface StopMatchResult {
  /** Text safe to send to the client now (possibly `""`). */
  emit: string;
  /** `true` once a stop string matched: the caller MUST end the stream (finish reason "stop"). */
  stopped: boolean;
  /** The stop string that matched, when `stopped` became true on this push. */
  matched?: string;
}

/** Applies stop strings to a text stream; see {@linkcode createStopMatcher}. */
export interface StopMatcher {
  /** Whether a stop string has matched; later pushes emit nothing. */
  readonly stopped: boolean;
  /**
   * Adds streamed text. Emits everything before the earliest stop-string occurrence (ties go
   * to the longest stop string) and nothing after it; without a match, emits all but the
   * longest tail that is a proper prefix of some stop string.
   */
  push(text: string): StopMatchResult;
  /** Ends the stream without a match: returns the held-back tail (`""` once stopped). */
  flush(): string;
}

/**
 * Creates a stop matcher. Throws a `TypeError` for an empty stop string, which would match
 * before any text.
 *
 * @example
 * ```ts
 * import { createStopMatcher } from "./stop_matcher.ts";
 * const matcher = createStopMatcher(["</answer>"]);
 * console.assert(matcher.push("42</ans").emit === "42"); // "</ans" held back
 * const end = matcher.push("wer> ignored");
 * console.assert(end.emit === "" && end.stopped && end.matched === "</answer>");
 * ```
 */
export function createStopMatcher(stops: readonly string[]): StopMatcher {
  for (const stop of stops) {
    if (typeof stop !== "string" || stop.length === 0) {
      throw new TypeError(
        `Cannot create stop matcher: stop strings must be non-empty strings, got ${
          JSON.stringify(stop)
        }`,
      );
    }
  }
  return new TailHoldingStopMatcher([...new Set(stops)]);
}

class TailHoldingStopMatcher implements StopMatcher {
  #stops: readonly string[];
  #longest: number;
  #held = "";
  #stopped = false;

  constructor(stops: readonly string[]) {
    this.#stops = stops;
    this.#longest = stops.reduce((max, stop) => Math.max(max, stop.length), 0);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  push(text: string): StopMatchResult {
    if (this.#stopped) return { emit: "", stopped: true };
    if (this.#stops.length === 0) return { emit: text, stopped: false };
    const buffer = this.#held + text;
    let at = -1;
    let matched = "";
    for (const stop of this.#stops) {
      // Only a match that ends inside the new text can be new: the held tail had none.
      const from = Math.max(0, this.#held.length - stop.length + 1);
      const index = buffer.indexOf(stop, from);
      if (index === -1) continue;
      if (at === -1 || index < at || (index === at && stop.length > matched.length)) {
        at = index;
        matched = stop;
      }
    }
    if (at !== -1) {
      this.#stopped = true;
      this.#held = "";
      return { emit: buffer.slice(0, at), stopped: true, matched };
    }
    const hold = this.#partialMatchLength(buffer);
    this.#held = buffer.slice(buffer.length - hold);
    return { emit: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  flush(): string {
    const out = this.#stopped ? "" : this.#held;
    this.#held = "";
    return out;
  }

  /** Length of the longest suffix of `buffer` that is a proper prefix of some stop string. */
  #partialMatchLength(buffer: string): number {
    for (let length = Math.min(buffer.length, this.#longest - 1); length > 0; length--) {
      const tail = buffer.slice(buffer.length - length);
      for (const stop of this.#stops) {
        if (stop.length > length && stop.startsWith(tail)) return length;
      }
    }
    return 0;
  }
}
