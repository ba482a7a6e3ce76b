// A GGUF file as a model-card entry: `openGgufFile` checks the file and describes its metadata
// prefix; the frontend's ModelResourceLoader reads exactly that prefix (ranged file read, or an
// HTTP Range request), verifies it and builds the GGUF tokenizer and chat template.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelResourceLoader } from "../../src/frontend/model_resources.ts";
import { openGgufFile } from "../../src/model/gguf/gguf_file.ts";
import { type ModelCard, ModelCardSchema } from "../../src/model_card/model_card.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { GgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { writeFixtureModel } from "../fixtures/model/fixture_model.ts";

let dir: string;
let path: string;
const runtime = currentRuntime();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-gguf-card-"));
  path = join(dir, "tiny.gguf");
  await writeFixtureModel(path, { vocab: "gpt2", dtype: "q8_0" });
});
after(() => rm(dir, { recursive: true, force: true }));

function card(gguf: ModelCard["files"]["gguf"]): ModelCard {
  return ModelCardSchema.parse({
    served_model_name: "m",
    model_name: "m",
    model_type: ["chat", "completions"],
    model_input: "Tokens",
    instance_id: "1",
    files: { gguf },
  });
}

describe("GGUF files in model cards", () => {
  it("describe only the metadata prefix, and the frontend reads only that", async () => {
    const info = await openGgufFile(path, runtime);
    assert.equal(info.cardFile.path, path);
    assert.ok(info.cardFile.size < info.fileSize / 4, "the prefix excludes the weights");
    assert.equal(info.cardFile.size, info.header.metadataEnd);
    const ranges: [number, number][] = [];
    const loader = new ModelResourceLoader({
      readFileRange: (p, start, end) => {
        ranges.push([start, end]);
        return runtime.readFileRange(p, start, end);
      },
      readFile: () => Promise.reject(new Error("must not read the whole file")),
    });
    const resources = await loader.get(card(info.cardFile));
    assert.deepEqual(ranges, [[0, info.cardFile.size]]);
    assert.ok(resources.tokenizer instanceof GgufTokenizer);
    const prompt = resources.chatTemplate!.render([{ role: "user", content: "hi" }], {
      addGenerationPrompt: true,
    });
    assert.equal(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    const ids = resources.tokenizer.encode(prompt, { addSpecialTokens: false });
    assert.equal(resources.tokenizer.decode(ids), prompt);
    const bytes = ids.flatMap((id) => [...resources.tokenBytes!(id)]);
    assert.deepEqual(bytes, [...new TextEncoder().encode(prompt)]);
    const names = resources.eosTokenIds.map((id) => resources.tokenizer.tokenString(id)).sort();
    assert.deepEqual(names, ["<|endoftext|>", "<|im_end|>"]);
  });

  it("are fetched with a Range request when named by URL, and verified", async () => {
    const info = await openGgufFile(path, runtime);
    const bytes = new Uint8Array(await readFile(path));
    const url = "http://models.invalid/tiny.gguf";
    const seen: (string | null)[] = [];
    const fetchFile = (_input: unknown, init?: RequestInit) => {
      const range = new Headers(init?.headers).get("range");
      seen.push(range);
      return Promise.resolve(new Response(bytes.slice(0, info.cardFile.size), { status: 206 }));
    };
    const loader = new ModelResourceLoader({ fetch: fetchFile as typeof fetch });
    const resources = await loader.get(card({ ...info.cardFile, path: undefined, url }));
    assert.deepEqual(seen, [`bytes=0-${info.cardFile.size - 1}`]);
    assert.ok(resources.tokenizer.vocabSize > 300);
    const tampered = new ModelResourceLoader({ fetch: fetchFile as typeof fetch });
    await assert.rejects(
      tampered.get(card({ ...info.cardFile, path: undefined, url, sha256: "0".repeat(64) })),
      (e: Error) => /SHA-256/.test(e.message),
    );
  });

  it("are refused when the file is truncated or not GGUF", async () => {
    const bytes = await readFile(path);
    const cut = join(dir, "cut.gguf");
    await writeFile(cut, bytes.subarray(0, 1000));
    await assert.rejects(openGgufFile(cut, runtime), /ends inside its header|truncated/);
    await writeFile(cut, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(openGgufFile(cut, runtime), /truncated download/);
    await writeFile(cut, new TextEncoder().encode("not a model"));
    await assert.rejects(openGgufFile(cut, runtime), /Not a GGUF file/);
    await assert.rejects(openGgufFile(join(dir, "missing.gguf"), runtime), /Cannot open/);
  });
});
