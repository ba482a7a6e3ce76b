/**
 * The public entries: `deno.json` and `package.json` export the same sub-paths, the
 * `sluice/*` bare specifiers resolve to them under the runtime running the tests (Deno
 * through the import map, Bun through the package's own `exports`), and the engine
 * author's entry stays small.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const deno = JSON.parse(readFileSync("deno.json", "utf8"));
const pkg = JSON.parse(readFileSync("package.json", "utf8"));

describe("public entries", () => {
  it("deno.json exports, deno.json imports and package.json exports agree", () => {
    assert.deepEqual(deno.exports, pkg.exports);
    for (const [path, file] of Object.entries(deno.exports)) {
      const specifier = path === "." ? "sluice" : `sluice/${path.slice(2)}`;
      assert.equal(deno.imports[specifier], file, specifier);
    }
  });

  it("every sluice/* specifier resolves to its entry", async () => {
    for (const [path, file] of Object.entries(deno.exports as Record<string, string>)) {
      const specifier = path === "." ? "sluice" : `sluice/${path.slice(2)}`;
      const viaName = await import(specifier);
      const viaFile = await import(new URL(`../../${file}`, import.meta.url).href);
      assert.deepEqual(Object.keys(viaName).sort(), Object.keys(viaFile).sort(), specifier);
      assert.ok(Object.keys(viaName).length > 0, specifier);
    }
  });

  it("the engine author's entry has the contract's runtime values and little else", async () => {
    const sluice = await import("sluice");
    assert.deepEqual(Object.keys(sluice).sort(), [
      "BlockHasher",
      "ErrorCode",
      "ErrorKind",
      "KV_HASH_SEED",
      "SluiceError",
      "WORKER_FLAGS",
      "intFlag",
      "isSluiceError",
      "makeUsage",
      "parseEngineArgs",
      "parseJsonObject",
      "run",
      "toSluiceError",
      "workerConfigFromFlags",
    ]);
  });
});
