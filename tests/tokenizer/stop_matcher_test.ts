import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStopMatcher } from "../../src/tokenizer/stop_matcher.ts";

/** What a stream with these stops must show: everything before the earliest match. */
function expected(text: string, stops: readonly string[]): { text: string; matched?: string } {
  let at = -1;
  let matched: string | undefined;
  for (const stop of stops) {
    const index = text.indexOf(stop);
    if (
      index !== -1 && (at === -1 || index < at || (index === at && stop.length > matched!.length))
    ) {
      at = index;
      matched = stop;
    }
  }
  return at === -1 ? { text } : { text: text.slice(0, at), matched };
}

/** Feeds `chunks` and returns the emitted text and the matched stop. */
function run(stops: readonly string[], chunks: readonly string[]) {
  const matcher = createStopMatcher(stops);
  let text = "";
  let matched: string | undefined;
  for (const chunk of chunks) {
    const result = matcher.push(chunk);
    text += result.emit;
    if (result.matched !== undefined) {
      assert.equal(matched, undefined, "matched reported twice");
      assert.ok(result.stopped);
      matched = result.matched;
    }
  }
  text += matcher.flush();
  assert.equal(matcher.stopped, matched !== undefined);
  return matched === undefined ? { text } : { text, matched };
}

describe("createStopMatcher", () => {
  it("stops at a stop string inside one chunk and never emits it", () => {
    const matcher = createStopMatcher(["STOP"]);
    assert.deepEqual(matcher.push("abcSTOPdef"), { emit: "abc", stopped: true, matched: "STOP" });
    assert.deepEqual(matcher.push("more"), { emit: "", stopped: true });
    assert.equal(matcher.flush(), "");
  });

  it("finds a stop string split across pushes at every split point", () => {
    const text = "The answer</answer> is hidden";
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const chunks = [text.slice(0, i), text.slice(i, j), text.slice(j)];
        assert.deepEqual(run(["</answer>"], chunks), { text: "The answer", matched: "</answer>" });
      }
    }
  });

  it("holds back a possible start and releases it once it diverges", () => {
    const matcher = createStopMatcher(["</answer>"]);
    assert.deepEqual(matcher.push("x </ans"), { emit: "x ", stopped: false });
    assert.deepEqual(matcher.push("wer"), { emit: "", stopped: false });
    assert.deepEqual(matcher.push("s!"), { emit: "</answers!", stopped: false });
  });

  it("returns the held tail on flush when the stream ends without a match", () => {
    const matcher = createStopMatcher(["\n\nUser:"]);
    assert.equal(matcher.push("bye\n\nUse").emit, "bye");
    assert.equal(matcher.flush(), "\n\nUse");
    assert.equal(matcher.stopped, false);
  });

  it("handles self-overlapping stop strings", () => {
    assert.deepEqual(run(["aab"], ["a", "a", "a", "b", "c"]), { text: "a", matched: "aab" });
    assert.deepEqual(run(["abab"], ["xab", "aba", "bx"]), { text: "x", matched: "abab" });
  });

  it("picks the earliest occurrence, then the longest stop", () => {
    assert.deepEqual(run(["world", "lo"], ["hello world"]), { text: "hel", matched: "lo" });
    assert.deepEqual(run(["ab", "abc"], ["xabc"]), { text: "x", matched: "abc" });
    assert.deepEqual(run(["cd", "b"], ["a", "bcd"]), { text: "a", matched: "b" });
  });

  it("works on multi-unit characters", () => {
    assert.deepEqual(run(["🛑"], ["go 🚀 ", "now 🛑 never"]), {
      text: "go 🚀 now ",
      matched: "🛑",
    });
    assert.deepEqual(run(["终止"], ["中文终", "止后"]), { text: "中文", matched: "终止" });
  });

  it("passes text through with no stop strings", () => {
    const matcher = createStopMatcher([]);
    assert.deepEqual(matcher.push("anything"), { emit: "anything", stopped: false });
    assert.equal(matcher.flush(), "");
  });

  it("rejects empty stop strings with a TypeError", () => {
    assert.throws(() => createStopMatcher(["ok", ""]), { name: "TypeError", message: /non-empty/ });
  });

  it("agrees with a whole-text reference on random streams", () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = "ab\n<>";
    for (let round = 0; round < 2000; round++) {
      const word = (length: number) =>
        Array.from({ length }, () => alphabet[random(alphabet.length)]).join("");
      const stops = Array.from({ length: 1 + random(3) }, () => word(1 + random(4)));
      const text = word(random(24));
      const chunks: string[] = [];
      for (let at = 0; at < text.length;) {
        const size = random(5);
        chunks.push(text.slice(at, at + size));
        at += size;
      }
      assert.deepEqual(
        run(stops, chunks),
        expected(text, stops),
        JSON.stringify({ stops, chunks }),
      );
    }
  });
});
